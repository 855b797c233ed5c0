"""Typed events carried by the bus. Plugins observe them through ``tocsin_observe``."""

from __future__ import annotations

import msgspec

from tocsin.core.models import Alert
from tocsin.core.records import Incident

__all__ = [
    "AlertAcknowledged",
    "AlertReceived",
    "AlertResolved",
    "AlertUnacknowledged",
    "AlertUpdated",
    "ConfigReloaded",
    "Event",
    "GroupFlushed",
    "NotificationFailed",
    "NotificationSent",
]


class Event(msgspec.Struct, tag=True, kw_only=True):
    at: float


class AlertReceived(Event):
    """An alert that tocsin did not hold as firing before (new, or firing again)."""

    alert: Alert


class AlertUpdated(Event):
    """A firing alert changed in a way receivers may care about (annotations, explicit end)."""

    alert: Alert


class AlertResolved(Event):
    """A firing alert was posted with an end time in the past."""

    alert: Alert


class AlertAcknowledged(Event):
    """Someone took an alert: escalation and repeat notifications stop."""

    incident: Incident
    by: str
    note: str = ""


class AlertUnacknowledged(Event):
    """An acknowledgement was withdrawn: escalation resumes."""

    incident: Incident
    by: str
    note: str = ""


class GroupFlushed(Event):
    group_key: str
    receiver: str
    firing: int
    resolved: int
    muted: int


class NotificationSent(Event):
    group_key: str
    receiver: str
    integration: str
    alerts: int
    attempts: int
    latency: float


class NotificationFailed(Event):
    group_key: str
    receiver: str
    integration: str
    alerts: int
    attempts: int
    error: str


class ConfigReloaded(Event):
    success: bool
    error: str = ""


#: Events the dispatcher consumes.
ALERT_EVENTS = (AlertReceived, AlertUpdated, AlertResolved)
