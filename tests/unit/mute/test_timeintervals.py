"""Time intervals: Alertmanager 0.25's syntax, validation and ``contains`` semantics.

Muting at flush time is in test_time_muting.py. Every parsing case goes through
the real config loader (``make_config``), so YAML-level behaviour counts too:
Alertmanager reads every time interval value as text.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tocsin.config.document import ConfigError
from tocsin.mute.timeintervals import (
    DayOfMonthRange,
    MonthRange,
    NamedTimeInterval,
    TimeInterval,
    WeekdayRange,
    YearRange,
)
from tocsin.testing import make_config

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")

SPEC_PATH = "time_intervals[0].time_intervals[0]"

CONFIG = """
route:
  receiver: r
  routes:
    - matchers: [a=b]
      mute_time_intervals: [t]
receivers:
  - name: r
time_intervals:
  - name: t
    time_intervals:
      - {{{spec}}}
"""


def load(spec: str) -> TimeInterval:
    """The one spec of interval ``t``, given as the content of a YAML flow mapping."""
    cfg = make_config(CONFIG.format(spec=spec))
    specs = cfg.time_intervals["t"].time_intervals
    assert specs is not None
    assert len(specs) == 1
    return specs[0]


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as err:
        make_config(text)
    return [(p.path, p.message) for p in err.value.problems]


def ts(*args: int, tz: ZoneInfo = UTC) -> float:
    return datetime(*args, tzinfo=tz).timestamp()


def days(spec: TimeInterval, year: int, month: int, tz: ZoneInfo = UTC) -> list[int]:
    """The days of a month whose noon (local to ``tz``) the spec contains."""
    out = []
    for d in range(1, 32):
        try:
            instant = ts(year, month, d, 12, tz=tz)
        except ValueError:  # no such day
            break
        if spec.contains(instant):
            out.append(d)
    return out


# -- parsing: valid --------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "field", "expected"), [
    ("weekdays: ['monday:friday']", "weekdays", [WeekdayRange(1, 5)]),
    ("weekdays: [Saturday, SUNDAY]", "weekdays", [WeekdayRange(6, 6), WeekdayRange(0, 0)]),
    ("weekdays: ['Sunday:saturday']", "weekdays", [WeekdayRange(0, 6)]),
    ("weekdays: ['wednesday:WEDNESDAY']", "weekdays", [WeekdayRange(3, 3)]),
    ("days_of_month: ['1:7', '-1']", "days_of_month", [DayOfMonthRange(1, 7), DayOfMonthRange(-1, -1)]),
    ("days_of_month: ['-3:-1']", "days_of_month", [DayOfMonthRange(-3, -1)]),
    ("days_of_month: ['1:-1']", "days_of_month", [DayOfMonthRange(1, -1)]),
    ("days_of_month: ['27:-1']", "days_of_month", [DayOfMonthRange(27, -1)]),
    ("days_of_month: ['-31', '31']", "days_of_month", [DayOfMonthRange(-31, -31), DayOfMonthRange(31, 31)]),
    ("days_of_month: [1, 15]", "days_of_month", [DayOfMonthRange(1, 1), DayOfMonthRange(15, 15)]),
    ("days_of_month: ['+5']", "days_of_month", [DayOfMonthRange(5, 5)]),
    # YAML 1.1 would read these as base-60 and octal integers; Alertmanager reads the text.
    ("days_of_month: [1:5]", "days_of_month", [DayOfMonthRange(1, 5)]),
    ("days_of_month: [017]", "days_of_month", [DayOfMonthRange(17, 17)]),
    ("months: ['january:march', '12']", "months", [MonthRange(1, 3), MonthRange(12, 12)]),
    ("months: [May, 'FEBRUARY:4']", "months", [MonthRange(5, 5), MonthRange(2, 4)]),
    ("months: ['1:12']", "months", [MonthRange(1, 12)]),
    # Alertmanager takes any number as a month; 13 simply never matches.
    ("months: ['13', '0']", "months", [MonthRange(13, 13), MonthRange(0, 0)]),
    ("years: ['2026:2030', 2031]", "years", [YearRange(2026, 2030), YearRange(2031, 2031)]),
    ("years: ['2026']", "years", [YearRange(2026, 2026)]),
])
def test_valid_ranges(spec, field, expected):
    assert getattr(load(spec), field) == expected


@pytest.mark.parametrize(("spec", "minutes"), [
    ("times: [{start_time: '09:00', end_time: '17:00'}]", [(540, 1020)]),
    # Alertmanager's documented example, unquoted (YAML 1.1 would read 17:00 as 1020).
    ("times: [{start_time: 09:00, end_time: 17:00}]", [(540, 1020)]),
    ("times: [{start_time: 00:00, end_time: 24:00}]", [(0, 1440)]),
    ("times: [{start_time: '23:59', end_time: '24:00'}, {start_time: '00:00', end_time: '00:01'}]",
     [(1439, 1440), (0, 1)]),
])
def test_valid_times(spec, minutes):
    got = load(spec).times
    assert got is not None
    assert [(r.start_minute, r.end_minute) for r in got] == minutes


@pytest.mark.parametrize(("text", "expected"), [
    ("Europe/Berlin", "Europe/Berlin"),
    ("America/New_York", "America/New_York"),
    ("EST5EDT", "EST5EDT"),
    ("UTC", "UTC"),
    ("''", "UTC"),  # Go's time.LoadLocation("") is UTC
    ("Local", "Local"),
])
def test_valid_locations(text, expected):
    assert load(f"location: {text}").location == expected


def test_no_location_and_null_fields_mean_unset():
    spec = load("location: ~, weekdays: ~")
    assert spec.location is None
    assert spec.weekdays is None
    assert load("") == TimeInterval()


def test_both_sections_define_intervals_and_a_null_list_is_no_specs():
    cfg = make_config("""
route:
  receiver: r
  routes:
    - matchers: [a=b]
      mute_time_intervals: [old, new]
      active_time_intervals: [empty]
receivers: [{name: r}]
mute_time_intervals:
  - name: old
    time_intervals: [{weekdays: [monday]}]
time_intervals:
  - name: new
    time_intervals: [{weekdays: [tuesday]}, {months: [may]}]
  - name: empty
    time_intervals:
""")
    assert set(cfg.time_intervals) == {"old", "new", "empty"}
    assert all(isinstance(v, NamedTimeInterval) for v in cfg.time_intervals.values())
    assert cfg.time_intervals["new"].time_intervals == [
        TimeInterval(weekdays=[WeekdayRange(2, 2)]), TimeInterval(months=[MonthRange(5, 5)])]
    assert cfg.time_intervals["empty"].time_intervals == []
    assert not cfg.time_intervals["empty"].contains(ts(2026, 3, 2))


# -- parsing: invalid ------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "field", "fragment"), [
    ("weekdays: ['funday']", "weekdays[0]", "'funday' is not a valid weekday"),
    ("weekdays: [monday, mon]", "weekdays[1]", "'mon' is not a valid weekday"),
    ("weekdays: [1]", "weekdays[0]", "not a valid weekday"),
    ("weekdays: ['saturday:sunday']", "weekdays[0]", "start day cannot be after end day"),
    ("weekdays: ['friday:monday']", "weekdays[0]", "start day cannot be after end day"),
    ("weekdays: ['monday:tuesday:friday']", "weekdays[0]", "invalid format"),
    ("weekdays: ['monday:']", "weekdays[0]", "not a valid weekday"),
    ("weekdays: monday", "weekdays", "expected a list"),
    ("days_of_month: ['0']", "days_of_month[0]", "0 is not a valid day of the month: out of range"),
    ("days_of_month: ['32']", "days_of_month[0]", "out of range"),
    ("days_of_month: ['-32']", "days_of_month[0]", "out of range"),
    ("days_of_month: ['1:0']", "days_of_month[0]", "out of range"),
    ("days_of_month: ['-3:5']", "days_of_month[0]", "end day must be negative if start day is negative"),
    ("days_of_month: ['-1:1']", "days_of_month[0]", "end day must be negative"),
    ("days_of_month: ['10:2']", "days_of_month[0]", "end day 2 is always before start day 10"),
    ("days_of_month: ['-1:-3']", "days_of_month[0]", "always before start day"),
    # With negative ends the check assumes a 28-day month: 28 + (-1) = 27 < 28.
    ("days_of_month: ['28:-1']", "days_of_month[0]", "end day -1 is always before start day 28"),
    ("days_of_month: ['1.5']", "days_of_month[0]", "not a valid day of the month"),
    ("days_of_month: [' 5']", "days_of_month[0]", "not a valid day of the month"),
    ("days_of_month: ['1_0']", "days_of_month[0]", "not a valid day of the month"),
    ("days_of_month: [0x1F]", "days_of_month[0]", "not a valid day of the month"),
    ("days_of_month: ['first']", "days_of_month[0]", "not a valid day of the month"),
    ("months: ['smarch']", "months[0]", "'smarch' is not a valid month"),
    ("months: ['jan']", "months[0]", "not a valid month"),
    ("months: ['1x']", "months[0]", "not a valid month"),
    ("months: ['may:january']", "months[0]", "before start month"),
    ("months: ['12:1']", "months[0]", "before start month"),
    ("years: ['2027:2026']", "years[0]", "end year 2026 is before start year 2027"),
    ("years: ['next']", "years[0]", "not a valid year"),
    ("years: ['2026: 2030']", "years[0]", "not a valid year"),
    ("years: ['99999999999999999999']", "years[0]", "not a valid year"),  # beyond Go's int
])
def test_invalid_ranges_name_the_element(spec, field, fragment):
    found = problems(CONFIG.format(spec=spec))
    assert len(found) == 1, found
    path, message = found[0]
    assert path == f"{SPEC_PATH}.{field}"
    assert fragment in message


@pytest.mark.parametrize(("times", "field", "fragment"), [
    ("{start_time: '10:00', end_time: '09:00'}", "end_time", "start time must be before end time"),
    ("{start_time: '10:00', end_time: '10:00'}", "end_time", "start time must be before end time"),
    ("{start_time: '24:00', end_time: '24:00'}", "end_time", "start time must be before end time"),
    ("{start_time: '9:00', end_time: '10:00'}", "start_time", "expected HH:MM"),
    ("{start_time: 9:30, end_time: '10:00'}", "start_time", "expected HH:MM"),
    ("{start_time: '00:00', end_time: '24:01'}", "end_time", "expected HH:MM"),
    ("{start_time: '09:60', end_time: '10:00'}", "start_time", "expected HH:MM"),
    ("{start_time: '25:00', end_time: '26:00'}", "start_time", "expected HH:MM"),
    ("{start_time: '0900', end_time: '1000'}", "start_time", "expected HH:MM"),
    ("{start_time: '09:00:00', end_time: '10:00'}", "start_time", "expected HH:MM"),
    ("{start_time: '9:00am', end_time: '10:00'}", "start_time", "expected HH:MM"),
    ("{start_time: \"09:00\\n\", end_time: '10:00'}", "start_time", "expected HH:MM"),
    ("{start_time: '', end_time: '10:00'}", "start_time", "expected HH:MM"),
    ("{start_time: '00:00'}", "end_time", "missing required field"),
    ("{start_time: '00:00', end_time: '01:00', until: '02:00'}", "until", "unknown field"),
])
def test_invalid_times_name_the_field(times, field, fragment):
    found = problems(CONFIG.format(spec=f"times: [{times}]"))
    assert [path for path, _ in found] == [f"{SPEC_PATH}.times[0].{field}"], found
    assert fragment in found[0][1]


@pytest.mark.parametrize("location", [
    "Mars/Olympus", "utc", "europe/berlin", "Europe/Berlin ", "../etc/passwd",
    "/usr/share/zoneinfo/UTC", "zone.tab", "5",
])
def test_unknown_time_zones_are_rejected(location):
    found = problems(CONFIG.format(spec=f"location: '{location}'"))
    assert [path for path, _ in found] == [f"{SPEC_PATH}.location"], found


def test_unknown_spec_field_and_every_problem_at_once():
    found = problems(CONFIG.format(
        spec="weekday: [monday], months: [smarch], years: ['2027:2026']"))
    paths = sorted(path for path, _ in found)
    assert paths == [f"{SPEC_PATH}.months[0]", f"{SPEC_PATH}.weekday", f"{SPEC_PATH}.years[0]"]
    assert any("did you mean 'weekdays'" in m for _, m in found)


def test_problem_lines_point_at_the_bad_value():
    text = CONFIG.format(spec="weekdays: ['monday:friday']") + \
        "      - times: [{start_time: '10:00', end_time: '09:00'}]\n"
    with pytest.raises(ConfigError) as err:
        make_config(text)
    [p] = err.value.problems
    assert p.path == "time_intervals[0].time_intervals[1].times[0].end_time"
    assert p.line == text.splitlines().index("      - times: [{start_time: '10:00', end_time: '09:00'}]") + 1


INTERVALS = """
route:
  receiver: r
  routes:
{routes}
receivers: [{{name: r}}]
{sections}
"""


def cfg_text(routes: str = "    - receiver: r", sections: str = "") -> str:
    return INTERVALS.format(routes=routes, sections=sections)


def test_names_must_be_given():
    assert problems(cfg_text(sections="time_intervals:\n  - name: ''")) == [
        ("time_intervals[0].name", "missing name in time interval")]
    assert problems(cfg_text(sections="time_intervals:\n  - time_intervals: [{}]")) == [
        ("time_intervals[0].name", "missing required field")]


@pytest.mark.parametrize(("sections", "path"), [
    ("time_intervals:\n  - name: a\n  - name: a", "time_intervals[1].name"),
    ("mute_time_intervals:\n  - name: a\n  - name: a", "mute_time_intervals[1].name"),
    ("mute_time_intervals:\n  - name: a\ntime_intervals:\n  - name: b\n  - name: a",
     "time_intervals[1].name"),
    # The order in the file does not matter: the older section is read first.
    ("time_intervals:\n  - name: a\nmute_time_intervals:\n  - name: a", "time_intervals[0].name"),
])
def test_duplicate_names_across_both_sections(sections, path):
    assert problems(cfg_text(sections=sections)) == [(path, "time interval 'a' is not unique")]


@pytest.mark.parametrize(("routes", "path"), [
    ("    - mute_time_intervals: [nope]", "route.routes[0].mute_time_intervals[0]"),
    ("    - active_time_intervals: [a, nope]", "route.routes[0].active_time_intervals[1]"),
    ("    - routes:\n        - mute_time_intervals: [a]\n        - mute_time_intervals: [A]",
     "route.routes[0].routes[1].mute_time_intervals[0]"),
])
def test_routes_may_name_only_defined_intervals(routes, path):
    text = cfg_text(routes=routes, sections="time_intervals:\n  - name: a")
    found = problems(text)
    assert [p for p, _ in found] == [path]
    assert "undefined time interval" in found[0][1]


def test_a_route_may_name_an_interval_of_either_section():
    cfg = make_config(cfg_text(
        routes="    - mute_time_intervals: [old]\n      active_time_intervals: [new]",
        sections="mute_time_intervals:\n  - name: old\ntime_intervals:\n  - name: new"))
    [child] = cfg.route.routes
    assert child.opts.mute_time_intervals == ("old",)
    assert child.opts.active_time_intervals == ("new",)


@pytest.mark.parametrize("key", ["mute_time_intervals", "active_time_intervals"])
def test_the_root_route_may_not_have_time_intervals(key):
    text = cfg_text(sections="time_intervals:\n  - name: a").replace(
        "  receiver: r\n  routes:", f"  receiver: r\n  {key}: [a]\n  routes:")
    assert problems(text) == [("route", "the root route must not have time intervals")]


# -- contains: fields ------------------------------------------------------------------


def test_every_set_field_must_contain_the_instant():
    spec = load("weekdays: [monday], times: [{start_time: '09:00', end_time: '17:00'}], "
                "days_of_month: ['1:7'], months: [march], years: ['2026']")
    assert spec.contains(ts(2026, 3, 2, 10))          # Monday 2 March 2026, 10:00
    assert not spec.contains(ts(2026, 3, 2, 8))       # times
    assert not spec.contains(ts(2026, 3, 3, 10))      # weekday (Tuesday)
    assert not spec.contains(ts(2026, 3, 9, 10))      # day of month (a Monday, the 9th)
    assert not spec.contains(ts(2026, 6, 1, 10))      # month (a Monday, the 1st)
    assert not spec.contains(ts(2027, 3, 1, 10))      # year (a Monday, the 1st)


def test_a_spec_setting_nothing_contains_everything_and_specs_are_alternatives():
    assert load("").contains(ts(1999, 12, 31, 23, 59, 59))
    cfg = make_config(CONFIG.format(spec="weekdays: [saturday]") + "      - months: [december]\n")
    t = cfg.time_intervals["t"]
    assert t.contains(ts(2026, 3, 7))        # a Saturday in March
    assert t.contains(ts(2026, 12, 2))       # a Wednesday in December
    assert not t.contains(ts(2026, 3, 4))    # a Wednesday in March


def test_times_start_inclusive_end_exclusive():
    spec = load("times: [{start_time: '09:00', end_time: '17:00'}, {start_time: '20:30', end_time: '21:00'}]")
    assert not spec.contains(ts(2026, 3, 2, 8, 59, 59))
    assert spec.contains(ts(2026, 3, 2, 9, 0))
    assert spec.contains(ts(2026, 3, 2, 16, 59, 59) + 0.999)
    assert not spec.contains(ts(2026, 3, 2, 17, 0))
    assert not spec.contains(ts(2026, 3, 2, 20, 29, 59))
    assert spec.contains(ts(2026, 3, 2, 20, 30))
    assert not spec.contains(ts(2026, 3, 2, 21, 0))


def test_times_up_to_24_00_reach_the_end_of_the_day():
    spec = load("times: [{start_time: '23:00', end_time: '24:00'}]")
    assert spec.contains(ts(2026, 3, 2, 23, 59, 59))
    assert not spec.contains(ts(2026, 3, 3, 0, 0))
    assert not spec.contains(ts(2026, 3, 2, 22, 59, 59))
    allday = load("times: [{start_time: '00:00', end_time: '24:00'}]")
    assert all(allday.contains(ts(2026, 3, 2, h, 30)) for h in range(24))


def test_weekdays_are_inclusive_with_sunday_first():
    # 2026-03-01 is a Sunday.
    weekdays = load("weekdays: ['monday:wednesday', saturday]")
    assert [d for d in days(weekdays, 2026, 3) if d <= 7] == [2, 3, 4, 7]
    assert days(load("weekdays: ['sunday:saturday']"), 2026, 3) == list(range(1, 32))
    assert days(load("weekdays: [Sunday]"), 2026, 3) == [1, 8, 15, 22, 29]
    assert days(load("weekdays: [SATURDAY]"), 2026, 3) == [7, 14, 21, 28]


def test_months_and_years_are_inclusive():
    months = load("months: ['march:april', 'November:12']")
    assert [m for m in range(1, 13) if months.contains(ts(2026, m, 15))] == [3, 4, 11, 12]
    never = load("months: ['13', '0']")
    assert not any(never.contains(ts(2026, m, 15)) for m in range(1, 13))
    years = load("years: ['2026:2027', '2030']")
    assert [y for y in range(2025, 2032) if years.contains(ts(y, 6, 1))] == [2026, 2027, 2030]


def test_days_of_month_positive_ranges_are_inclusive():
    assert days(load("days_of_month: ['1:7', '15']"), 2026, 4) == [1, 2, 3, 4, 5, 6, 7, 15]
    assert days(load("days_of_month: ['31']"), 2026, 1) == [31]


@pytest.mark.parametrize(("year", "month", "last"), [
    (2026, 2, 28),   # February, not a leap year
    (2028, 2, 29),   # February, leap year
    (2100, 2, 28),   # a century, not a leap year
    (2000, 2, 29),   # divisible by 400: a leap year
    (2026, 1, 31),
    (2026, 4, 30),
    (2026, 12, 31),
])
def test_negative_days_count_from_the_months_end(year, month, last):
    assert days(load("days_of_month: ['-1']"), year, month) == [last]
    assert days(load("days_of_month: ['-3:-1']"), year, month) == [last - 2, last - 1, last]
    assert days(load("days_of_month: ['-7:-7']"), year, month) == [last - 6]
    assert days(load("days_of_month: ['25:-1']"), year, month) == list(range(25, last + 1))
    assert days(load("days_of_month: ['1:-1']"), year, month) == list(range(1, last + 1))


def test_days_beyond_the_months_length():
    # A range beginning after the month's last day never matches in that month ...
    assert days(load("days_of_month: ['30:31']"), 2026, 2) == []
    assert days(load("days_of_month: ['30:31']"), 2028, 2) == []
    assert days(load("days_of_month: ['31']"), 2026, 4) == []
    assert days(load("days_of_month: ['31']"), 2026, 5) == [31]
    # ... one ending after it is cut at the month's end.
    assert days(load("days_of_month: ['28:31']"), 2026, 2) == [28]
    assert days(load("days_of_month: ['28:31']"), 2028, 2) == [28, 29]
    assert days(load("days_of_month: ['29:31']"), 2026, 4) == [29, 30]
    # A negative begin before the month's first day is clamped the same way.
    assert days(load("days_of_month: ['-31:-29']"), 2026, 1) == [1, 2, 3]
    assert days(load("days_of_month: ['-31:-29']"), 2026, 4) == [1, 2]
    assert days(load("days_of_month: ['-31:-29']"), 2026, 2) == []
    assert days(load("days_of_month: ['-31']"), 2026, 4) == []


# -- contains: locations ---------------------------------------------------------------


def test_fields_are_evaluated_in_the_location():
    monday_midnight = load("weekdays: [monday], times: [{start_time: '00:00', end_time: '01:00'}], "
                           "location: Europe/Berlin")
    # Monday 00:30 in Berlin (CET, UTC+1) is Sunday 23:30 UTC.
    assert monday_midnight.contains(ts(2026, 1, 4, 23, 30))
    assert monday_midnight.contains(ts(2026, 1, 5, 0, 30, tz=BERLIN))
    assert not monday_midnight.contains(ts(2026, 1, 5, 0, 30))  # 01:30 in Berlin
    assert not load("weekdays: [monday]").contains(ts(2026, 1, 4, 23, 30))  # UTC by default
    assert load("weekdays: [monday], location: UTC").contains(ts(2026, 1, 5, 0, 30))


def test_year_month_and_day_change_with_the_location():
    new_year = ts(2026, 12, 31, 23, 30)  # 2027-01-01 00:30 in Berlin; 18:30 on the 31st in New York
    spec = "years: ['2027'], months: [january], days_of_month: ['1']"
    assert load(f"{spec}, location: Europe/Berlin").contains(new_year)
    assert not load(spec).contains(new_year)
    assert not load(f"{spec}, location: America/New_York").contains(new_year)
    # 03:00 UTC on 1 March 2026 is still Saturday 28 February, 22:00, in New York.
    early = ts(2026, 3, 1, 3, 0)
    assert load("days_of_month: ['-1'], weekdays: [saturday], months: [february], "
                "location: America/New_York").contains(early)
    assert load("days_of_month: ['1'], weekdays: [sunday], months: [march]").contains(early)


def test_times_in_new_york_follow_its_offset():
    office = load("times: [{start_time: '09:00', end_time: '17:00'}], location: America/New_York")
    # January: EST, UTC-5.
    assert not office.contains(ts(2026, 1, 6, 13, 59))
    assert office.contains(ts(2026, 1, 6, 14, 0))
    assert not office.contains(ts(2026, 1, 6, 22, 0))
    # July: EDT, UTC-4.
    assert office.contains(ts(2026, 7, 7, 13, 0))
    assert not office.contains(ts(2026, 7, 7, 21, 0))


@pytest.fixture
def local_time_zone(monkeypatch):
    """Make the process's local time New York's, for ``location: Local``."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is not available on this platform")
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_time_zone")
def test_local_is_the_machines_local_time():
    local = load("times: [{start_time: '09:00', end_time: '17:00'}], weekdays: [monday], location: Local")
    assert local.contains(ts(2026, 1, 5, 9, 0, tz=NEW_YORK))
    assert not local.contains(ts(2026, 1, 5, 9, 0))  # 04:00 in New York
    assert local.contains(ts(2026, 7, 6, 16, 59, tz=NEW_YORK))
    assert not local.contains(ts(2026, 7, 6, 17, 0, tz=NEW_YORK))


# -- contains: daylight saving time ----------------------------------------------------
# Alertmanager converts the instant to the location (Go's time.In) and reads the local
# wall-clock fields. Europe/Berlin: on 2026-03-29 at 01:00 UTC, 02:00 CET becomes
# 03:00 CEST; on 2026-10-25 at 01:00 UTC, 03:00 CEST becomes 02:00 CET.


def berlin_times(start: str, end: str) -> TimeInterval:
    return load(f"times: [{{start_time: '{start}', end_time: '{end}'}}], location: Europe/Berlin")


def test_spring_forward_in_berlin():
    before = ts(2026, 3, 29, 0, 59, 59)  # 01:59:59 CET
    after = ts(2026, 3, 29, 1, 0, 0)     # 03:00:00 CEST
    one_to_two = berlin_times("01:00", "02:00")
    assert one_to_two.contains(before)
    assert not one_to_two.contains(after)
    three_to_four = berlin_times("03:00", "04:00")
    assert not three_to_four.contains(before)
    assert three_to_four.contains(after)
    assert three_to_four.contains(ts(2026, 3, 29, 1, 59, 59))
    assert not three_to_four.contains(ts(2026, 3, 29, 2, 0))
    # The skipped hour never happens: no instant of the day is inside 02:00-03:00.
    two_to_three = berlin_times("02:00", "03:00")
    day = ts(2026, 3, 28, 22, 0)  # 2026-03-29 00:00 CET
    assert not any(two_to_three.contains(day + m * 60) for m in range(23 * 60))
    # The local day has 23 hours: 00:00-24:00 covers exactly them.
    whole_day = berlin_times("00:00", "24:00")
    assert whole_day.contains(day)
    assert whole_day.contains(ts(2026, 3, 29, 21, 59, 59))
    sunday = load("weekdays: [sunday], location: Europe/Berlin")
    assert sunday.contains(ts(2026, 3, 29, 21, 59, 59))
    assert not sunday.contains(ts(2026, 3, 29, 22, 0))


def test_fall_back_in_berlin():
    before = ts(2026, 10, 25, 0, 59, 59)  # 02:59:59 CEST
    after = ts(2026, 10, 25, 1, 0, 0)     # 02:00:00 CET, the second time
    two_to_three = berlin_times("02:00", "03:00")
    assert two_to_three.contains(before)
    assert two_to_three.contains(after)
    # 02:00-03:00 local happens twice: two hours of instants are inside.
    start = ts(2026, 10, 24, 23, 0)  # 01:00 CEST
    inside = [m for m in range(4 * 60) if two_to_three.contains(start + m * 60)]
    assert inside == list(range(60, 180))
    assert not two_to_three.contains(ts(2026, 10, 24, 23, 59, 59))  # 01:59:59 CEST
    assert not two_to_three.contains(ts(2026, 10, 25, 2, 0))        # 03:00:00 CET
    three_to_four = berlin_times("03:00", "04:00")
    assert not three_to_four.contains(before)
    assert not three_to_four.contains(after)
    assert three_to_four.contains(ts(2026, 10, 25, 2, 0))
    # The local day has 25 hours; Monday begins at 23:00 UTC.
    monday = load("weekdays: [monday], location: Europe/Berlin")
    assert not monday.contains(ts(2026, 10, 25, 22, 59, 59))
    assert monday.contains(ts(2026, 10, 25, 23, 0))


def test_dst_in_new_york():
    # 2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00 UTC.
    one_to_two = load("times: [{start_time: '01:00', end_time: '02:00'}], location: America/New_York")
    assert one_to_two.contains(ts(2026, 3, 8, 6, 59, 59))
    assert not one_to_two.contains(ts(2026, 3, 8, 7, 0))
    # 2026-11-01: 02:00 EDT becomes 01:00 EST at 06:00 UTC; 01:00-02:00 happens twice.
    start = ts(2026, 11, 1, 4, 0)  # 00:00 EDT
    inside = [m for m in range(4 * 60) if one_to_two.contains(start + m * 60)]
    assert inside == list(range(60, 180))


def test_negative_days_in_a_dst_month_use_the_calendar_length():
    # March 2026 in Berlin has 31 days though only 743 hours. Alertmanager 0.25 divided
    # the hours by 24 and took 30 here; upstream fixed that (prometheus/alertmanager#5447)
    # and tocsin counts calendar days.
    last = load("days_of_month: ['-1'], location: Europe/Berlin")
    assert days(last, 2026, 3, tz=BERLIN) == [31]
    assert days(last, 2026, 10, tz=BERLIN) == [31]
    assert days(load("days_of_month: ['-1'], location: America/New_York"), 2026, 3, tz=NEW_YORK) == [31]
