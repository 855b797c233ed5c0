"""A sent notification's records give way to the sends still due: held while groups wait
for a flush worker on a busy loop, let go when the queues empty, after at most a bound,
or at a stop, and then written whole."""

from __future__ import annotations

import asyncio

from tests.unit.dispatch.test_flush_queue import fall_due
from tocsin.core.clock import FakeClock
from tocsin.dispatch.dispatcher import FLUSH_WORKERS
from tocsin.notify.deferral import CHUNK, Deferral
from tocsin.runtime import Runtime
from tocsin.store.sqlite import SQLiteStore
from tocsin.testing import RecordingServer, advance, api_client, post
from tocsin.testing.harness import make_config, make_plugins


class Owed:
    def __init__(self) -> None:
        self.owed = True
        self.spawned: list[asyncio.Task[None]] = []

    def __call__(self) -> bool:
        return self.owed

    def spawn(self, coro, name):
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.spawned.append(task)
        return task

    async def settle(self) -> None:
        while not all(t.done() for t in self.spawned):
            await asyncio.gather(*self.spawned)


def job(log: list[int], i: int):
    async def run() -> None:
        log.append(i)
    return run()


async def test_held_while_owed_and_let_go_together_once_the_queues_empty() -> None:
    owed = Owed()
    d = Deferral(owed, owed.spawn)
    done: list[int] = []
    assert d.holds()
    for i in range(3):
        d.hold(job(done, i))
    d.poke()  # still owed: nothing goes
    await asyncio.sleep(0.01)
    assert done == []
    assert len(d) == 3
    owed.owed = False
    assert not d.holds()
    d.poke()
    await owed.settle()
    assert done == [0, 1, 2]
    assert len(d) == 0
    assert d.total == 3


async def test_the_first_held_waits_at_most_the_bound() -> None:
    # A bound far above the short waits below, so that a loaded test machine cannot
    # reach it early; the long waits are well past it.
    owed = Owed()
    d = Deferral(owed, owed.spawn, most=0.3)
    done: list[int] = []
    d.hold(job(done, 1))
    await asyncio.sleep(0.01)
    d.hold(job(done, 2))
    assert done == []
    await asyncio.sleep(0.6)  # still owed, but the bound has passed since the first
    await owed.settle()
    assert done == [1, 2]
    d.hold(job(done, 3))  # a new first one: a new bound
    await asyncio.sleep(0.01)
    assert done == [1, 2]
    await asyncio.sleep(0.6)
    await owed.settle()
    assert done == [1, 2, 3]


async def test_let_go_a_chunk_at_a_time_and_a_failure_does_not_stop_the_rest() -> None:
    owed = Owed()
    d = Deferral(owed, owed.spawn)
    running_now: list[int] = []
    most = 0

    def counted(i: int):
        async def run() -> None:
            nonlocal most
            running_now.append(i)
            most = max(most, len(running_now))
            await asyncio.sleep(0)
            running_now.remove(i)
            if i == 5:
                raise OSError("disk full")
        return run()

    for i in range(CHUNK * 2 + 1):
        d.hold(counted(i))
    d.release()
    await owed.settle()
    assert most == CHUNK
    assert d.failed == 1


async def test_closed_it_lets_go_and_holds_nothing_more() -> None:
    owed = Owed()
    d = Deferral(owed, owed.spawn)
    done: list[int] = []
    d.hold(job(done, 1))
    d.close()
    await owed.settle()
    assert done == [1]
    assert not d.holds()


async def test_stopped_runtime_closes_what_it_cannot_start() -> None:
    d = Deferral(lambda: True, lambda coro, name: coro.close())  # as a stopped runtime spawns
    done: list[int] = []
    d.hold(job(done, 1))
    d.release()  # the coroutine is closed, not left never awaited
    assert done == []
    assert len(d) == 0


CONFIG = """
route:
  receiver: fast
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1m
  routes:
    - matchers: ['team="slow"']
      receiver: slow
receivers:
  - name: fast
    webhook_configs: [{{url: "{fast}/f"}}]
  - name: slow
    webhook_configs: [{{url: "{slow}/s"}}]
"""


async def backlog(rt: Runtime, slow: RecordingServer, fast: RecordingServer) -> None:
    """A busy loop; the slow receiver's workers all hanging with one group queued behind
    them; the fast receiver's three notifications sent meanwhile."""
    bp = rt.backpressure
    bp._cpu = bp._wall  # every second of the loop's spent on it: busy
    await asyncio.sleep(bp.window * 3)
    assert bp.busy
    slow.hang = True
    for i in range(FLUSH_WORKERS + 1):
        await post(rt, {"labels": {"alertname": f"S{i:02}", "team": "slow"}})
    for i in range(3):
        await post(rt, {"labels": {"alertname": f"F{i}"}})
    await fall_due(rt, 1)
    await slow.wait_for(1)
    await fast.wait_for(3)
    for _ in range(50):
        if len(rt.deferral) == 3:
            break
        await asyncio.sleep(0.01)
    assert rt.dispatcher.queued() == 1


async def test_a_storm_s_records_wait_for_the_queue_and_are_then_all_written(tmp_path, tocsin_receiver):
    slow = RecordingServer()
    await slow.start()
    try:
        config = CONFIG.format(fast=tocsin_receiver.url, slow=slow.url)
        async with api_client(config, tmp_path) as (client, rt):
            await backlog(rt, slow, tocsin_receiver)
            # Sent, and known as sent to the log in memory; not yet written.
            assert len(rt.deferral) == 3
            metrics = await (await client.get("/metrics")).text()
            assert 'tocsin_queue_depth{queue="delivery_records_held"} 3.0' in metrics
            assert len(rt.nflog) == 3
            assert await rt.store.load_nflog(rt.clock.now()) == []
            sent = [e for e in rt.metrics.notifications.collect()[0].samples
                    if e.labels.get("outcome") == "sent" and e.name.endswith("_total")]
            assert sum(s.value for s in sent) == 0
            slow.release()  # the queue drains: everything held is let go
            await slow.wait_for(FLUSH_WORKERS + 1)
            await advance(rt, 0)
            assert len(rt.deferral) == 0
            assert rt.deferral.total >= 3
            logged = await rt.store.load_nflog(rt.clock.now())
            assert len(logged) == FLUSH_WORKERS + 1 + 3
            sent = [e for e in rt.metrics.notifications.collect()[0].samples
                    if e.labels.get("outcome") == "sent" and e.name.endswith("_total")]
            assert sum(s.value for s in sent) == FLUSH_WORKERS + 1 + 3
    finally:
        await slow.stop()


async def test_a_stop_writes_the_records_held(tmp_path, tocsin_receiver):
    slow = RecordingServer()
    await slow.start()
    try:
        config = CONFIG.format(fast=tocsin_receiver.url, slow=slow.url)
        pm = make_plugins(())
        rt = Runtime(make_config(config, pm), pm, store=SQLiteStore(tmp_path / "tocsin.db"),
                     clock=FakeClock())
        await rt.start()
        try:
            await backlog(rt, slow, tocsin_receiver)
        finally:
            await rt.stop(deadline=0.5)  # the slow receiver's sends are given up
        store = SQLiteStore(tmp_path / "tocsin.db")
        await store.open()
        try:
            logged = await store.load_nflog(rt.clock.now())
        finally:
            await store.close()
        assert sorted(e.receiver for e in logged) == ["fast"] * 3
    finally:
        slow.release()
        await slow.stop()


async def test_told_when_the_first_is_held_and_when_what_is_held_goes() -> None:
    owed = Owed()
    d = Deferral(owed, owed.spawn)
    seen: list[str] = []
    d.on_hold, d.on_release = lambda: seen.append("hold"), lambda: seen.append("release")
    done: list[int] = []
    d.release()  # nothing held: nothing to tell
    d.hold(job(done, 1))
    d.hold(job(done, 2))
    assert seen == ["hold"]
    d.release()
    await owed.settle()
    assert seen == ["hold", "release"]
    assert done == [1, 2]


async def test_told_of_the_release_once_the_last_batch_is_written_even_if_cancelled() -> None:
    owed = Owed()
    d = Deferral(owed, owed.spawn)
    seen: list[str] = []
    d.on_hold, d.on_release = lambda: seen.append("hold"), lambda: seen.append("release")
    gate = asyncio.Event()

    async def slow() -> None:
        await gate.wait()

    d.hold(slow())
    d.release()  # the first batch is being written...
    d.hold(slow())  # ...while a second is held: the collector stays off
    await asyncio.sleep(0)
    assert seen == ["hold"]
    d.release()
    owed.spawned[-1].cancel()  # the second is cancelled before it starts (a stop's deadline)
    await asyncio.sleep(0)
    assert seen == ["hold"]  # the first is still being written
    gate.set()
    await asyncio.gather(*owed.spawned, return_exceptions=True)
    assert seen == ["hold", "release"]
