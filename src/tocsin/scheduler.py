"""One timer heap for every group flush, expiry and maintenance job.

Times are on the clock's monotonic scale. Callbacks are synchronous and
must be quick; work that awaits is started by the callback in a task group
its owner holds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any

import anyio
import structlog
from anyio.abc import TaskStatus

from tocsin.clock import Clock

__all__ = ["Scheduler", "Timer"]

log = structlog.get_logger("tocsin.scheduler")


class Timer:
    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    #: Longest sleep between checks, so a stalled wake-up cannot hide a timer for long.
    MAX_SLEEP = 1.0

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Timer:
        timer = Timer(when, callback, args)
        first = not self._heap or when < self._heap[0][0]
        heapq.heappush(self._heap, (when, next(self._seq), timer))
        if first:
            self._wakeup.set()
        return timer

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        return self.call_at(self.clock.monotonic() + delay, callback, *args)

    def next_due(self) -> float | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def run_due(self) -> int:
        """Run every timer due now; return how many ran."""
        now = self.clock.monotonic()
        ran = 0
        while self._heap and self._heap[0][0] <= now:
            _, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            timer.cancelled = True
            ran += 1
            try:
                timer.callback(*timer.args)
            except Exception:
                log.exception("timer callback failed", callback=getattr(timer.callback, "__qualname__", "?"))
        return ran

    def __len__(self) -> int:
        return sum(1 for _, _, t in self._heap if not t.cancelled)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            self.run_due()
            due = self.next_due()
            delay = self.MAX_SLEEP if due is None else min(self.MAX_SLEEP, due - self.clock.monotonic())
            self._wakeup.clear()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), delay)
                except TimeoutError:
                    pass
