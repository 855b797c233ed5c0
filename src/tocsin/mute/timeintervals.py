"""Time intervals, with Alertmanager's syntax and semantics.

A named interval holds a list of specs; it contains an instant if any spec
does. A spec contains an instant if every field it sets does: ``times``
(``start_time`` inclusive, ``end_time`` exclusive, ``HH:MM``, 24:00 allowed),
``weekdays`` (``monday:friday``), ``days_of_month`` (``1:5``, ``-3:-1``
counting from the month's end), ``months`` (``january:march`` or ``1:3``),
``years`` (``2024:2026``), all evaluated in ``location`` (an IANA zone,
default UTC). Ranges are inclusive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tocsin import hookimpl
from tocsin.core.models import Alert
from tocsin.core.mute import MuteReason
from tocsin.dispatch.route import Route

if TYPE_CHECKING:
    from tocsin.core.facade import Facade

import calendar
import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tocsin.config.types import ConfigBase
from tocsin.config.validate import field_error

__all__ = [
    "DayOfMonthRange",
    "Location",
    "MonthRange",
    "NamedTimeInterval",
    "TimeInterval",
    "TimeRange",
    "WeekdayRange",
    "YearRange",
]

_WEEKDAYS = {d: i for i, d in enumerate(
    ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"])}
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_TIME_RE = re.compile(r"(?:([01][0-9]|2[0-3]):([0-5][0-9])|(24):(00))")  # used with fullmatch
# What Go's strconv.Atoi takes: an optional sign and ASCII digits, within int64.
_INT_RE = re.compile(r"[+-]?[0-9]+")


def _split(text: object, what: str) -> tuple[str, str]:
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise TypeError(f"expected a {what} or a {what} range such as 'a:b'")
    s = str(text).lower()
    if ":" in s:
        parts = s.split(":")
        if len(parts) != 2:
            raise ValueError(f"couldn't parse range {text!r}, invalid format")
        return parts[0], parts[1]
    return s, s


def _int(s: str, what: str) -> int:
    if _INT_RE.fullmatch(s) is None or not -(2**63) <= int(s) < 2**63:
        raise ValueError(f"{s!r} is not a valid {what}")
    return int(s)


class _Range:
    __slots__ = ("begin", "end")

    def __init__(self, begin: int, end: int) -> None:
        self.begin = begin
        self.end = end

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and (self.begin, self.end) == (other.begin, other.end)

    def __hash__(self) -> int:
        return hash((type(self), self.begin, self.end))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.begin}, {self.end})"


class WeekdayRange(_Range):
    @classmethod
    def from_config(cls, obj: object) -> WeekdayRange:
        a, b = _split(obj, "weekday")
        for d in (a, b):
            if d not in _WEEKDAYS:
                raise ValueError(f"{d!r} is not a valid weekday")
        r = cls(_WEEKDAYS[a], _WEEKDAYS[b])
        if r.begin > r.end:
            raise ValueError(f"start day cannot be after end day in {obj!r}")
        return r

    def contains(self, dt: datetime) -> bool:
        wd = (dt.weekday() + 1) % 7  # Python: Monday=0; Alertmanager: Sunday=0
        return self.begin <= wd <= self.end


class DayOfMonthRange(_Range):
    @classmethod
    def from_config(cls, obj: object) -> DayOfMonthRange:
        a, b = _split(obj, "day of month")
        r = cls(_int(a, "day of the month"), _int(b, "day of the month"))
        for d in (r.begin, r.end):
            if d == 0 or not -31 <= d <= 31:
                raise ValueError(f"{d} is not a valid day of the month: out of range")
        if r.begin < 0 < r.end:
            raise ValueError("end day must be negative if start day is negative")
        check_begin = 28 + r.begin if r.begin < 0 else r.begin
        check_end = 28 + r.end if r.end < 0 else r.end
        if check_begin > check_end:
            raise ValueError(f"end day {r.end} is always before start day {r.begin}")
        return r

    def contains(self, dt: datetime) -> bool:
        days = calendar.monthrange(dt.year, dt.month)[1]
        begin = days + self.begin + 1 if self.begin < 0 else self.begin
        end = days + self.end + 1 if self.end < 0 else self.end
        if begin > days:
            return False
        begin = max(-days, min(begin, days))
        end = max(-days, min(end, days))
        return begin <= dt.day <= end


class MonthRange(_Range):
    @classmethod
    def from_config(cls, obj: object) -> MonthRange:
        a, b = _split(obj, "month")
        vals = []
        for m in (a, b):
            v = _MONTHS.get(m)
            if v is None:
                v = _int(m, "month")
            # Alertmanager 0.25 takes any number here (13 simply never matches);
            # a config it loads must load here too.
            vals.append(v)
        r = cls(vals[0], vals[1])
        if r.begin > r.end:
            raise ValueError(f"end month {b} is before start month {a}")
        return r

    def contains(self, dt: datetime) -> bool:
        return self.begin <= dt.month <= self.end


class YearRange(_Range):
    @classmethod
    def from_config(cls, obj: object) -> YearRange:
        a, b = _split(obj, "year")
        r = cls(_int(a, "year"), _int(b, "year"))
        if r.begin > r.end:
            raise ValueError(f"end year {r.end} is before start year {r.begin}")
        return r

    def contains(self, dt: datetime) -> bool:
        return self.begin <= dt.year <= self.end


class Location(str):
    __slots__ = ()

    @classmethod
    def from_config(cls, obj: object) -> Location:
        if not isinstance(obj, str):
            raise TypeError("expected an IANA time zone name such as 'Europe/Berlin'")
        if obj in ("UTC", ""):
            return cls("UTC")
        if obj == "Local":  # the machine's local time, as in Alertmanager
            return cls("Local")
        try:
            ZoneInfo(obj)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {obj!r}") from None
        return cls(obj)

    @property
    def zone(self) -> tzinfo | None:
        """The zone; None for "Local" (``datetime.fromtimestamp`` then gives local time)."""
        if self == "Local":
            return None
        return ZoneInfo(self) if self != "UTC" else UTC


def _minutes(text: str) -> int:
    m = _TIME_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"couldn't parse timestamp {text!r}, expected HH:MM")
    h, mi = (m[1], m[2]) if m[1] is not None else (m[3], m[4])
    return int(h) * 60 + int(mi)


class TimeRange(ConfigBase, kw_only=True):
    start_time: str
    end_time: str

    def __post_init__(self) -> None:
        for f in ("start_time", "end_time"):
            try:
                _minutes(getattr(self, f))
            except ValueError as exc:
                raise field_error(f, str(exc)) from None
        if self.start_minute >= self.end_minute:
            raise field_error("end_time", "start time must be before end time")

    @property
    def start_minute(self) -> int:
        return _minutes(self.start_time)

    @property
    def end_minute(self) -> int:
        return _minutes(self.end_time)


class TimeInterval(ConfigBase, kw_only=True):
    times: list[TimeRange] | None = None
    weekdays: list[WeekdayRange] | None = None
    days_of_month: list[DayOfMonthRange] | None = None
    months: list[MonthRange] | None = None
    years: list[YearRange] | None = None
    location: Location | None = None

    def contains(self, ts: float) -> bool:
        zone = self.location.zone if self.location is not None else UTC
        dt = datetime.fromtimestamp(ts, zone)
        if self.times is not None:
            minute = dt.hour * 60 + dt.minute
            if not any(r.start_minute <= minute < r.end_minute for r in self.times):
                return False
        for ranges in (self.days_of_month, self.months, self.weekdays, self.years):
            if ranges is not None and not any(r.contains(dt) for r in ranges):
                return False
        return True


class NamedTimeInterval(ConfigBase, kw_only=True):
    name: str
    #: An empty value (null) is no specs, as in Alertmanager.
    time_intervals: list[TimeInterval] | None = []

    def __post_init__(self) -> None:
        if not self.name:
            raise field_error("name", "missing name in time interval")
        if self.time_intervals is None:
            self.time_intervals = []

    def contains(self, ts: float) -> bool:
        return any(ti.contains(ts) for ti in self.time_intervals or ())

@hookimpl
def tocsin_mute(runtime: Facade, alert: Alert, route: Route | None, now: float) -> MuteReason | None:
    if route is None:
        return None
    intervals = runtime.config.time_intervals
    active = route.opts.active_time_intervals
    if active and not any(intervals[n].contains(now) for n in active if n in intervals):
        return MuteReason("time_interval", tuple(f"outside {n}" for n in active))
    muting = tuple(n for n in route.opts.mute_time_intervals if n in intervals and intervals[n].contains(now))
    return MuteReason("time_interval", muting) if muting else None
