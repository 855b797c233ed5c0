"""Retries without waiting: a test sees each retry's delay instead of sleeping through it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tocsin.core.clock import FakeClock
from tocsin.notify import delivery

if TYPE_CHECKING:
    from tocsin.runtime import Runtime

__all__ = ["RetryWaits", "instant_retries", "no_jitter"]


class RetryWaits:
    """Stands in for the wait between two delivery attempts: records each delay in
    ``delays`` and, instead of sleeping, moves the runtime's fake clock by it (unless
    ``move_clock`` is False)."""

    def __init__(self, runtime: Runtime, move_clock: bool = True) -> None:
        self.runtime = runtime
        self.move_clock = move_clock
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.move_clock:
            clock = self.runtime.clock
            assert isinstance(clock, FakeClock), "instant_retries() needs a runtime on a FakeClock"
            clock.advance(delay)


def instant_retries(runtime: Runtime, *, move_clock: bool = True) -> RetryWaits:
    """Make the runtime's retries wait no real time (until its next reload): each delay is
    recorded in the returned object's ``delays`` and added to the fake clock, so a retry
    window (the group interval) still closes when it would."""
    waits = RetryWaits(runtime, move_clock)
    runtime.delivery.sleep = waits
    return waits


class _Middle:
    """Answers ``uniform(a, b)`` with the middle of the range: the jitter factor 1."""

    @staticmethod
    def uniform(a: float, b: float) -> float:
        return (a + b) / 2


@contextmanager
def no_jitter() -> Iterator[None]:
    """Within the block, retry backoff has no random jitter: the delays are exactly
    0.5 s, 0.75 s, 1.125 s... (times 1.5, up to 60 s), unless the receiver says Retry-After."""
    saved = delivery.random
    delivery.random = _Middle  # type: ignore[assignment]
    try:
        yield
    finally:
        delivery.random = saved
