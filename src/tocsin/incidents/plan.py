"""Incidents: the lifecycle tocsin adds to Alertmanager's alerts.

An alert (one fingerprint) fires, may be acknowledged, and resolves. Each
firing run of a fingerprint is one :class:`Incident` with its own id: a
re-post of a firing alert counts as another occurrence of the same
incident, while an alert that fires again after it resolved (by its
sender, by timing out, or by hand) opens a new one.

Every state change is a :class:`HistoryEvent`: fired, updated, muted,
unmuted, acknowledged, unacknowledged, notified, escalated, resolved,
expired. Each is a history row but "fired", which the incident implies (its
``fired_at``, ``source``, ``starts_at`` and ``previous``; see
:func:`tocsin.store.rows.fired_event`); and an incident as it opened (re-posts
aside) is implied by its alert's row (:func:`tocsin.store.implied.impliable`):
a fresh alert writes one row. An incident and its history rows are written
together with the alert, in the transaction that makes the alert durable.

The current incident of each fingerprint is held in memory, like the alert
itself; resolved ones stay in the store for history and statistics until
the history retention passes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tocsin.core.models import Alert
from tocsin.core.records import ACKNOWLEDGED, FIRING, RESOLVED, Escalation, HistoryEvent, Incident

__all__ = [
    "ACKNOWLEDGED", "FIRING", "ID_LENGTH", "KINDS", "RESOLVED", "Escalation", "HistoryEvent", "Incident",
    "IncidentAmbiguous", "IncidentConflict", "IncidentNotFound", "Plan", "new_id",
]

STATES = (FIRING, ACKNOWLEDGED, RESOLVED)

#: Every kind of history row.
KINDS = ("fired", "updated", "muted", "unmuted", "acknowledged", "unacknowledged", "notified",
         "escalated", "resolved", "expired", "remediation")


class IncidentNotFound(LookupError):
    pass


class IncidentAmbiguous(IncidentNotFound):
    """A short reference names more than one incident: ``count`` of them, ``candidates``
    the newest few. (A kind of not found: no one incident is named.)"""

    def __init__(self, ref: str, count: int, candidates: list[Incident]) -> None:
        super().__init__(ref)
        self.ref = ref
        self.count = count
        self.candidates = candidates


class IncidentConflict(ValueError):
    """The change does not apply in the incident's state (acknowledging a resolved alert)."""


_random = random.Random()  # ids need to be unique, not unguessable; urandom costs a syscall


#: Characters in an incident id.
ID_LENGTH = 32


def new_id(now: float | None = None, fingerprint: str = "") -> str:
    """32 hex digits: milliseconds since the epoch, then the alert's fingerprint (16 hex
    digits) and 16 random bits, or 80 random bits without one. Ids sort by creation time,
    so the store appends to its index instead of splitting pages; one that holds its
    fingerprint finds the alert row that implies its incident (:mod:`tocsin.store.implied`)."""
    ms = int((time.time() if now is None else now) * 1000)
    if len(fingerprint) == 16:
        return f"{ms:012x}{fingerprint}{_random.getrandbits(16):04x}"
    return f"{ms:012x}{_random.getrandbits(80):020x}"


@dataclass(slots=True)
class Plan:
    """What ingest will write for a batch: incidents and history rows. Installed
    in memory only once the write is durable."""

    incidents: dict[str, Incident] = field(default_factory=dict)
    history: list[HistoryEvent] = field(default_factory=list)
    #: Fingerprints of incidents that opened (to start expiry and escalation for).
    opened: list[str] = field(default_factory=list)
    #: Fingerprints of incidents that resolved (to stop their timers).
    closed: list[str] = field(default_factory=list)


def plan_alert(
    plan: Plan, current: Incident | None, alert: Alert, existing: Alert | None, now: float,
    *, source: str,
) -> None:
    """Decide what a posted (and merged) alert does to its incident."""
    fp = alert.fingerprint
    inc = plan.incidents.get(fp, current)
    if not alert.resolved(now):
        if inc is None or inc.state == RESOLVED:
            # Its "fired" event is implied by the incident row (rows.fired_event), not a row.
            plan.incidents[fp] = Incident(
                id=new_id(now, fp), fingerprint=fp, labels=alert.labels, fired_at=now, last_seen=now,
                starts_at=alert.starts_at, source=source, previous="" if inc is None else inc.id)
            plan.opened.append(fp)
            return
        updated = msgspec.structs.replace(inc, occurrences=inc.occurrences + 1, last_seen=now,
                                          starts_at=alert.starts_at)
        plan.incidents[fp] = updated
        if existing is not None and existing.annotations != alert.annotations:
            changed = sorted(k for k in existing.annotations.keys() | alert.annotations.keys()
                             if existing.annotations.get(k) != alert.annotations.get(k))
            plan.history.append(HistoryEvent(at=now, alert_id=inc.id, fingerprint=fp, kind="updated",
                                             actor=source, detail={"annotations": changed}))
        return
    if inc is None or inc.state == RESOLVED:
        return  # a resolved notice for an alert tocsin did not hold as firing
    plan.incidents[fp] = resolved(inc, now, by=source, resolution="resolved")
    plan.closed.append(fp)
    plan.history.append(HistoryEvent(at=now, alert_id=inc.id, fingerprint=fp, kind="resolved",
                                     actor=source, detail={"ends_at": alert.ends_at}))


def resolved(inc: Incident, at: float, *, by: str, resolution: str) -> Incident:
    esc = inc.escalation
    if esc is not None and esc.next_at:
        esc = msgspec.structs.replace(esc, next_at=0.0)
    return msgspec.structs.replace(inc, state=RESOLVED, resolved_at=at, resolved_by=by,
                                   resolution=resolution, escalation=esc)


def mute_keys(reasons: Iterable[Any]) -> list[str]:
    """``MuteReason``s as sorted ``kind:id`` strings."""
    out = set()
    for r in reasons:
        ids = getattr(r, "ids", ()) or ("",)
        for i in ids:
            out.add(f"{r.kind}:{i}" if i else r.kind)
    return sorted(out)

