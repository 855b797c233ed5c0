"""The dispatcher: aggregation groups, their timers and flushes, on a fake clock."""

from __future__ import annotations

from tocsin.core.labels import fingerprint
from tocsin.core.timefmt import format_ts
from tocsin.testing import NotificationRecorder, RecordingServer, advance, post, running

CONFIG = """
global:
  resolve_timeout: 1h
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
receivers:
  - name: default
"""


def ts(rt, offset: float = 0.0) -> str:
    """An RFC 3339 time ``offset`` seconds from the runtime's fake now."""
    return format_ts(rt.clock.now() + offset)


def names(notification) -> list[dict[str, str]]:
    return [a.labels for a in notification.alerts]


def sent(server: RecordingServer) -> list[dict]:
    """The messages the webhook receiver got, in order."""
    return [r.json() for r in server.requests]


def webhook_config(url: str, *, send_resolved: bool = True, extra: str = "") -> str:
    return f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
{extra}
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
        send_resolved: {"true" if send_resolved else "false"}
"""


# -- group_wait, grouping ------------------------------------------------------------


async def test_first_notification_waits_group_wait(tmp_path):
    rec = NotificationRecorder()
    async with running(CONFIG, tmp_path, plugins=[rec]) as rt:
        await post(rt, {"labels": {"alertname": "A", "instance": "i1"}})
        assert len(rt.dispatcher.groups) == 1
        await advance(rt, 29)
        assert rec.notifications == []
        await advance(rt, 1)
        assert len(rec.notifications) == 1
        n = rec.notifications[0]
        assert n.receiver == "default"
        assert n.group_key == '{}:{alertname="A"}'
        assert n.group_labels == {"alertname": "A"}
        assert names(n) == [{"alertname": "A", "instance": "i1"}]
        assert n.now == rt.clock.now()
        assert (n.group_interval, n.repeat_interval) == (300.0, 3600.0)
        # A firing alert is handed over with no end time, so it cannot resolve in delivery.
        assert n.alerts[0].ends_at == 0.0
        assert n.alerts[0].fingerprint == fingerprint({"alertname": "A", "instance": "i1"})


async def test_same_group_by_values_share_a_notification(tmp_path):
    rec = NotificationRecorder()
    async with running(CONFIG, tmp_path, plugins=[rec]) as rt:
        await post(
            rt,
            {"labels": {"alertname": "A", "instance": "i2"}},
            {"labels": {"alertname": "B", "instance": "i1"}},
            {"labels": {"alertname": "A", "instance": "i1"}},
        )
        assert len(rt.dispatcher.groups) == 2
        await advance(rt, 30)
        by_key = {n.group_key: n for n in rec.notifications}
        assert len(rec.notifications) == 2
        assert sorted(by_key) == ['{}:{alertname="A"}', '{}:{alertname="B"}']
        assert names(by_key['{}:{alertname="A"}']) == [
            {"alertname": "A", "instance": "i1"},
            {"alertname": "A", "instance": "i2"},
        ]
        assert by_key['{}:{alertname="B"}'].group_labels == {"alertname": "B"}
        assert names(by_key['{}:{alertname="B"}']) == [{"alertname": "B", "instance": "i1"}]


async def test_group_by_all_labels(tmp_path):
    config = CONFIG.replace("group_by: [alertname]", "group_by: ['...']")
    rec = NotificationRecorder()
    async with running(config, tmp_path, plugins=[rec]) as rt:
        await post(
            rt,
            {"labels": {"alertname": "A", "instance": "i1"}},
            {"labels": {"alertname": "A", "instance": "i2"}},
        )
        await advance(rt, 30)
        got = sorted((n.group_key, len(n.alerts)) for n in rec.notifications)
        assert got == [
            ('{}:{alertname="A", instance="i1"}', 1),
            ('{}:{alertname="A", instance="i2"}', 1),
        ]
        assert sorted(n.group_labels["instance"] for n in rec.notifications) == ["i1", "i2"]
        assert all(n.group_labels == n.alerts[0].labels for n in rec.notifications)


async def test_no_group_by_puts_everything_in_one_group(tmp_path):
    config = CONFIG.replace("  group_by: [alertname]\n", "")
    rec = NotificationRecorder()
    async with running(config, tmp_path, plugins=[rec]) as rt:
        await post(rt, {"labels": {"alertname": "A"}}, {"labels": {"alertname": "B"}})
        await advance(rt, 30)
        assert len(rec.notifications) == 1
        assert rec.notifications[0].group_key == "{}:{}"
        assert rec.notifications[0].group_labels == {}
        assert len(rec.notifications[0].alerts) == 2


# -- group_interval ------------------------------------------------------------------


async def test_alert_joining_after_first_flush_waits_for_group_interval(tmp_path):
    rec = NotificationRecorder()
    async with running(CONFIG, tmp_path, plugins=[rec]) as rt:
        await post(rt, {"labels": {"alertname": "A", "instance": "i1"}})
        await advance(rt, 30)
        assert len(rec.notifications) == 1

        await advance(rt, 60)
        await post(rt, {"labels": {"alertname": "A", "instance": "i2"}})
        # Not after group_wait: the group has flushed already.
        await advance(rt, 30)
        assert len(rec.notifications) == 1
        await advance(rt, 300 - 60 - 30 - 1)
        assert len(rec.notifications) == 1
        await advance(rt, 1)  # 300s after the first flush
        assert len(rec.notifications) == 2
        assert names(rec.notifications[1]) == [
            {"alertname": "A", "instance": "i1"},
            {"alertname": "A", "instance": "i2"},
        ]


async def test_repeat_interval_renotifies_only_through_the_notification_log(tmp_path, server):
    rec = NotificationRecorder()
    async with running(webhook_config(f"{server.url}/hook"), tmp_path, plugins=[rec]) as rt:
        t0 = rt.clock.now()
        await post(rt, {"labels": {"alertname": "A"}, "endsAt": ts(rt, 86400)})
        await advance(rt, 30)
        assert len(sent(server)) == 1
        key = '{}:{alertname="A"}'
        entry = rt.nflog.get(key, "hook", "webhook[0]")
        assert entry is not None
        assert entry.sent_at == t0 + 30
        assert entry.firing == frozenset({fingerprint({"alertname": "A"})})

        # Every group_interval the group flushes; the log says nothing changed.
        for _ in range(12):  # up to exactly repeat_interval after the first notice
            await advance(rt, 300)
        assert len(rec.notifications) == 13
        assert len(sent(server)) == 1
        assert rt.nflog.get(key, "hook", "webhook[0]").sent_at == t0 + 30

        # The first flush strictly more than repeat_interval later re-sends.
        await advance(rt, 300)
        assert len(rec.notifications) == 14
        assert len(sent(server)) == 2
        assert sent(server)[1]["alerts"] == sent(server)[0]["alerts"]
        assert rt.nflog.get(key, "hook", "webhook[0]").sent_at == t0 + 30 + 13 * 300


# -- resolution ------------------------------------------------------------------------


async def test_alert_resolved_within_group_wait_is_never_notified(tmp_path, server):
    async with running(webhook_config(f"{server.url}/hook"), tmp_path) as rt:
        await post(rt, {"labels": {"alertname": "A"}})
        await advance(rt, 10)
        await post(rt, {"labels": {"alertname": "A"}, "endsAt": ts(rt)})
        await advance(rt, 20)
        await advance(rt, 300)
        assert sent(server) == []
        assert len(rt.nflog) == 0
        # The flush succeeded (nothing to say), so the resolved alert left and the
        # empty group is gone.
        assert rt.dispatcher.groups == {}


async def test_resolved_alert_leaves_group_after_successful_flush(tmp_path):
    rec = NotificationRecorder()
    async with running(CONFIG, tmp_path, plugins=[rec]) as rt:
        await post(rt, {"labels": {"alertname": "A", "instance": "i1"}},
                   {"labels": {"alertname": "A", "instance": "i2"}})
        await advance(rt, 30)
        await post(rt, {"labels": {"alertname": "A", "instance": "i1"}, "endsAt": ts(rt)})
        (group,) = rt.dispatcher.groups.values()
        assert len(group.alerts) == 2

        await advance(rt, 300)
        n = rec.notifications[-1]
        assert [(a.labels["instance"], a.status(n.now)) for a in n.alerts] == [
            ("i1", "resolved"), ("i2", "firing"),
        ]
        assert list(group.alerts) == [fingerprint({"alertname": "A", "instance": "i2"})]

        await post(rt, {"labels": {"alertname": "A", "instance": "i2"}, "endsAt": ts(rt)})
        await advance(rt, 300)
        assert [a.status(rec.notifications[-1].now) for a in rec.notifications[-1].alerts] == [
            "resolved"
        ]
        assert rt.dispatcher.groups == {}
        # Nothing flushes any more.
        count = len(rec.notifications)
        await advance(rt, 3600)
        assert len(rec.notifications) == count


async def test_resolved_alert_reposted_unchanged_still_leaves_the_group(tmp_path):
    # Prometheus re-sends a resolved alert (same startsAt and endsAt) for a while.
    rec = NotificationRecorder()
    async with running(CONFIG, tmp_path, plugins=[rec]) as rt:
        starts = ts(rt)
        await post(rt, {"labels": {"alertname": "A"}, "startsAt": starts, "endsAt": ts(rt, 240)})
        await advance(rt, 30)
        ends = ts(rt)
        await post(rt, {"labels": {"alertname": "A"}, "startsAt": starts, "endsAt": ends})
        await advance(rt, 60)
        await post(rt, {"labels": {"alertname": "A"}, "startsAt": starts, "endsAt": ends})
        await advance(rt, 240)
        assert [a.status(rec.notifications[-1].now) for a in rec.notifications[-1].alerts] == [
            "resolved"
        ]
        assert rt.dispatcher.groups == {}


async def test_alert_resolving_by_its_end_time_leaves_the_group(tmp_path):
    # Re-posts that only move endsAt do not reach the dispatcher; when the sender
    # stops, the alert resolves at its last endsAt and must still leave its group.
    rec = NotificationRecorder()
    async with running(CONFIG, tmp_path, plugins=[rec]) as rt:
        starts = ts(rt)
        await post(rt, {"labels": {"alertname": "A"}, "startsAt": starts, "endsAt": ts(rt, 240)})
        await advance(rt, 30)
        await post(rt, {"labels": {"alertname": "A"}, "startsAt": starts, "endsAt": ts(rt, 240)})
        assert rt.alerts.dirty == {fingerprint({"alertname": "A"})}
        await advance(rt, 300)  # 30s past the last endsAt
        n = rec.notifications[-1]
        assert [a.status(n.now) for a in n.alerts] == ["resolved"]
        assert rt.dispatcher.groups == {}


async def test_failed_notify_keeps_resolved_alerts(tmp_path):
    rec = NotificationRecorder(ok=False)
    async with running(CONFIG, tmp_path, plugins=[rec]) as rt:
        await post(rt, {"labels": {"alertname": "A"}})
        await advance(rt, 30)
        await post(rt, {"labels": {"alertname": "A"}, "endsAt": ts(rt)})
        await advance(rt, 300)
        await advance(rt, 300)
        assert len(rec.notifications) == 3
        assert [a.status(n.now) for n in rec.notifications[1:] for a in n.alerts] == [
            "resolved", "resolved",
        ]
        (group,) = rt.dispatcher.groups.values()
        assert list(group.alerts) == [fingerprint({"alertname": "A"})]

        rec.ok = True
        await advance(rt, 300)
        assert len(rec.notifications) == 4
        assert rt.dispatcher.groups == {}


# -- old alerts --------------------------------------------------------------------------


async def test_alert_older_than_group_wait_flushes_at_once(tmp_path):
    rec = NotificationRecorder()
    async with running(CONFIG, tmp_path, plugins=[rec]) as rt:
        await post(rt, {"labels": {"alertname": "Old"}, "startsAt": ts(rt, -31)})
        await advance(rt, 0)
        assert [n.group_key for n in rec.notifications] == ['{}:{alertname="Old"}']


async def test_alert_not_older_than_group_wait_waits(tmp_path):
    rec = NotificationRecorder()
    async with running(CONFIG, tmp_path, plugins=[rec]) as rt:
        # startsAt + group_wait == now is not "before now": it waits the full group_wait.
        await post(rt, {"labels": {"alertname": "Edge"}, "startsAt": ts(rt, -30)})
        await advance(rt, 0)
        await advance(rt, 29)
        assert rec.notifications == []
        await advance(rt, 1)
        assert len(rec.notifications) == 1


async def test_old_alert_joining_a_waiting_group_flushes_it_at_once(tmp_path):
    rec = NotificationRecorder()
    async with running(CONFIG, tmp_path, plugins=[rec]) as rt:
        await post(rt, {"labels": {"alertname": "A", "instance": "new"}})
        await advance(rt, 5)
        assert rec.notifications == []
        await post(rt, {"labels": {"alertname": "A", "instance": "old"}, "startsAt": ts(rt, -600)})
        await advance(rt, 0)
        assert len(rec.notifications) == 1
        assert [a.labels["instance"] for a in rec.notifications[0].alerts] == ["new", "old"]
        # The next flush is a group_interval later, not a group_wait.
        await advance(rt, 299)
        assert len(rec.notifications) == 1
        await advance(rt, 1)
        assert len(rec.notifications) == 2


# -- routing into groups ---------------------------------------------------------------


async def test_continue_creates_one_group_per_matching_route(tmp_path):
    config = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  routes:
    - matchers: ['team="a"']
      receiver: team-a
      continue: true
    - matchers: ['severity="page"']
      receiver: pager
    - matchers: ['team="a"']
      receiver: never
receivers:
  - name: default
  - name: team-a
  - name: pager
  - name: never
"""
    rec = NotificationRecorder()
    async with running(config, tmp_path, plugins=[rec]) as rt:
        await post(rt, {"labels": {"alertname": "X", "team": "a", "severity": "page"}})
        assert len(rt.dispatcher.groups) == 2
        await advance(rt, 30)
        got = sorted((n.receiver, n.group_key) for n in rec.notifications)
        assert got == [
            ("pager", '{}/{severity="page"}:{alertname="X"}'),
            ("team-a", '{}/{team="a"}:{alertname="X"}'),
        ]
        # Without severity, the walk goes on past the continue route to the next match.
        await post(rt, {"labels": {"alertname": "Y", "team": "a"}})
        await advance(rt, 30)
        assert sorted(n.receiver for n in rec.notifications[2:]) == ["never", "team-a"]


async def test_alerts_are_sorted_like_alertmanager(tmp_path):
    config = CONFIG.replace("  group_by: [alertname]\n", "")
    rec = NotificationRecorder()
    posted = [
        {"alertname": "X", "c": "1"},
        {"alertname": "X", "job": "b", "instance": "1"},
        {"alertname": "Y"},
        {"alertname": "X", "instance": "0"},
        {"alertname": "X", "job": "a", "instance": "2"},
        {"alertname": "X", "b": "1"},
        {"alertname": "X"},
        {"alertname": "X", "zone": "z"},
        {"alertname": "X", "job": "a", "instance": "1"},
        {"alertname": "X", "job": "a"},
    ]
    async with running(config, tmp_path, plugins=[rec]) as rt:
        await post(rt, *({"labels": labels} for labels in posted))
        await advance(rt, 30)
        (n,) = rec.notifications
        assert names(n) == [
            # By job (present before absent)...
            {"alertname": "X", "job": "a", "instance": "1"},
            {"alertname": "X", "job": "a", "instance": "2"},
            {"alertname": "X", "job": "a"},
            {"alertname": "X", "job": "b", "instance": "1"},
            # ...then instance...
            {"alertname": "X", "instance": "0"},
            # ...then LabelSet.Before: fewer labels first; for as many labels, the
            # first differing name in sorted order decides, and lacking it sorts first.
            {"alertname": "X"},
            {"alertname": "Y"},
            {"alertname": "X", "zone": "z"},
            {"alertname": "X", "c": "1"},
            {"alertname": "X", "b": "1"},
        ]
