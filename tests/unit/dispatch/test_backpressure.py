"""Ingest gives way to due flushes only once they are late and the event loop has no time
for them: a queue of due groups held up by a slow receiver, with the loop idle, never holds
ingest back, and neither do groups owed but not late (a storm's first group_wait)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tests.unit.dispatch.test_flush_queue import CONFIG, SlowNotifier, fall_due
from tocsin.dispatch.backpressure import Backpressure
from tocsin.dispatch.dispatcher import FLUSH_WORKERS
from tocsin.testing import advance, post, running


class Loop:
    """A fake clock and CPU meter: time moves a millisecond at each look at the clock, and
    ``share`` of it is spent on the loop's thread."""

    def __init__(self, share: float) -> None:
        self.share = share
        self.t = 0.0
        self.spent = 0.0

    def wall(self) -> float:
        self.t += 0.001
        self.spent += 0.001 * self.share
        return self.t

    def cpu(self) -> float:
        return self.spent


async def looked(bp: Backpressure) -> None:
    """A few windows of ``watch``."""
    await asyncio.sleep(bp.window * 5)


@contextlib.asynccontextmanager
async def watched(late: list[float], loop: Loop) -> AsyncIterator[Backpressure]:
    """A gate that holds once a due group has waited more than 1.0 s and lets go at 0.4 s,
    on the fake ``loop``, with its watch running (and looked a few times) until the block
    ends."""
    bp = Backpressure(lambda: late[0], high=1.0, low=0.4, busy=0.9, window=0.001,
                      cpu=loop.cpu, wall=loop.wall)
    watcher = asyncio.create_task(bp.watch())
    try:
        await looked(bp)
        yield bp
    finally:
        watcher.cancel()


async def held(task: asyncio.Task[None]) -> bool:
    for _ in range(5):
        await asyncio.sleep(0)
    return not task.done()


async def test_a_busy_loop_with_due_groups_late_holds_ingest_until_they_are_on_time() -> None:
    late = [0.0]
    async with watched(late, Loop(share=0.95)) as bp:
        assert bp.busy
        late[0] = 1.0  # at the bound: not above it
        await asyncio.wait_for(bp.room(), 1)
        late[0] = 1.01
        waiting = asyncio.create_task(bp.room())
        assert await held(waiting)
        late[0] = 0.5  # catching up, not yet down to low
        await looked(bp)
        assert await held(waiting)
        another = asyncio.create_task(bp.room())  # what comes meanwhile waits too
        assert await held(another)
        late[0] = 0.4
        await looked(bp)
        await asyncio.wait_for(asyncio.gather(waiting, another), 1)
        assert bp.held == 2
        assert bp.held_seconds > 0


async def test_a_queue_while_the_loop_idles_never_holds_ingest() -> None:
    """A slow receiver's queue: the loop waits on the network, with time to spare."""
    async with watched([30.0], Loop(share=0.2)) as bp:
        assert not bp.busy
        await asyncio.wait_for(bp.room(), 1)
        assert bp.held == 0


async def test_held_ingest_goes_on_once_the_loop_is_no_longer_busy() -> None:
    loop = Loop(share=1.0)
    async with watched([5.0], loop) as bp:
        waiting = asyncio.create_task(bp.room())
        assert await held(waiting)
        loop.share = 0.1  # the flushes now wait on their receivers, not on the loop
        await looked(bp)
        await asyncio.wait_for(waiting, 1)


async def test_held_ingest_goes_on_when_the_watch_ends() -> None:
    """The runtime stops, or a replica no longer leads: nothing stays held."""
    async with watched([5.0], Loop(share=1.0)) as bp:
        waiting = asyncio.create_task(bp.room())
        assert await held(waiting)
    await asyncio.wait_for(waiting, 1)  # the watch was cancelled at the block's end
    assert not bp.busy


async def _queue_flushes(rt, slow: SlowNotifier, count: int) -> None:
    for i in range(count):
        await post(rt, {"labels": {"alertname": f"Q{i:04}"}})
    await fall_due(rt)
    assert slow.held == FLUSH_WORKERS


async def test_the_runtime_holds_a_post_while_its_busy_loop_has_late_flushes_queued(tmp_path):
    slow = SlowNotifier()
    async with running(CONFIG, tmp_path, plugins=[slow]) as rt:
        bp = rt.backpressure
        await _queue_flushes(rt, slow, FLUSH_WORKERS + 3)
        assert rt.dispatcher.queued() == 3
        bp._cpu = bp._wall  # every second of the loop's spent on it: busy
        await asyncio.sleep(bp.window * 3)
        assert bp.busy
        # Due, queued, but not late yet: nothing is held.
        assert rt.dispatcher.late() == 0.0
        assert (await asyncio.wait_for(post(rt, {"labels": {"alertname": "Early"}}), 5)).accepted == 1
        rt.clock.advance(bp.high + 0.1)  # the queued groups have now waited past the bound
        assert rt.dispatcher.late() > bp.high
        posting = asyncio.create_task(post(rt, {"labels": {"alertname": "Late"}}))
        await asyncio.sleep(bp.window * 3)
        assert not posting.done()
        assert not any(a.labels["alertname"] == "Late" for a in rt.alerts)
        slow.release.set()  # the flushes run; the queue drains
        result = await asyncio.wait_for(posting, 5)
        assert result.accepted == 1
        assert bp.held == 1
        await advance(rt, 0)


async def test_the_runtime_takes_a_post_at_once_when_a_slow_receiver_queues_flushes(tmp_path):
    slow = SlowNotifier()
    async with running(CONFIG, tmp_path, plugins=[slow]) as rt:
        bp = rt.backpressure
        await _queue_flushes(rt, slow, FLUSH_WORKERS + 3)
        rt.clock.advance(bp.high * 10)  # long late: the receiver does not answer
        await asyncio.sleep(bp.window * 3)  # the loop waits on the receiver: idle
        assert not bp.busy
        result = await asyncio.wait_for(post(rt, {"labels": {"alertname": "OnTime"}}), 5)
        assert result.accepted == 1
        assert bp.held == 0
        slow.release.set()
        await advance(rt, 0)


async def test_late_is_how_long_the_group_longest_due_has_waited_for_a_worker(tmp_path):
    """Groups owed but not due (a storm's first group_wait) are not late; a queued group
    is late by the time since it fell due, the oldest of every receiver's queue counting."""
    slow = SlowNotifier()
    async with running(CONFIG, tmp_path, plugins=[slow]) as rt:
        d = rt.dispatcher
        for i in range(FLUSH_WORKERS + 2):
            await post(rt, {"labels": {"alertname": f"N{i:03}"}})
        rt.clock.advance(29.9)  # every group's first flush about to fall due
        assert d.late() == 0.0
        await fall_due(rt, 0.1)
        assert slow.held == FLUSH_WORKERS  # the rest wait for a worker
        assert d.queued() == 2
        assert d.late() == 0.0
        rt.clock.advance(0.7)
        assert abs(d.late() - 0.7) < 1e-6
        slow.release.set()
        await advance(rt, 0)
        assert d.queued() == 0
        assert d.late() == 0.0
