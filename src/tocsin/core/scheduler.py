"""One timer heap for every group flush, expiry and maintenance job.

Times are on the clock's monotonic scale. Callbacks are synchronous and
must be quick; work that awaits is started by the callback in a task group
its owner holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
from collections.abc import Callable
from typing import Any

import anyio
import structlog
from anyio.abc import TaskStatus

from tocsin.core.clock import Clock

__all__ = ["Scheduler", "Timer", "TimerWheel"]

log = structlog.get_logger("tocsin.core.scheduler")


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
        """Run every timer due now; return how many ran.

        A timer a callback sets for "now" runs on the next pass, after the loop
        has had a turn, so a callback that keeps re-arming itself cannot spin here.
        """
        now = self.clock.monotonic()
        last = next(self._seq)
        ran = 0
        while self._heap and self._heap[0][0] <= now and self._heap[0][1] < last:
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
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), delay)
            else:
                await asyncio.sleep(0)  # due again already: let the loop breathe first


class TimerWheel:
    """Many keyed deadlines sharing one scheduler timer per slot of ``resolution``
    seconds: a key's callback runs at its deadline or up to ``resolution`` later.

    For deadlines counted in the hundreds of thousands (every active alert's
    expiry), where a timer, a heap entry and an argument tuple per key would cost
    some 300 bytes each; here a key costs a dict entry in its slot and one in the
    index. Arming a key again moves it; callbacks run in the order keys were armed.
    """

    def __init__(self, scheduler: Scheduler, callback: Callable[[str], Any], resolution: float = 1.0) -> None:
        self._scheduler = scheduler
        self._callback = callback
        self._resolution = resolution
        self._slot_of: dict[str, int] = {}
        self._slots: dict[int, dict[str, None]] = {}
        self._timers: dict[int, Timer] = {}

    def arm(self, key: str, delay: float) -> None:
        self.disarm(key)
        when = self._scheduler.clock.monotonic() + max(0.0, delay)
        slot = math.ceil(when / self._resolution)
        keys = self._slots.get(slot)
        if keys is None:
            keys = self._slots[slot] = {}
            self._timers[slot] = self._scheduler.call_at(slot * self._resolution, self._fire, slot)
        keys[key] = None
        self._slot_of[key] = slot

    def disarm(self, key: str) -> bool:
        """Forget a key's deadline; whether it had one."""
        slot = self._slot_of.pop(key, None)
        if slot is None:
            return False
        keys = self._slots[slot]
        del keys[key]
        if not keys:
            del self._slots[slot]
            self._timers.pop(slot).cancel()
        return True

    def clear(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._slot_of.clear()
        self._slots.clear()
        self._timers.clear()

    def __contains__(self, key: str) -> bool:
        return key in self._slot_of

    def __len__(self) -> int:
        return len(self._slot_of)

    def _fire(self, slot: int) -> None:
        self._timers.pop(slot, None)
        keys = self._slots.pop(slot, {})
        for key in keys:
            del self._slot_of[key]
        for key in keys:
            try:
                self._callback(key)
            except Exception:
                log.exception("timer callback failed", callback=getattr(self._callback, "__qualname__", "?"))
