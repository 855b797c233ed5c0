"""Go's ``time.Time`` as templates see ``.StartsAt`` and ``.EndsAt``: its ``String()``
(``2024-05-01 12:00:00.5 +0000 UTC``), ``Format`` with Go's reference layout
(``2006-01-02T15:04:05Z07:00``), and the usual methods. Times are in UTC.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tocsin.notify.gotemplate.values import GoStruct, go_method, go_params

__all__ = ["Duration", "GoTime", "format_layout"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO = datetime(1, 1, 1, tzinfo=UTC)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


class Duration(int):
    """``time.Duration`` (nanoseconds), printed ``1h2m3.5s``."""

    go_type = "time.Duration"

    @go_method
    def String(self) -> str:
        return duration_text(int(self))

    @go_method
    def Seconds(self) -> float:
        return int(self) / 1e9

    @go_method
    def Minutes(self) -> float:
        return int(self) / 6e10

    @go_method
    def Hours(self) -> float:
        return int(self) / 3.6e12


def duration_text(ns: int) -> str:
    if ns == 0:
        return "0s"
    sign, ns = ("-" if ns < 0 else ""), abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _fraction(ns, size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    out = f"{hours}h{minutes}m" if hours else f"{minutes}m" if minutes else ""
    return sign + out + _fraction(rest, 1_000_000_000) + "s"


def _fraction(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    digits = len(str(unit)) - 1
    tail = f"{frac:0{digits}d}".rstrip("0") if frac else ""
    return f"{whole}." + tail if tail else str(whole)


class GoTime(GoStruct):
    """An instant in UTC, to the nanosecond."""

    __slots__ = ("dt", "nsec")
    go_type = "time.Time"

    def __init__(self, dt: datetime, nsec: int | None = None) -> None:
        self.dt = dt.astimezone(UTC).replace(microsecond=0)
        self.nsec = dt.microsecond * 1000 if nsec is None else nsec

    @classmethod
    def parse(cls, text: str) -> GoTime:
        """From RFC 3339 (up to nanoseconds); Go's zero time for an empty text."""
        if not text:
            return cls(_ZERO)
        m = re.match(r"(.*?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text)
        if m is None:
            raise ValueError(f"not an RFC 3339 time: {text!r}")
        dt = datetime.fromisoformat(m[1] + ("+00:00" if m[3] == "Z" else m[3]))
        return cls(dt, int((m[2] or "0")[:9].ljust(9, "0")))

    def _unix_ns(self) -> int:
        return (self.dt - _EPOCH) // timedelta(seconds=1) * 1_000_000_000 + self.nsec

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoTime) and self._unix_ns() == other._unix_ns()

    def __hash__(self) -> int:
        return hash(self._unix_ns())

    @go_method
    def String(self) -> str:
        return format_layout(self, "2006-01-02 15:04:05.999999999 -0700 MST")

    @go_method
    @go_params("string")
    def Format(self, layout: str) -> str:
        return format_layout(self, layout)

    @go_method
    def IsZero(self) -> bool:
        return self.dt == _ZERO and self.nsec == 0

    @go_method
    def Unix(self) -> int:
        return self._unix_ns() // 1_000_000_000

    @go_method
    def UnixMilli(self) -> int:
        return self._unix_ns() // 1_000_000

    @go_method
    def UnixNano(self) -> int:
        return self._unix_ns()

    @go_method
    def UTC(self) -> GoTime:
        return self

    @go_method
    def Local(self) -> GoTime:
        return self

    @go_method
    @go_params("time")
    def Sub(self, other: GoTime) -> Duration:
        # Go saturates a difference that does not fit a Duration (int64 nanoseconds).
        return Duration(min(max(self._unix_ns() - other._unix_ns(), -(2**63)), 2**63 - 1))

    @go_method
    @go_params("time")
    def Before(self, other: GoTime) -> bool:
        return self._unix_ns() < other._unix_ns()

    @go_method
    @go_params("time")
    def After(self, other: GoTime) -> bool:
        return self._unix_ns() > other._unix_ns()

    @go_method
    @go_params("time")
    def Equal(self, other: GoTime) -> bool:
        return self._unix_ns() == other._unix_ns()

    @go_method
    def Year(self) -> int:
        return self.dt.year

    @go_method
    def Day(self) -> int:
        return self.dt.day

    @go_method
    def Hour(self) -> int:
        return self.dt.hour

    @go_method
    def Minute(self) -> int:
        return self.dt.minute

    @go_method
    def Second(self) -> int:
        return self.dt.second

    @go_method
    def Nanosecond(self) -> int:
        return self.nsec

    @go_method
    def YearDay(self) -> int:
        return self.dt.timetuple().tm_yday


def _frac(t: GoTime, digits: int, trim: bool, sep: str) -> str:
    text = f"{t.nsec:09d}"[:digits]
    if trim:
        text = text.rstrip("0")
        return sep + text if text else ""
    return sep + text


def _zone(t: GoTime, chunk: str) -> str:
    if chunk.startswith("Z"):
        return "Z"
    return {"-0700": "+0000", "-07:00": "+00:00", "-07": "+00", "-070000": "+000000",
            "-07:00:00": "+00:00:00"}[chunk]


def _hour12(t: GoTime) -> int:
    return t.dt.hour % 12 or 12


_CHUNKS: dict[str, Callable[[GoTime], str]] = {
    "January": lambda t: _MONTHS[t.dt.month - 1],
    "Jan": lambda t: _MONTHS[t.dt.month - 1][:3],
    "Monday": lambda t: _DAYS[t.dt.weekday()],
    "Mon": lambda t: _DAYS[t.dt.weekday()][:3],
    "MST": lambda t: "UTC",
    "2006": lambda t: f"{t.dt.year:04d}",
    "06": lambda t: f"{t.dt.year % 100:02d}",
    "01": lambda t: f"{t.dt.month:02d}",
    "1": lambda t: str(t.dt.month),
    "002": lambda t: f"{t.dt.timetuple().tm_yday:03d}",
    "__2": lambda t: f"{t.dt.timetuple().tm_yday:3d}",
    "02": lambda t: f"{t.dt.day:02d}",
    "_2": lambda t: f"{t.dt.day:2d}",
    "2": lambda t: str(t.dt.day),
    "15": lambda t: f"{t.dt.hour:02d}",
    "03": lambda t: f"{_hour12(t):02d}",
    "3": lambda t: str(_hour12(t)),
    "04": lambda t: f"{t.dt.minute:02d}",
    "4": lambda t: str(t.dt.minute),
    "05": lambda t: f"{t.dt.second:02d}",
    "5": lambda t: str(t.dt.second),
    "PM": lambda t: "PM" if t.dt.hour >= 12 else "AM",
    "pm": lambda t: "pm" if t.dt.hour >= 12 else "am",
}
for _z in ("-070000", "-07:00:00", "-0700", "-07:00", "-07",
           "Z070000", "Z07:00:00", "Z0700", "Z07:00", "Z07"):
    _CHUNKS[_z] = functools.partial(_zone, chunk=_z)

# Longest first, as Go tries them; a fraction is ``.000`` or ``.999`` (or with a comma)
# not followed by a digit.
_LAYOUT = re.compile(
    r"[.,](?:0+|9+)(?!\d)|" + "|".join(re.escape(c) for c in sorted(_CHUNKS, key=len, reverse=True))
)


def format_layout(t: GoTime, layout: str) -> str:
    """``time.Time.Format``: the reference time's parts replaced by this time's."""

    def chunk(m: re.Match[str]) -> str:
        text = m[0]
        if text[0] in ".,":
            return _frac(t, len(text) - 1, text[1] == "9", text[0])
        return _CHUNKS[text](t)

    return _LAYOUT.sub(chunk, layout)
