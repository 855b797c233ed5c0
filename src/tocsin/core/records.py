"""The records tocsin keeps: incidents and their history, silences, remediation runs.

Plain msgspec Structs, shared by the stages that make them, the store that
keeps them, the events that carry them and the API that shows them. The
logic around each lives with its stage: :mod:`tocsin.incidents`,
:mod:`tocsin.mute.silences`, :mod:`tocsin.remediation.engine`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tocsin.core.matchers import Matcher, MatchType

__all__ = [
    "ACKNOWLEDGED", "FIRING", "RESOLVED", "Escalation", "HistoryEvent", "Incident", "Outcome",
    "RemediationRun", "Rendered", "Silence", "SilenceMatcher",
]

# -- incidents --------------------------------------------------------------------------

FIRING = "firing"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"


# Untracked by the cyclic collector (gc=False): it never holds a cycle (tocsin.daemon.heap).
class Escalation(msgspec.Struct, kw_only=True, gc=False):
    """Where an incident is in its route's escalation policy."""

    policy: str
    route_id: str
    #: The route's own receiver: the group notifies it, so levels skip it.
    receiver: str
    group_key: str
    group_labels: dict[str, str]
    #: Index of the next step; steps past the policy's last level repeat it.
    step: int = 0
    #: Wall-clock time the next step is due; 0 when none is left.
    next_at: float = 0.0
    #: Receivers escalation has notified so far (they hear of acknowledgements too).
    notified: list[str] = []


# Untracked by the cyclic collector (gc=False): it never holds a cycle (tocsin.daemon.heap).
class Incident(msgspec.Struct, kw_only=True, gc=False):
    id: str
    fingerprint: str
    labels: dict[str, str]
    state: str = FIRING
    fired_at: float
    last_seen: float
    #: The alert's own start time (``startsAt``), as its sender gave it; 0 in incidents
    #: stored before it was kept.
    starts_at: float = 0.0
    #: Times this incident was posted (first post included).
    occurrences: int = 1
    acknowledged_at: float = 0.0
    acknowledged_by: str = ""
    ack_note: str = ""
    #: When the acknowledgement runs out (``ack --for``, a policy's ``ack_timeout``); 0: never.
    ack_until: float = 0.0
    resolved_at: float = 0.0
    resolved_by: str = ""
    #: How it resolved: ``resolved`` (its sender said so), ``expired`` (no re-post
    #: before its end time), ``manual`` (someone resolved it).
    resolution: str = ""
    #: Why it was muted at the last flush (``silence:<id>``, ``inhibition:<fp>``...).
    muted_by: list[str] = []
    escalation: Escalation | None = None
    #: What its alert came in through (``api_v2``, ``native``, ``alertmanager_webhook``,
    #: ``restore``...). Its "fired" history event is read from the incident, not kept as a
    #: history row of its own (:func:`tocsin.store.rows.fired_event`); "" in incidents
    #: stored before, whose "fired" event is a row.
    source: str = ""
    #: The incident of the same alert before this one, if any ("" if none).
    previous: str = ""

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def open(self) -> bool:
        return self.state != RESOLVED


class HistoryEvent(msgspec.Struct, kw_only=True):
    id: int = 0
    at: float
    alert_id: str
    fingerprint: str
    kind: str
    actor: str = ""
    detail: dict[str, Any] = {}


# -- silences ---------------------------------------------------------------------------


class SilenceMatcher(msgspec.Struct, frozen=True, rename={"is_regex": "isRegex", "is_equal": "isEqual"}):
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def to_matcher(self) -> Matcher:
        if self.is_regex:
            t = MatchType.REGEX if self.is_equal else MatchType.NOT_REGEX
        else:
            t = MatchType.EQUAL if self.is_equal else MatchType.NOT_EQUAL
        return Matcher.create(self.name, t, self.value)

    @classmethod
    def from_matcher(cls, m: Matcher) -> SilenceMatcher:
        return cls(m.name, m.value, m.type.is_regex, not m.type.is_negative)


class Silence(msgspec.Struct, kw_only=True):
    id: str = ""
    matchers: tuple[SilenceMatcher, ...]
    starts_at: float
    ends_at: float
    updated_at: float = 0.0
    created_by: str = ""
    comment: str = ""

    def state(self, now: float) -> str:
        if now < self.starts_at:
            return "pending"
        if now < self.ends_at:
            return "active"
        return "expired"

    def compiled(self) -> tuple[Matcher, ...]:
        return tuple(m.to_matcher() for m in self.matchers)


# -- remediation runs -------------------------------------------------------------------


class Rendered(msgspec.Struct, kw_only=True):
    """What a run will do, exactly, with no secrets in it."""

    #: One line for lists: ``argv: /usr/bin/restart-app --instance db1`` or ``POST https://...``.
    summary: str
    #: Kind-specific: ``{"argv": [...]}``, ``{"method", "url", "headers", "body"}``, ...
    detail: dict[str, Any] = {}


class Outcome(msgspec.Struct, kw_only=True):
    ok: bool
    exit_code: int | None = None
    http_status: int | None = None
    #: Captured output (stdout and stderr, or the response body), cut to MAX_OUTPUT.
    output: str = ""
    error: str = ""


class RemediationRun(msgspec.Struct, kw_only=True):
    id: str
    remediation: str
    kind: str
    fingerprint: str
    alert_id: str = ""
    labels: dict[str, str] = {}
    route_id: str = ""
    receiver: str = ""
    state: str
    #: Why it is in this state when that is not obvious (skipped, cancelled, failed to render).
    reason: str = ""
    #: What started it: ``route <id>``, then ``approved by <who>``.
    trigger: str
    confidence: str | None = None
    #: The remediation's ``description`` when the run was made, shown to approvers.
    description: str = ""
    dry_run: bool = False
    created_at: float
    started_at: float = 0.0
    finished_at: float = 0.0
    duration: float = 0.0
    rendered: Rendered | None = None
    outcome: Outcome | None = None
    decided_by: str = ""
    decided_at: float = 0.0
    note: str = ""
    #: For a succeeded run with ``verify``: ``resolved`` (its alert resolved in time) or
    #: ``ineffective`` (it still fired); empty until known.
    verdict: str = ""
    #: When a succeeded run with ``verify`` is judged (kept so the judgement survives a restart).
    verify_by: float = 0.0
    #: A step of a ``then:`` chain: the id of the ineffective run it follows.
    after: str = ""

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")
