"""RFC 3339 timestamps as Alertmanager writes and reads them."""

from __future__ import annotations

from datetime import UTC, datetime

#: Go's zero time, which Alertmanager sends for "no end time".
ZERO_TIME = "0001-01-01T00:00:00Z"


def format_ts(ts: float) -> str:
    """Unix seconds to ``2024-05-01T12:00:00.123Z``; 0 becomes Go's zero time."""
    if ts <= 0:
        return ZERO_TIME
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def format_ts_nano(ts: float) -> str:
    """Go's ``RFC3339Nano``, which Alertmanager's webhook JSON uses: fraction without trailing zeros."""
    if ts <= 0:
        return ZERO_TIME
    dt = datetime.fromtimestamp(ts, UTC)
    frac = f".{dt.microsecond:06d}".rstrip("0") if dt.microsecond else ""
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + frac.rstrip(".") + "Z"


def from_datetime(dt: datetime | None) -> float:
    """A decoded timestamp to Unix seconds; None and Go's zero time become 0."""
    if dt is None or dt.year <= 1:
        return 0.0
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
