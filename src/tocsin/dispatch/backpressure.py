"""Ingest gives way to deliveries when the event loop cannot keep up with both.

Ingest and delivery share one event loop. In an alert storm (thousands of fresh
alerts a second, each its own group) taking an alert costs the loop less than
notifying it, so left alone ingest runs ahead: the alerts are accepted at once,
and the groups they make fall due faster than the loop can flush them. They
wait in their receivers' queues (:mod:`tocsin.dispatch.dispatcher`), and the
notifications arrive seconds late, after the storm's POSTs are over.

:class:`Backpressure` holds new ingest requests back while both of these hold:

* the loop owes more than :data:`HIGH` flushes: groups due and waiting for a
  flush worker, and new groups whose first flush falls due within :data:`SOON`
  seconds (a storm's first group_wait makes thousands of groups that all fall
  due together, while nothing is queued yet; a burst that is over sooner than
  that is not held);
* the loop's thread used at least :data:`BUSY` of a CPU over the last
  :data:`WINDOW` seconds: the queue is there because the loop has no time left,
  not because a receiver is slow to answer. A slow or unreachable receiver
  builds a queue of its own while the loop idles, and must not hold back
  ingest for every other receiver.

Held requests go on once that is down to :data:`LOW`, or the loop is no
longer busy. Nothing is refused: a request waits, its sender's timeout (10 s
for Prometheus) is far off, and what it brings is taken whole as before. The
loop then spends its time on the notifications already due, so they leave
within a flush's turn, while the alerts come in at the pace the loop can also
notify them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["BUSY", "HIGH", "LOW", "SOON", "WINDOW", "Backpressure"]

#: Flushes owed above which ingest may be held.
HIGH = 512

#: Flushes owed at or below which held ingest goes on.
LOW = 256

#: Seconds ahead within which a new group's first flush counts as owed (docs/performance.md,
#: "Ingest gives way to due deliveries": 1 s held back bursts delivered in time anyway).
SOON = 0.5

#: Share of a CPU the loop's thread must have used over :data:`WINDOW` for it to count as busy.
BUSY = 0.75

#: Seconds over which the loop's CPU use is measured, and between two looks while ingest waits.
WINDOW = 0.05


class Backpressure:
    """Decides whether ingest waits: :meth:`room` before taking a request's alerts, and
    :meth:`watch` running as one of the runtime's loops to measure the loop's CPU use."""

    def __init__(self, waiting: Callable[[], int], *, high: int = HIGH, low: int = LOW,
                 busy: float = BUSY, window: float = WINDOW,
                 cpu: Callable[[], float] = time.thread_time,
                 wall: Callable[[], float] = time.monotonic) -> None:
        #: The flushes the loop owes: due and queued, or due within :data:`SOON`.
        self._waiting = waiting
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
        """Close when the loop is busy and owes more than ``high`` flushes; open again once
        they are down to ``low`` or the loop is not busy."""
        if self._open.is_set():
            if self.busy and self._waiting() > self.high:
                self._open.clear()
        elif not self.busy or self._waiting() <= self.low:
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
