"""Event-loop health: how late the loop runs a task that asked to wake at a given time.

Everything in tocsin (ingest, flushes, deliveries, the API) shares one event loop,
so a callback that holds it (a large render, a long flush, a slow synchronous call)
delays every other one. :func:`watch` sleeps ``interval`` seconds over and over and
records, each time, how much later than asked it woke: that lateness is what any
task ready at that moment waited too. It costs one wake-up per interval (a few
microseconds of CPU), and it measures the real loop whatever clock the runtime uses.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = ["BUCKETS", "INTERVAL", "watch"]

#: Seconds between two wake-ups.
INTERVAL = 0.05

#: Histogram buckets, in seconds: fine below 20 ms (the storm benchmark's bound on the p99).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Observer(Protocol):
    def observe(self, amount: float) -> None: ...


async def watch(histogram: Observer, interval: float = INTERVAL) -> None:
    """Record the loop's lateness into ``histogram`` every ``interval`` seconds, until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        histogram.observe(max(0.0, loop.time() - due))
