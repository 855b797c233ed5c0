"""A restart resumes the held alerts a chunk at a time (``tocsin.runtime_restore``): the
first chunk before the runtime is ready, the rest after, with requests served in
between, and no group flushed until every held alert is back in it."""

from __future__ import annotations

import asyncio

import pytest

from tocsin import runtime_restore
from tocsin.core.clock import FakeClock
from tocsin.testing import NotificationRecorder, advance, post, running

from .test_dispatch import CONFIG

HELD = 30


def routed(rt) -> int:
    return sum(len(g.alerts) for g in rt.dispatcher.groups.values())


@pytest.fixture
async def held(tmp_path, monkeypatch) -> FakeClock:
    """A store holding 30 alerts of three groups, none notified yet (the daemon stopped
    within group_wait); restarts resume 4 at a time, after group_wait has passed."""
    clock = FakeClock()
    async with running(CONFIG, tmp_path, clock=clock) as rt:
        await post(rt, *({"labels": {"alertname": f"G{i % 3}", "n": str(i)}} for i in range(HELD)))
    monkeypatch.setattr(runtime_restore, "CHUNK", 4)
    clock.advance(60)
    return clock


async def test_ready_after_the_first_chunk_and_each_group_flushed_once_with_all_its_alerts(tmp_path, held):
    rec = NotificationRecorder()
    async with running(CONFIG, tmp_path, plugins=[rec], clock=held) as rt:
        assert rt.ready
        assert routed(rt) == 4
        assert not rt.resumed.is_set()
        await rt.resumed.wait()
        await advance(rt, 0)
        assert routed(rt) == HELD
        assert sorted((n.group_labels["alertname"], len(n.alerts)) for n in rec.notifications) == [
            ("G0", 10), ("G1", 10), ("G2", 10)]
        # every incident's expiry is armed again: the alerts expire at resolve_timeout
        await advance(rt, 3600)
        assert all(not inc.open for inc in rt.lifecycle.current.values())


async def test_an_alert_posted_while_resuming_joins_its_restored_group(tmp_path, held, monkeypatch):
    posted = asyncio.Event()

    async def after_the_post() -> None:  # the second chunk waits for it
        await posted.wait()

    monkeypatch.setattr(runtime_restore, "pause", after_the_post)
    rec = NotificationRecorder()
    async with running(CONFIG, tmp_path, plugins=[rec], clock=held) as rt:
        await post(rt, {"labels": {"alertname": "G0", "n": "new"}}, {"labels": {"alertname": "G3"}})
        assert routed(rt) == 4 + 2
        posted.set()
        await rt.resumed.wait()
        await advance(rt, 0)
        assert sorted((n.group_labels["alertname"], len(n.alerts)) for n in rec.notifications) == [
            ("G0", 11), ("G1", 10), ("G2", 10)]
        await advance(rt, 30)  # G3 is new: it waits its group_wait
        assert [len(n.alerts) for n in rec.notifications if n.group_labels["alertname"] == "G3"] == [1]


async def test_an_alert_collected_while_resuming_is_not_routed(tmp_path, held):
    async with running(CONFIG, tmp_path, clock=held) as rt:
        assert not rt.resumed.is_set()
        gone = next(a.fingerprint for a in rt.alerts if a.labels["n"] == str(HELD - 1))
        assert all(gone not in g.alerts for g in rt.dispatcher.groups.values())
        rt.alerts.delete(gone)
        await rt.resumed.wait()
        assert routed(rt) == HELD - 1
        assert all(gone not in g.alerts for g in rt.dispatcher.groups.values())
