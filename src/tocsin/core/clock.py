"""The one place tocsin reads time from.

``now()`` is wall-clock time (Unix seconds) for timestamps that leave the
process; ``monotonic()`` orders timers, so a clock step does not fire a
group early or late. Tests pass a ``FakeClock`` and move it by hand.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    __slots__ = ()

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 1000.0

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += seconds

    def jump_wall(self, seconds: float) -> None:
        """Step the wall clock only, as an NTP correction would."""
        self._now += seconds
