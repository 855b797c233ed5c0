"""Routes' mute_time_intervals and active_time_intervals, applied at group flush time.

A real runtime on a fake clock. As in Alertmanager 0.25 (notify.TimeMuteStage and
TimeActiveStage), the time is that of the flush, a muted flush drops the whole
group's alerts without notifying, nothing is logged so the next flush outside the
mute notifies, and the API does not show time muting.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tocsin import hookimpl
from tocsin.core.clock import FakeClock
from tocsin.core.events import GroupFlushed
from tocsin.core.mute import MuteReason
from tocsin.core.timefmt import format_ts
from tocsin.testing import NotificationRecorder, RecordingServer, advance, post, running
from tocsin.web.amv2.alerts import gettable

GROUP_WAIT = 30
GROUP_INTERVAL = 300

CONFIG = """
global:
  resolve_timeout: 48h
route:
  receiver: r
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
{routes}
receivers:
  - name: r
{receivers}
time_intervals:
  - name: office
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{{start_time: '09:00', end_time: '17:00'}}]
  - name: lunch
    time_intervals:
      - times: [{{start_time: '12:00', end_time: '13:00'}}]
"""


def config(routes: str, receivers: str = "") -> str:
    return CONFIG.format(routes=routes, receivers=receivers)


def at(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def hhmmss(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%a %H:%M:%S")


def sent(rec: NotificationRecorder) -> list[tuple[str, str]]:
    """(alertname group, flush time) of every notification handed to the notify hook."""
    return [(n.group_labels["alertname"], hhmmss(n.now)) for n in rec.notifications]


class Flushes:
    """GroupFlushed events, to tell a muted flush from no flush at all."""

    def __init__(self) -> None:
        self.events: list[GroupFlushed] = []

    @hookimpl
    def tocsin_observe(self, runtime, event) -> None:
        if isinstance(event, GroupFlushed):
            self.events.append(event)

    def summary(self) -> list[tuple[str, str, int, int, int]]:
        return [(hhmmss(e.at), e.group_key, e.firing, e.resolved, e.muted) for e in self.events]


async def run_flushes(rt, count: int) -> None:
    """Advance one group_interval at a time, so flushes stay on their schedule."""
    for _ in range(count):
        await advance(rt, GROUP_INTERVAL)


# -- mute_time_intervals ---------------------------------------------------------------


async def test_muted_route_sends_nothing_inside_and_notifies_at_the_first_flush_after(tmp_path):
    rec, flushes = NotificationRecorder(), Flushes()
    clock = FakeClock(start=at(2026, 3, 2, 16, 0, 0))  # Monday 16:00 UTC, office hours
    routes = "    - matchers: [kind=muted]\n      mute_time_intervals: [office]"
    async with running(config(routes), tmp_path, plugins=[rec, flushes], clock=clock) as rt:
        await post(rt, {"labels": {"alertname": "M", "kind": "muted"}})
        await advance(rt, GROUP_WAIT)          # 16:00:30
        await run_flushes(rt, 11)              # ... 16:55:30
        assert rec.notifications == []
        # The group did flush, twelve times, with its one alert muted each time.
        assert len(flushes.events) == 12
        assert {(e.firing, e.resolved, e.muted) for e in flushes.events} == {(0, 0, 1)}
        assert hhmmss(flushes.events[-1].at) == "Mon 16:55:30"

        await run_flushes(rt, 1)               # 17:00:30: office hours are over
        assert sent(rec) == [("M", "Mon 17:00:30")]
        assert [a.labels["alertname"] for a in rec.notifications[0].alerts] == ["M"]
        assert flushes.summary()[-1] == ("Mon 17:00:30", rec.notifications[0].group_key, 1, 0, 0)


async def test_the_end_time_is_exclusive_at_flush_time(tmp_path):
    rec = NotificationRecorder()
    clock = FakeClock(start=at(2026, 3, 2, 16, 59, 30))
    routes = "    - matchers: [kind=muted]\n      mute_time_intervals: [office]"
    async with running(config(routes), tmp_path, plugins=[rec], clock=clock) as rt:
        await post(rt, {"labels": {"alertname": "M", "kind": "muted"}})
        await advance(rt, GROUP_WAIT - 1)      # 16:59:59: no flush yet
        assert rec.notifications == []
        await advance(rt, 1)                   # the first flush, at 17:00:00 exactly
        assert sent(rec) == [("M", "Mon 17:00:00")]


async def test_an_alert_arriving_inside_the_mute_waits_for_the_groups_schedule(tmp_path):
    rec = NotificationRecorder()
    clock = FakeClock(start=at(2026, 3, 6, 16, 58, 0))  # Friday
    routes = "    - matchers: [kind=muted]\n      mute_time_intervals: [office]"
    async with running(config(routes), tmp_path, plugins=[rec], clock=clock) as rt:
        await post(rt, {"labels": {"alertname": "M", "kind": "muted"}})
        await advance(rt, GROUP_WAIT)          # 16:58:30, muted
        assert rec.notifications == []
        await advance(rt, 150)                 # 17:01:00: outside, but no flush is due
        assert rec.notifications == []
        await advance(rt, 150)                 # 17:03:30: the next flush notifies
        assert sent(rec) == [("M", "Fri 17:03:30")]


# -- active_time_intervals -------------------------------------------------------------


async def test_active_route_sends_only_inside(tmp_path):
    rec = NotificationRecorder()
    clock = FakeClock(start=at(2026, 3, 2, 8, 50, 0))  # Monday 08:50 UTC
    routes = "    - matchers: [kind=active]\n      active_time_intervals: [office]"
    async with running(config(routes), tmp_path, plugins=[rec], clock=clock) as rt:
        await post(rt, {"labels": {"alertname": "A", "kind": "active"}})
        await advance(rt, GROUP_WAIT)          # 08:50:30
        await run_flushes(rt, 1)               # 08:55:30
        assert rec.notifications == []
        await run_flushes(rt, 1)               # 09:00:30: inside
        assert sent(rec) == [("A", "Mon 09:00:30")]
        # Every flush until 17:00 reaches the notify hook (the notification log then
        # decides about repeats); none after.
        await run_flushes(rt, 100)             # ... 17:15:30
        times = [t for _, t in sent(rec)]
        assert times[0] == "Mon 09:00:30"
        assert times[-1] == "Mon 16:55:30"
        assert len(times) == 96                # 09:00:30 to 16:55:30 every 5 minutes
        assert all(n.alerts for n in rec.notifications)


async def test_the_start_time_is_inclusive_at_flush_time(tmp_path):
    rec = NotificationRecorder()
    clock = FakeClock(start=at(2026, 3, 2, 8, 59, 30))
    routes = "    - matchers: [kind=active]\n      active_time_intervals: [office]"
    async with running(config(routes), tmp_path, plugins=[rec], clock=clock) as rt:
        await post(rt, {"labels": {"alertname": "A", "kind": "active"}})
        await advance(rt, GROUP_WAIT)          # 09:00:00 exactly
        assert sent(rec) == [("A", "Mon 09:00:00")]


async def test_on_a_weekend_the_active_route_is_silent_and_the_muted_one_notifies(tmp_path):
    rec = NotificationRecorder()
    clock = FakeClock(start=at(2026, 3, 7, 10, 0, 0))  # Saturday 10:00 UTC
    routes = ("    - matchers: [kind=active]\n      active_time_intervals: [office]\n"
              "    - matchers: [kind=muted]\n      mute_time_intervals: [office]")
    async with running(config(routes), tmp_path, plugins=[rec], clock=clock) as rt:
        await post(rt, {"labels": {"alertname": "A", "kind": "active"}},
                   {"labels": {"alertname": "M", "kind": "muted"}})
        await advance(rt, GROUP_WAIT)
        await run_flushes(rt, 3)
        assert {name for name, _ in sent(rec)} == {"M"}
        assert len(rec.notifications) == 4


async def test_mute_and_active_intervals_on_one_route(tmp_path):
    rec = NotificationRecorder()
    clock = FakeClock(start=at(2026, 3, 2, 11, 50, 0))  # Monday
    routes = ("    - matchers: [kind=both]\n      active_time_intervals: [office]\n"
              "      mute_time_intervals: [lunch]")
    async with running(config(routes), tmp_path, plugins=[rec], clock=clock) as rt:
        await post(rt, {"labels": {"alertname": "B", "kind": "both"}})
        await advance(rt, GROUP_WAIT)          # 11:50:30: active, not lunch
        await run_flushes(rt, 15)              # ... 13:05:30
        times = [t for _, t in sent(rec)]
        assert times == ["Mon 11:50:30", "Mon 11:55:30", "Mon 13:00:30", "Mon 13:05:30"]


# -- what muting does and does not do ---------------------------------------------------


async def test_time_muting_does_not_show_in_the_api(tmp_path):
    clock = FakeClock(start=at(2026, 3, 2, 10, 0, 0))  # Monday, office hours
    routes = ("    - matchers: [kind=muted]\n      mute_time_intervals: [office]\n"
              "    - matchers: [kind=active]\n      active_time_intervals: [lunch]")
    rec = NotificationRecorder()
    async with running(config(routes), tmp_path, plugins=[rec], clock=clock) as rt:
        await post(rt, {"labels": {"alertname": "M", "kind": "muted"}},
                   {"labels": {"alertname": "A", "kind": "active"}})
        await advance(rt, GROUP_WAIT)
        assert rec.notifications == []         # both muted at the flush
        now = rt.clock.now()
        for alert in rt.alerts:
            status = gettable(rt, alert, now)["status"]
            assert status == {"state": "active", "silencedBy": [], "inhibitedBy": []}
            # The muter answers only for a flush (a route given), never for the API.
            assert rt.muted(alert, None, now) == []
        routes_by_kind = {r.opts.mute_time_intervals or r.opts.active_time_intervals: r
                          for r in rt.config.route.routes}
        muted = next(a for a in rt.alerts if a.labels["kind"] == "muted")
        active = next(a for a in rt.alerts if a.labels["kind"] == "active")
        assert rt.muted(muted, routes_by_kind[("office",)], now) == [
            MuteReason("time_interval", ("office",))]
        assert rt.muted(active, routes_by_kind[("lunch",)], now) == [
            MuteReason("time_interval", ("outside lunch",))]


def messages(server: RecordingServer) -> list[dict]:
    """The messages the webhook receiver got, in order."""
    return [r.json() for r in server.requests]


def hook_config(server: RecordingServer, routes: str) -> str:
    url = f"{server.url}/hook"
    return config(routes, receivers=f"  - name: hook\n    webhook_configs:\n      - url: {url}\n"
                                    "        send_resolved: true")


async def test_a_fully_muted_group_sends_no_empty_notification(tmp_path, server):
    rec, flushes = NotificationRecorder(), Flushes()
    clock = FakeClock(start=at(2026, 3, 2, 16, 50, 0))  # Monday, office hours
    routes = "    - matchers: [kind=muted]\n      receiver: hook\n      mute_time_intervals: [office]"
    async with running(hook_config(server, routes), tmp_path, plugins=[rec, flushes], clock=clock) as rt:
        await post(rt, {"labels": {"alertname": "M", "kind": "muted", "i": "1"}},
                   {"labels": {"alertname": "M", "kind": "muted", "i": "2"}})
        await advance(rt, GROUP_WAIT)      # 16:50:30
        await run_flushes(rt, 1)           # 16:55:30
        assert [(f[0], f[2:]) for f in flushes.summary()] == [
            ("Mon 16:50:30", (0, 0, 2)), ("Mon 16:55:30", (0, 0, 2))]
        # Neither an empty notification to plugins nor a message to the receiver,
        # and nothing in the notification log.
        assert rec.notifications == []
        assert messages(server) == []
        key = flushes.events[0].group_key
        assert rt.nflog.get(key, "hook", "webhook[0]") is None

        await run_flushes(rt, 1)           # 17:00:30
        assert len(messages(server)) == 1
        message = messages(server)[0]
        assert message["status"] == "firing"
        assert sorted(a["labels"]["i"] for a in message["alerts"]) == ["1", "2"]
        assert rt.nflog.get(key, "hook", "webhook[0]") is not None


async def test_an_alert_resolving_inside_the_mute_is_never_notified_as_resolved(tmp_path, server):
    # Alertmanager 0.25: a muted flush counts as done, so the group drops its resolved
    # alerts and the resolution is not sent after the mute either.
    clock = FakeClock(start=at(2026, 3, 2, 8, 50, 0))  # Monday, before office hours
    routes = "    - matchers: [kind=muted]\n      receiver: hook\n      mute_time_intervals: [office]"
    labels = {"alertname": "M", "kind": "muted"}
    async with running(hook_config(server, routes), tmp_path, clock=clock) as rt:
        await post(rt, {"labels": labels})
        await advance(rt, GROUP_WAIT)      # 08:50:30: sent
        assert [m["status"] for m in messages(server)] == ["firing"]
        await run_flushes(rt, 3)           # 09:05:30, muted
        await post(rt, {"labels": labels, "endsAt": format_ts(rt.clock.now())})
        await run_flushes(rt, 1)           # 09:10:30: muted; the resolved alert leaves
        assert rt.dispatcher.groups == {}
        await run_flushes(rt, 100)         # well past 17:00
        assert [m["status"] for m in messages(server)] == ["firing"]


async def test_time_intervals_are_not_inherited_by_child_routes(tmp_path):
    rec = NotificationRecorder()
    clock = FakeClock(start=at(2026, 3, 2, 10, 0, 0))  # Monday 10:00, office hours
    routes = """    - matchers: [kind=muted]
      mute_time_intervals: [office]
      routes:
        - matchers: [child=yes]
    - matchers: [kind=active]
      active_time_intervals: [lunch]
      routes:
        - matchers: [child=yes]"""
    async with running(config(routes), tmp_path, plugins=[rec], clock=clock) as rt:
        await post(rt, {"labels": {"alertname": "Muted", "kind": "muted"}},
                   {"labels": {"alertname": "MutedChild", "kind": "muted", "child": "yes"}},
                   {"labels": {"alertname": "Active", "kind": "active"}},
                   {"labels": {"alertname": "ActiveChild", "kind": "active", "child": "yes"}})
        parents = rt.config.route.routes
        assert all(child.opts.mute_time_intervals == () and child.opts.active_time_intervals == ()
                   for parent in parents for child in parent.routes)
        await advance(rt, GROUP_WAIT)          # 10:00:30: in office hours, outside lunch
        assert sorted(name for name, _ in sent(rec)) == ["ActiveChild", "MutedChild"]
