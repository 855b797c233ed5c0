"""Time series of incident and delivery history, bucketed in SQL both databases read.

The dashboard's charts draw these: incidents fired per bucket (an hour, say) with the
sums that make MTTA and MTTR per bucket, and delivery attempts per receiver per bucket.
Buckets are ``width`` seconds from ``since``; a bucket is numbered ``0, 1, ...`` and
only buckets holding a row are returned (the caller fills the gaps).

The bucket number is ``floor((t - since) / width)``. SQLite's ``CAST(x AS INTEGER)``
truncates and PostgreSQL's rounds, so the expression below takes the cast and steps
back one where it came out above ``x``: the floor on both (``x`` is never negative).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

__all__ = ["AttemptBucket", "IncidentBucket", "SeriesQueries"]


class IncidentBucket(msgspec.Struct, kw_only=True, frozen=True):
    """Incidents that fired in one bucket, and their response times."""

    bucket: int
    fired: int
    #: Of those, the acknowledged ones and the sum of their seconds to acknowledge
    #: (a negative time, from clock skew, counts as 0).
    acknowledged: int = 0
    ack_seconds: float = 0.0
    #: Of those, the resolved ones and the sum of their seconds to resolve.
    resolved: int = 0
    resolve_seconds: float = 0.0


class AttemptBucket(msgspec.Struct, kw_only=True, frozen=True):
    """Delivery attempts of one receiver in one bucket: successful and failed ones."""

    bucket: int
    receiver: str
    sent: int
    failed: int


def _bucketed(column: str, table: str, columns: str, sums: str, group: str = "") -> str:
    """``SELECT bucket, <group>, <sums>`` of ``table``'s rows with ``since <= column < until``;
    its parameters are ``since, width, since, until``."""
    extra = f", {group}" if group else ""
    return (
        f"SELECT b - CASE WHEN b > x THEN 1 ELSE 0 END AS bucket{extra}, {sums} FROM"
        f" (SELECT CAST(({column} - ?) / ? AS INTEGER) AS b, ({column} - ?) / ? AS x, {columns} FROM {table}"
        f"  WHERE {column} >= ? AND {column} < ?) AS t"
        f" GROUP BY 1{', 2' if group else ''} ORDER BY 1{', 2' if group else ''}"
    )


_INCIDENTS = _bucketed(
    "fired_at", "incidents", "fired_at, acknowledged_at, resolved_at, state",
    "COUNT(*),"
    " SUM(CASE WHEN acknowledged_at > 0 THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN acknowledged_at > fired_at THEN acknowledged_at - fired_at ELSE 0 END),"
    " SUM(CASE WHEN state = 'resolved' AND resolved_at > 0 THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN state = 'resolved' AND resolved_at > fired_at THEN resolved_at - fired_at ELSE 0 END)",
)

_ATTEMPTS = _bucketed(
    "at", "attempts", "receiver, error",
    "SUM(CASE WHEN error = '' THEN 1 ELSE 0 END), SUM(CASE WHEN error != '' THEN 1 ELSE 0 END)",
    group="receiver",
)


def _params(since: float, until: float, width: float) -> tuple[float, ...]:
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    since, width = float(since), float(width)
    return (since, width, since, width, since, float(until))


class SeriesQueries:
    """The bucketed queries, on a store's ``_fetch`` (a mixin of :class:`~tocsin.store.sql.SQLStore`)."""

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> Iterable[Sequence[Any]]:
        raise NotImplementedError

    async def incident_buckets(self, since: float, until: float, width: float) -> list[IncidentBucket]:
        """Incidents fired in ``[since, until)`` per ``width`` seconds, oldest bucket first."""
        found = await self._fetch(_INCIDENTS, _params(since, until, width))
        return [IncidentBucket(bucket=int(r[0]), fired=int(r[1]), acknowledged=int(r[2] or 0),
                               ack_seconds=float(r[3] or 0), resolved=int(r[4] or 0),
                               resolve_seconds=float(r[5] or 0)) for r in found]

    async def attempt_buckets(self, since: float, until: float, width: float) -> list[AttemptBucket]:
        """Delivery attempts in ``[since, until)`` per receiver per ``width`` seconds, by
        bucket then receiver."""
        found = await self._fetch(_ATTEMPTS, _params(since, until, width))
        return [AttemptBucket(bucket=int(r[0]), receiver=r[1], sent=int(r[2] or 0), failed=int(r[3] or 0))
                for r in found]
