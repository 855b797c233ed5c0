"""RFC 3339 timestamps as Alertmanager writes and reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

#: Go's zero time, which Alertmanager sends for "no end time".
ZERO_TIME = "0001-01-01T00:00:00Z"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The last instant RFC 3339 can write (9999-12-31T23:59:59.999Z); later times are refused
#: where they come in, and written as this if one gets past.
MAX_TS = 253402300799.999
#: The first instant after Go's zero day (0001-01-02T00:00:00Z).
_MIN_TS = -62135510400.0


def _utc(ts: float) -> datetime:
    if 0 < ts <= MAX_TS:  # the common case, at half the cost of the general one
        return datetime.fromtimestamp(ts, UTC)
    # Epoch plus a delta: works for times before 1970 on every platform, and never raises.
    return _EPOCH + timedelta(seconds=min(max(ts, _MIN_TS), MAX_TS))


def past_max(ts: float) -> bool:
    """Whether a time is after the last one RFC 3339 (and Alertmanager's JSON) can write."""
    return ts > MAX_TS


def format_ts(ts: float) -> str:
    """Unix seconds to ``2024-05-01T12:00:00.123Z``; 0 becomes Go's zero time."""
    if ts == 0:
        return ZERO_TIME
    dt = _utc(ts)
    return dt.isoformat(timespec="milliseconds")[:-6] + "Z"  # the year padded, as Go; "+00:00" cut


def format_ts_nano(ts: float) -> str:
    """Go's ``RFC3339Nano``, which Alertmanager's webhook JSON uses: fraction without trailing zeros."""
    if ts == 0:
        return ZERO_TIME
    dt = _utc(ts)
    # isoformat (years padded to four digits, as Go) in place of strftime, at half its cost:
    # "2023-11-14T22:13:20.050000+00:00", its offset cut, its fraction's trailing zeros too.
    text = dt.isoformat()[:-6]
    return (text.rstrip("0") if dt.microsecond else text) + "Z"


def from_datetime(dt: datetime | None) -> float:
    """A decoded timestamp to Unix seconds; None and Go's zero time become 0."""
    if dt is None or dt.year <= 1:
        return 0.0
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
