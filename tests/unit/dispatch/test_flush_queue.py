"""The dispatcher's bounded flush workers: groups due while every worker of their
receiver is busy wait in its queue, in the order they fell due, and each is flushed
once; a receiver's busy workers do not hold up another receiver's groups."""

from __future__ import annotations

import asyncio

from tocsin import hookimpl
from tocsin.core.models import Notification
from tocsin.dispatch.dispatcher import FLUSH_WORKERS
from tocsin.testing import advance, post, running

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
receivers:
  - name: default
"""


async def fall_due(rt, seconds: float = 30) -> None:
    """Move the fake clock by ``seconds``, fire the timers due, and let the flushes they
    start run up to their notifications (held by a :class:`SlowNotifier`)."""
    rt.clock.advance(seconds)
    rt.scheduler.run_due()
    for _ in range(20):
        await asyncio.sleep(0)


class SlowNotifier:
    """Holds every notification (of ``receiver``, when given) until released; counts
    how many are held at once."""

    def __init__(self, receiver: str | None = None) -> None:
        self.receiver = receiver
        self.release = asyncio.Event()
        self.held = 0
        self.most_held = 0
        self.order: list[str] = []

    @hookimpl
    async def tocsin_notify(self, runtime, notification: Notification) -> bool:
        if self.receiver is not None and notification.receiver != self.receiver:
            self.order.append(notification.group_labels["alertname"])
            return True
        self.held += 1
        self.most_held = max(self.most_held, self.held)
        self.order.append(notification.group_labels["alertname"])
        await self.release.wait()
        self.held -= 1
        return True


async def test_flushes_beyond_the_workers_wait_in_due_order_and_each_runs_once(tmp_path):
    slow = SlowNotifier()
    count = FLUSH_WORKERS + 5
    async with running(CONFIG, tmp_path, plugins=[slow]) as rt:
        for i in range(count):
            await post(rt, {"labels": {"alertname": f"A{i:03}"}})
            rt.clock.advance(0.001)  # each group falls due a little after the one before
        await fall_due(rt)
        assert len(rt.dispatcher.in_flight()) == FLUSH_WORKERS
        assert rt.dispatcher.queued() == 5
        # A group due again while queued is not queued twice.
        rt.dispatcher._due(next(iter(rt.dispatcher.groups)))
        assert rt.dispatcher.queued() == 5
        slow.release.set()
        await advance(rt, 0)
        assert rt.dispatcher.queued() == 0
        assert slow.most_held == FLUSH_WORKERS
        assert slow.order == [f"A{i:03}" for i in range(count)]


async def test_stop_finishes_queued_flushes_within_its_deadline(tmp_path):
    slow = SlowNotifier()
    rt_cm = running(CONFIG, tmp_path, plugins=[slow])
    async with rt_cm as rt:
        for i in range(FLUSH_WORKERS + 3):
            await post(rt, {"labels": {"alertname": f"B{i:03}"}})
        await fall_due(rt)
        assert rt.dispatcher.queued() == 3
        asyncio.get_running_loop().call_later(0.05, slow.release.set)
        await rt.dispatcher.close(5.0)
        assert rt.dispatcher.queued() == 0
        assert len(slow.order) == FLUSH_WORKERS + 3


TWO_RECEIVERS = """
route:
  receiver: fast
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
  routes:
    - matchers: ['alertname=~"S.*"']
      receiver: slow
receivers:
  - name: fast
  - name: slow
"""


async def test_a_slow_receiver_does_not_hold_up_another(tmp_path):
    slow = SlowNotifier(receiver="slow")
    async with running(TWO_RECEIVERS, tmp_path, plugins=[slow]) as rt:
        for i in range(FLUSH_WORKERS + 3):
            await post(rt, {"labels": {"alertname": f"S{i:03}"}})
        for i in range(3):
            await post(rt, {"labels": {"alertname": f"F{i:03}"}})
        await fall_due(rt)
        assert slow.held == FLUSH_WORKERS
        assert rt.dispatcher.queued() == 3  # the slow receiver's, waiting
        assert sorted(a for a in slow.order if a.startswith("F")) == ["F000", "F001", "F002"]
        slow.release.set()
        await advance(rt, 0)
        assert len(slow.order) == FLUSH_WORKERS + 6
