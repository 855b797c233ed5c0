"""An alert posted without endsAt resolves after resolve_timeout unless re-posted."""

from __future__ import annotations

from tocsin.testing import NotificationRecorder, advance, post, running

CONFIG = """
global:
  resolve_timeout: 5m
route:
  receiver: r
  group_by: [alertname]
  group_wait: 30s
  group_interval: 1m
  repeat_interval: 1h
receivers:
  - name: r
"""


def statuses(n) -> list[str]:
    return [a.status(n.now) for a in n.alerts]


async def test_unrefreshed_alert_resolves_after_resolve_timeout(tmp_path):
    rec = NotificationRecorder()
    async with running(CONFIG, tmp_path, plugins=[rec]) as rt:
        await post(rt, {"labels": {"alertname": "NoEnd"}})
        await advance(rt, 30)
        assert [statuses(n) for n in rec.notifications] == [["firing"]]
        # Flushes every minute; the alert stays firing until 5m after its post.
        for _ in range(4):
            await advance(rt, 60)
        assert all(statuses(n) == ["firing"] for n in rec.notifications)
        await advance(rt, 60)  # t = 5m30s: past endsAt = 5m
        assert statuses(rec.notifications[-1]) == ["resolved"]
        # Resolved and notified: it leaves its group, and the group goes.
        assert rt.dispatcher.groups == {}


async def test_reposting_keeps_it_firing(tmp_path):
    rec = NotificationRecorder()
    async with running(CONFIG, tmp_path, plugins=[rec]) as rt:
        alert = {"labels": {"alertname": "Refreshed"}}
        await post(rt, alert)
        for _ in range(10):  # re-posted every minute for 10 minutes, like Prometheus
            await advance(rt, 60)
            await post(rt, alert)
        assert rec.notifications
        assert all(statuses(n) == ["firing"] for n in rec.notifications)
        held = rt.alerts.get(rec.notifications[0].alerts[0].fingerprint)
        assert held is not None
        assert held.timeout
        assert held.ends_at == rt.clock.now() + 300
        # Re-posts that only move endsAt are coalesced writes, not immediate ones.
        assert held.fingerprint in rt.alerts.dirty
        before = {a.fingerprint: a for a in await rt.store.load_alerts()}
        assert before[held.fingerprint].ends_at < held.ends_at
        await rt.persist_dirty()
        assert held.fingerprint not in rt.alerts.dirty
        stored = {a.fingerprint: a for a in await rt.store.load_alerts()}
        assert stored[held.fingerprint].ends_at == held.ends_at


async def test_an_end_before_1970_is_a_real_past_end(tmp_path):
    """Unix time below zero is still a time: the alert is resolved (as Go's
    ``!EndsAt.IsZero() && EndsAt.Before(now)`` decides), and its expiry timer
    does not re-arm itself forever at "now" (it once spun the scheduler)."""
    rec = NotificationRecorder()
    async with running(CONFIG, tmp_path, plugins=[rec]) as rt:
        await post(rt, {"labels": {"alertname": "Old"},
                        "startsAt": "1900-01-01T00:00:00Z", "endsAt": "1900-01-02T00:00:00Z"})
        await post(rt, {"labels": {"alertname": "Live"}})
        await advance(rt, 30)
        old = [a for a in rt.alerts if a.labels["alertname"] == "Old"]
        assert all(a.resolved(rt.clock.now()) for a in old)  # resolved, or already collected
        seen = {(n.alerts[0].labels["alertname"], tuple(statuses(n))) for n in rec.notifications}
        assert seen == {("Old", ("resolved",)), ("Live", ("firing",))}  # Old never fires
        assert len(rt.scheduler) < 10
