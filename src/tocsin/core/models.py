"""Alerts as tocsin holds them, and the notification a group flush produces."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING, Any

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
        # 0 is "no end" (Go's zero time); any other end, before 1970 too, is a real time.
        return self.ends_at != 0 and self.ends_at <= now

    def status(self, now: float) -> str:
        return "resolved" if self.resolved(now) else "firing"

    if TYPE_CHECKING:  # msgspec gives every Struct a shallow __copy__; its stubs do not say so

        def __copy__(self) -> Alert: ...


def _compare_labelsets(a: dict[str, str], b: dict[str, str]) -> int:
    """Prometheus' ``LabelSet.Before`` as a comparison: fewer labels first; for as
    many labels, the first name (in sorted order) where the sets differ decides,
    the set lacking that name sorting first, else the smaller value."""
    if len(a) != len(b):
        return -1 if len(a) < len(b) else 1
    for name in sorted(a.keys() | b.keys()):
        av, bv = a.get(name), b.get(name)
        if av is None:
            return -1
        if bv is None:
            return 1
        if av != bv:
            return -1 if av < bv else 1
    return 0


def _compare(x: Alert, y: Alert) -> int:
    for name in ("job", "instance"):
        xv, yv = x.labels.get(name), y.labels.get(name)
        if xv is None and yv is None:
            continue
        # Alerts that have the label sort before alerts that lack it.
        if xv is None:
            return 1
        if yv is None:
            return -1
        if xv != yv:
            return -1 if xv < yv else 1
    return _compare_labelsets(x.labels, y.labels)


_key = functools.cmp_to_key(_compare)

#: Sort key for label sets in Prometheus' ``LabelSet.Before`` order.
labelset_key = functools.cmp_to_key(_compare_labelsets)


def sort_key(alert: Alert) -> Any:
    """Alertmanager's notification order (``AlertSlice.Less``): by job, then
    instance, then the label set."""
    return _key(alert)


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
    #: Empty for a group's notification. For a notice about the alerts' lifecycle:
    #: ``acknowledged``, ``unacknowledged``, ``escalated`` or ``remediation``, with who
    #: (``actor``) and why (``note``). See docs/plugin-hooks.md, "What send() receives".
    event: str = ""
    actor: str = ""
    note: str = ""
    #: Set per integration by delivery: the same for a resend of the same notification
    #: (a retry, or the resend after a crash between the receiver's answer and the
    #: notification log's write), different for anything else, a reminder included.
    #: Webhooks carry it as ``X-Tocsin-Notification-Id`` so receivers can drop repeats.
    id: str = ""

    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if not a.resolved(self.now)]

    def resolved(self) -> list[Alert]:
        return [a for a in self.alerts if a.resolved(self.now)]
