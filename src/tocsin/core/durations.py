"""Prometheus duration strings: ``1h30m``, ``5m``, ``30s``, ``100ms``, ``1w``, ``1d``."""

from __future__ import annotations

import re

_UNITS = {
    "y": 365 * 86400.0,
    "w": 7 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
}
_DURATION_RE = re.compile(
    r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?"
)
_ORDER = ("y", "w", "d", "h", "m", "s", "ms")
_MAX_NANOSECONDS = (1 << 63) - 1


class Duration(float):
    """Seconds, parsed from and printed as a Prometheus duration string."""

    __slots__ = ()

    @classmethod
    def parse(cls, text: str) -> Duration:
        if text == "0":
            return cls(0.0)
        m = _DURATION_RE.fullmatch(text)
        if not text or m is None or not any(m.groups()):
            raise ValueError(f"invalid duration {text!r} (expected e.g. 30s, 5m, 1h30m)")
        total = 0.0
        ms = 0
        for unit, part in zip(_ORDER, m.groups(), strict=True):
            if part:
                total += int(part) * _UNITS[unit]
                ms += int(part) * round(_UNITS[unit] * 1000)
        if ms * 1_000_000 > _MAX_NANOSECONDS:  # Go's time.Duration is int64 nanoseconds
            raise ValueError(f"invalid duration {text!r}: duration out of range")
        return cls(total)

    def __str__(self) -> str:
        ms = round(float(self) * 1000)
        if ms == 0:
            return "0s"
        out = []
        for unit in _ORDER:
            size = round(_UNITS[unit] * 1000)
            if unit in ("y", "w") and ms % size:
                continue  # as Prometheus: years and weeks only when exact (90d, not 12w6d)
            n, ms = divmod(ms, size)
            if n:
                out.append(f"{n}{unit}")
        return "".join(out)

    def __repr__(self) -> str:
        return f"Duration({self!s})"
