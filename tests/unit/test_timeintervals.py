"""Time intervals: Alertmanager's syntax and semantics, and muting at flush time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tocsin.api.v2 import gettable
from tocsin.clock import FakeClock
from tocsin.config import ConfigError
from tocsin.configtypes import dec_hook
from tocsin.testing import NotificationRecorder, advance, make_config, post, running
from tocsin.timeintervals import NamedTimeInterval
from tocsin.validate import decode

UTC = ZoneInfo("UTC")


def interval(**spec) -> NamedTimeInterval:
    value, problems = decode({"name": "t", "time_intervals": [spec]}, NamedTimeInterval,
                             dec_hook=dec_hook)
    assert problems == [], problems
    return value


def problems(**spec) -> list[str]:
    _, found = decode({"name": "t", "time_intervals": [spec]}, NamedTimeInterval, dec_hook=dec_hook)
    return [f"{p.path}: {p.message}" for p in found]


def ts(*args, tz=UTC) -> float:
    return datetime(*args, tzinfo=tz).timestamp()


@pytest.mark.parametrize(("spec", "fragment"), [
    ({"weekdays": ["funday"]}, "weekdays[0]: 'funday' is not a valid weekday"),
    ({"weekdays": ["saturday:sunday"]}, "weekdays[0]: start day cannot be after end day"),
    ({"weekdays": ["monday:tuesday:friday"]}, "invalid format"),
    ({"days_of_month": ["0"]}, "0 is not a valid day of the month"),
    ({"days_of_month": ["32"]}, "out of range"),
    ({"days_of_month": ["-3:5"]}, "end day must be negative if start day is negative"),
    ({"days_of_month": ["10:2"]}, "always before start day"),
    ({"months": ["smarch"]}, "not a valid month"),
    ({"months": ["1x"]}, "not a valid month"),
    ({"months": ["may:january"]}, "before start month"),
    ({"years": ["2027:2026"]}, "before start year"),
    ({"times": [{"start_time": "10:00", "end_time": "09:00"}]}, "start time must be before end time"),
    ({"times": [{"start_time": "9:00", "end_time": "10:00"}]}, "expected HH:MM"),
    ({"times": [{"start_time": "00:00", "end_time": "24:01"}]}, "expected HH:MM"),
    ({"times": [{"start_time": "00:00"}]}, "end_time: missing required field"),
    ({"location": "Mars/Olympus"}, "unknown time zone"),
])
def test_invalid_specs_name_the_field(spec, fragment):
    found = problems(**spec)
    assert any(fragment in p for p in found), found
    assert all(p.startswith("time_intervals[0].") for p in found)


def test_times_end_is_exclusive_and_24_00_allowed():
    t = interval(times=[{"start_time": "09:00", "end_time": "17:00"}])
    assert not t.contains(ts(2026, 3, 2, 8, 59))
    assert t.contains(ts(2026, 3, 2, 9, 0)) and t.contains(ts(2026, 3, 2, 16, 59))
    assert not t.contains(ts(2026, 3, 2, 17, 0))
    allday = interval(times=[{"start_time": "00:00", "end_time": "24:00"}])
    assert allday.contains(ts(2026, 3, 2, 23, 59, 59))


def test_weekdays_months_years_are_inclusive_ranges_and_case_insensitive():
    t = interval(weekdays=["Monday:Wednesday", "saturday"], months=["March:april", "12"],
                 years=["2026:2027"])
    assert t.contains(ts(2026, 3, 2))       # Monday
    assert t.contains(ts(2026, 3, 4))       # Wednesday
    assert not t.contains(ts(2026, 3, 5))   # Thursday
    assert t.contains(ts(2026, 3, 7))       # Saturday
    assert not t.contains(ts(2026, 3, 8))   # Sunday
    assert not t.contains(ts(2026, 5, 4))   # a Monday in May
    assert t.contains(ts(2027, 12, 6))      # a Monday in December 2027
    assert not t.contains(ts(2028, 3, 6))


def test_month_numbers_outside_1_12_load_but_never_match_like_alertmanager():
    t = interval(months=["13"])
    assert not any(t.contains(ts(2026, m, 1)) for m in range(1, 13))


def test_negative_days_count_from_the_months_end():
    last = interval(days_of_month=["-1"])
    assert last.contains(ts(2026, 2, 28)) and not last.contains(ts(2026, 2, 27))
    assert last.contains(ts(2028, 2, 29)) and not last.contains(ts(2028, 2, 28))  # leap year
    assert last.contains(ts(2026, 1, 31)) and last.contains(ts(2026, 4, 30))
    last3 = interval(days_of_month=["-3:-1"])
    assert [d for d in range(1, 32) if last3.contains(ts(2026, 1, d))] == [29, 30, 31]
    mixed = interval(days_of_month=["25:-1"])
    assert [d for d in range(1, 29) if mixed.contains(ts(2026, 2, d))] == [25, 26, 27, 28]
    beyond = interval(days_of_month=["30:31"])  # February has no day 30: never inside
    assert not any(beyond.contains(ts(2026, 2, d)) for d in range(1, 29))


def test_location_is_used_for_every_field():
    berlin = ZoneInfo("Europe/Berlin")
    t = interval(weekdays=["monday"], times=[{"start_time": "00:00", "end_time": "01:00"}],
                 location="Europe/Berlin")
    # Monday 00:30 in Berlin is Sunday 23:30 UTC.
    assert t.contains(ts(2026, 1, 5, 0, 30, tz=berlin))
    assert t.contains(ts(2026, 1, 4, 23, 30))
    assert not interval(weekdays=["monday"]).contains(ts(2026, 1, 4, 23, 30))


def test_dst_transitions_use_local_wall_clock_time():
    berlin = ZoneInfo("Europe/Berlin")
    t = interval(times=[{"start_time": "02:00", "end_time": "03:00"}], location="Europe/Berlin")
    # 2026-03-29: clocks jump from 02:00 to 03:00 local; no instant falls in 02:00-03:00.
    spring = ts(2026, 3, 29, 0, 0)  # 01:00 local (CET)
    assert not any(t.contains(spring + m * 60) for m in range(0, 180))
    # 2026-10-25: 02:00-03:00 local happens twice; both hours are inside.
    fall = ts(2026, 10, 25, 0, 0)  # 02:00 CEST
    inside = [m for m in range(0, 180) if t.contains(fall + m * 60)]
    assert inside == list(range(0, 120))
    three_am = datetime(2026, 10, 25, 3, 0, tzinfo=berlin).timestamp()
    assert not t.contains(three_am)


BASE = """
route:
  receiver: r
  group_by: [alertname]
  group_wait: 10s
  group_interval: 1m
  routes:
{routes}
receivers:
  - name: r
time_intervals:
  - name: office
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{{start_time: '09:00', end_time: '17:00'}}]
mute_time_intervals:
  - name: lunch
    time_intervals:
      - times: [{{start_time: '12:00', end_time: '13:00'}}]
"""


def test_config_references_and_uniqueness():
    cfg = make_config(BASE.format(routes="    - matchers: [a=b]\n      mute_time_intervals: [office, lunch]"))
    assert set(cfg.time_intervals) == {"office", "lunch"}
    with pytest.raises(ConfigError) as err:
        make_config(BASE.format(routes="    - matchers: [a=b]\n      active_time_intervals: [nope]"))
    assert [p.path for p in err.value.problems] == ["route.routes[0].active_time_intervals[0]"]
    dup = BASE.format(routes="    - receiver: r").replace("name: lunch", "name: office")
    with pytest.raises(ConfigError, match="'office' is not unique"):
        make_config(dup)
    with pytest.raises(ConfigError, match="root route must not have time intervals"):
        make_config(BASE.format(routes="    - receiver: r").replace(
            "  group_wait: 10s", "  group_wait: 10s\n  mute_time_intervals: [office]"))


async def test_mute_and_active_intervals_at_flush_time(tmp_path):
    # Monday 2026-03-02 08:59:50 UTC.
    clock = FakeClock(start=ts(2026, 3, 2, 8, 59, 50))
    rec = NotificationRecorder()
    routes = """    - matchers: [kind=muted]
      mute_time_intervals: [office]
      routes:
        - matchers: [child=yes]
    - matchers: [kind=active]
      active_time_intervals: [office]"""
    async with running(BASE.format(routes=routes), tmp_path, plugins=[rec], clock=clock) as rt:
        await post(rt, {"labels": {"alertname": "M", "kind": "muted"}},
                   {"labels": {"alertname": "C", "kind": "muted", "child": "yes"}},
                   {"labels": {"alertname": "A", "kind": "active"}})
        await advance(rt, 10)  # 09:00:00: office hours begin
        sent = {n.group_labels["alertname"] for n in rec.notifications}
        assert sent == {"A", "C"}  # muted route silent; intervals are not inherited by children
        fp = next(a.fingerprint for a in rt.alerts if a.labels["alertname"] == "M")
        # Time muting does not show in the API status, as in Alertmanager 0.25.
        assert gettable(rt, rt.alerts.get(fp), rt.clock.now())["status"]["state"] == "active"
        rec.notifications.clear()
        await advance(rt, 8 * 3600)  # 17:00:10: office hours are over
        sent = {n.group_labels["alertname"] for n in rec.notifications}
        assert "M" in sent and "A" not in sent
