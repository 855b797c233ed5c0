"""The stats page's series, from the store's bucketed queries (:mod:`tocsin.store.series`).

Everything here is pure: the page reads the store and the clock and passes them in.
Hourly buckets are counted from the window's start; local days and the hour of the
week are taken from each hour's start in the page's time zone (exact in zones whose
offset is whole hours). :func:`embed` writes the data a chart draws into the page,
where ``static/charts.js`` reads it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

import msgspec

from tocsin.store.series import AttemptBucket, IncidentBucket

__all__ = [
    "HOUR", "WEEKDAYS", "Bar", "Heatmap", "bars", "delivery_series", "embed", "hour_of_week",
    "hourly_counts", "level", "response_series",
]

HOUR = 3600.0
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: Shades of a heatmap cell (``level`` 0 is an empty cell).
LEVELS = 5
#: Steps of a bar's width (CSS classes ``w0`` .. ``w20``: no inline style passes the CSP).
WIDTH_STEPS = 20


def level(count: int, most: int, levels: int = LEVELS) -> int:
    """The shade of ``count`` among counts up to ``most``: 0 for none, else 1..levels."""
    if count <= 0 or most <= 0:
        return 0
    return max(1, min(levels, -(-count * levels // most)))


def hourly_counts(buckets: Iterable[IncidentBucket], since: float,
                  hours: int) -> tuple[list[float], list[int]]:
    """The start of each hour of the window and the incidents fired in it (0 where none)."""
    counts = [0] * hours
    for b in buckets:
        if 0 <= b.bucket < hours:
            counts[b.bucket] += b.fired
    return [since + i * HOUR for i in range(hours)], counts


@dataclass(slots=True)
class Heatmap:
    #: ``cells[day][hour]``: incidents fired in that hour of the week, Monday first.
    cells: list[list[int]]
    most: int

    def level(self, day: int, hour: int) -> int:
        return level(self.cells[day][hour], self.most)


def hour_of_week(buckets: Iterable[IncidentBucket], since: float, zone: tzinfo) -> Heatmap:
    """Hourly buckets summed by weekday and hour in ``zone``."""
    cells = [[0] * 24 for _ in WEEKDAYS]
    for b in buckets:
        local = datetime.fromtimestamp(since + b.bucket * HOUR, zone)
        cells[local.weekday()][local.hour] += b.fired
    return Heatmap(cells, max(max(row) for row in cells))


def _period_starts(since: float, until: float, zone: tzinfo, daily: bool) -> list[float]:
    if not daily:
        return [since + i * HOUR for i in range(int(-(-(until - since) // HOUR)))]
    day = datetime.fromtimestamp(since, zone).date()
    last = datetime.fromtimestamp(until - 1e-6, zone).date()
    out = []
    while day <= last:
        out.append(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())
        day += timedelta(days=1)
    return out


def _period_of(starts: Sequence[float], ts: float) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:  # the last start at or before ts
        mid = (lo + hi + 1) // 2
        if starts[mid] <= ts:
            lo = mid
        else:
            hi = mid - 1
    return lo


def response_series(buckets: Iterable[IncidentBucket], since: float, until: float, zone: tzinfo,
                    *, daily: bool) -> tuple[list[float], list[float | None], list[float | None]]:
    """Per period (a local day, or an hour): its start, MTTA and MTTR in seconds (mean time
    to acknowledge and to resolve the incidents that fired in it; None without any)."""
    starts = _period_starts(since, until, zone, daily)
    sums = [[0, 0.0, 0, 0.0] for _ in starts]
    for b in buckets:
        s = sums[_period_of(starts, since + b.bucket * HOUR)]
        s[0] += b.acknowledged
        s[1] += b.ack_seconds
        s[2] += b.resolved
        s[3] += b.resolve_seconds
    mtta = [s[1] / s[0] if s[0] else None for s in sums]
    mttr = [s[3] / s[2] if s[2] else None for s in sums]
    return starts, mtta, mttr


def delivery_series(buckets: Iterable[AttemptBucket], since: float, width: float,
                    count: int) -> tuple[list[float], dict[str, list[float | None]]]:
    """Per ``width`` seconds from ``since``: each receiver's share of successful attempts,
    in percent (None where it had none)."""
    sums: defaultdict[str, list[list[int]]] = defaultdict(lambda: [[0, 0] for _ in range(count)])
    for b in buckets:
        if 0 <= b.bucket < count:
            pair = sums[b.receiver][b.bucket]
            pair[0] += b.sent
            pair[1] += b.failed
    series = {name: [round(100.0 * s / (s + f), 2) if s + f else None for s, f in pairs]
              for name, pairs in sorted(sums.items())}
    return [since + i * width for i in range(count)], series


@dataclass(slots=True)
class Bar:
    """One bar of an HTML bar chart: its label, value, text and width step (``w0``..``w20``)."""

    label: str
    value: float
    text: str
    width: int
    title: str = ""


def bars(items: Iterable[tuple[str, float, str, str]], most: float | None = None) -> list[Bar]:
    """``(label, value, text, title)`` as bars, the widest for ``most`` (the largest value)."""
    found = list(items)
    top = most if most is not None else max((v for _, v, _, _ in found), default=0)
    return [Bar(label, value, text, round(WIDTH_STEPS * value / top) if top > 0 else 0, title)
            for label, value, text, title in found]


def embed(data: Any) -> str:
    """``data`` as JSON to place in a ``<script type="application/json">``: no ``<``, ``>``
    or ``&`` in it, so no text (an alert's name) can close the element or open a comment."""
    text = msgspec.json.encode(data).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
