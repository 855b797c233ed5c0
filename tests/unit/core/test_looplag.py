"""The event-loop lag watch: what it records when the loop is held, and where it shows."""

from __future__ import annotations

import asyncio
import time

from tocsin.core import looplag
from tocsin.core.metrics import Metrics


class Recorder:
    """An observer that wakes the test once it has seen ``wanted`` figures."""

    def __init__(self, wanted: int, sink: looplag.Observer | None = None) -> None:
        self.seen: list[float] = []
        self.wanted = wanted
        self.sink = sink
        self.enough = asyncio.Event()

    def observe(self, amount: float) -> None:
        self.seen.append(amount)
        if self.sink is not None:
            self.sink.observe(amount)
        if len(self.seen) >= self.wanted:
            self.enough.set()


async def test_a_held_loop_shows_as_lag() -> None:
    """A callback that holds the loop 0.2 s makes the watch wake at least 0.15 s late
    (it asked to wake at most one interval after the hold began)."""
    recorder = Recorder(wanted=4)
    task = asyncio.create_task(looplag.watch(recorder, interval=0.05))
    try:
        await asyncio.sleep(0.12)
        time.sleep(0.2)  # noqa: ASYNC251 -- hold the loop, as a long synchronous step would
        await recorder.enough.wait()
    finally:
        task.cancel()
    assert all(lag >= 0.0 for lag in recorder.seen)
    assert max(recorder.seen) >= 0.15


async def test_the_histogram_is_on_the_metrics_page() -> None:
    metrics = Metrics()
    recorder = Recorder(wanted=2, sink=metrics.loop_lag)
    task = asyncio.create_task(looplag.watch(recorder, interval=0.01))
    try:
        await recorder.enough.wait()
    finally:
        task.cancel()
    text = metrics.render().decode()
    assert "# TYPE tocsin_event_loop_lag_seconds histogram" in text
    assert "tocsin_event_loop_lag_seconds_count 2.0" in text
    assert 'tocsin_event_loop_lag_seconds_bucket{le="0.02"}' in text
