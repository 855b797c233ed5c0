"""Muting: one answer shape for every muter (inhibition, silences, time intervals)."""

from __future__ import annotations

import msgspec

__all__ = ["MuteReason"]


class MuteReason(msgspec.Struct, frozen=True):
    """Why an alert is muted: ``kind`` is e.g. "silence", "inhibition", "time_interval";
    ``ids`` name the silences, inhibiting alerts' fingerprints or intervals."""

    kind: str
    ids: tuple[str, ...] = ()
