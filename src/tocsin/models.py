"""Alerts as tocsin holds them, and the notification a group flush produces."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

__all__ = ["Alert", "Notification", "PostableAlert"]


class PostableAlert(msgspec.Struct, rename={"starts_at": "startsAt", "ends_at": "endsAt",
                                            "generator_url": "generatorURL"}):
    """One alert of ``POST /api/v2/alerts``, as Prometheus sends it."""

    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""


class Alert(msgspec.Struct, kw_only=True, gc=False):
    """An alert after ingest. Times are Unix seconds; 0 means unset.

    ``ends_at`` is always set once ingested: either the sender's, or
    ``now + resolve_timeout`` with ``timeout`` true, as Alertmanager does.
    """

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: float
    ends_at: float
    generator_url: str = ""
    updated_at: float = 0.0
    timeout: bool = False

    def resolved(self, now: float) -> bool:
        return 0 < self.ends_at <= now

    def status(self, now: float) -> str:
        return "resolved" if self.resolved(now) else "firing"


def sort_key(alert: Alert) -> tuple[Any, ...]:
    """Alertmanager's notification order: by job, then instance, then the label set."""
    labels = alert.labels
    parts: list[Any] = []
    for name in ("job", "instance"):
        value = labels.get(name)
        # Alerts that have the label sort before alerts that lack it.
        parts.append((0, value) if value is not None else (1, ""))
    parts.append(sorted(labels.items()))
    return tuple(parts)


class Notification(msgspec.Struct, kw_only=True):
    """What a group flush hands to the notify hook.

    ``alerts`` are snapshots taken at the flush: a firing alert's ``ends_at``
    is 0 so that it cannot resolve while it is being delivered.
    """

    receiver: str
    group_key: str
    group_labels: dict[str, str]
    alerts: list[Alert]
    now: float
    route_id: str = ""
    repeat_interval: float = 4 * 3600.0
    group_interval: float = 300.0

    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if not a.resolved(self.now)]

    def resolved(self) -> list[Alert]:
        return [a for a in self.alerts if a.resolved(self.now)]
