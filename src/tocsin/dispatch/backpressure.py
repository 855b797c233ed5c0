"""Ingest gives way to deliveries when the event loop cannot keep up with both.

Ingest and delivery share one event loop. In an alert storm (thousands of fresh
alerts a second, each its own group) taking an alert costs the loop less than
notifying it. When the storm goes on, ingest left alone runs ahead: the groups
it makes fall due faster than the loop can flush them, they wait in their
receivers' queues (:mod:`tocsin.dispatch.dispatcher`), and the notifications
come later and later.

:class:`Backpressure` holds new ingest requests back while both of these hold:

* the notifications due are late: a group has waited more than :data:`LATE`
  seconds in its receiver's queue for a flush worker;
* the loop's thread used at least :data:`BUSY` of a CPU over the last
  :data:`WINDOW` seconds: the queue is there because the loop has no time left,
  not because a receiver is slow to answer. A slow or unreachable receiver
  builds a queue of its own while the loop idles, and must not hold back
  ingest for every other receiver.

Held requests go on once the oldest wait is down to :data:`ON_TIME`, or the
loop is no longer busy. Nothing is refused: a request waits, its sender's
timeout (10 s for Prometheus) is far off, and what it brings is taken whole as
before. The loop then spends its time on the notifications already due, while
the alerts come in at the pace the loop can also notify them.

Only lateness closes the gate, not the number of flushes owed. A burst whose
groups all fall due after it is over (a storm's first ``group_wait``) is taken
whole: holding its end would only move that ingest into the seconds when its
groups are due, where it takes the loop from their sends (docs/performance.md,
"Ingest gives way to late deliveries, not to owed ones").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["BUSY", "LATE", "ON_TIME", "WINDOW", "Backpressure"]

#: Seconds a due group may wait for a flush worker before ingest may be held.
LATE = 0.5

#: Seconds of waiting at or below which held ingest goes on.
ON_TIME = 0.25

#: Share of a CPU the loop's thread must have used over :data:`WINDOW` for it to count as busy.
BUSY = 0.75

#: Seconds over which the loop's CPU use is measured, and between two looks while ingest waits.
WINDOW = 0.05


class Backpressure:
    """Decides whether ingest waits: :meth:`room` before taking a request's alerts, and
    :meth:`watch` running as one of the runtime's loops to measure the loop's CPU use."""

    def __init__(self, late: Callable[[], float], *, high: float = LATE, low: float = ON_TIME,
                 busy: float = BUSY, window: float = WINDOW,
                 cpu: Callable[[], float] = time.thread_time,
                 wall: Callable[[], float] = time.monotonic) -> None:
        #: Seconds the group longest due has waited for a flush worker.
        self._late = late
        self.high, self.low, self.busy_share, self.window = high, low, busy, window
        self._cpu, self._wall = cpu, wall
        #: Whether the loop was busy over the last window.
        self.busy = False
        #: Requests that waited, and the seconds they waited in all (metrics).
        self.held = 0
        self.held_seconds = 0.0
        self._open = asyncio.Event()
        self._open.set()

    def _look(self) -> None:
        """Close when the loop is busy and a due group has waited more than ``high``
        seconds; open again once the longest wait is down to ``low`` or the loop is not
        busy."""
        if self._open.is_set():
            if self.busy and self._late() > self.high:
                self._open.clear()
        elif not self.busy or self._late() <= self.low:
            self._open.set()

    async def room(self) -> None:
        """Return at once, or once ingest may go on."""
        if self._open.is_set():
            self._look()
            if self._open.is_set():
                return
        started = self._wall()
        self.held += 1
        try:
            await self._open.wait()
        finally:
            self.held_seconds += self._wall() - started

    async def watch(self) -> None:
        """Measure the loop thread's CPU use every ``window`` seconds, until cancelled. Run it
        on the loop's own thread: :func:`time.thread_time` is the caller's thread. Once it
        ends (the runtime stops, or no longer leads), nothing is held."""
        cpu, wall = self._cpu(), self._wall()
        try:
            while True:
                await asyncio.sleep(self.window)
                now_cpu, now_wall = self._cpu(), self._wall()
                spent = now_wall - wall
                self.busy = spent > 0 and (now_cpu - cpu) / spent >= self.busy_share
                cpu, wall = now_cpu, now_wall
                self._look()
        finally:
            self.busy = False
            self._open.set()
