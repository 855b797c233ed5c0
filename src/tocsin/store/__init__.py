"""Durable state behind one interface.

The daemon keeps hot state (alerts, the notification log) in memory and
writes through a :class:`Store`. A write returns once it is durable
(committed), which is what lets the API answer 2xx. The SQLite store
(:mod:`tocsin.store.sqlite`) is the default; the PostgreSQL store
(:mod:`tocsin.store.postgres`) implements the same methods on a database
server (``storage.url``). :func:`tocsin.store.factory.make_store` builds the one
the config names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

import msgspec

from tocsin.core.models import Alert, Notification

if TYPE_CHECKING:
    from tocsin.core.records import HistoryEvent, Incident, RemediationRun, Silence
    from tocsin.store.notices import Notice
    from tocsin.store.series import AttemptBucket, IncidentBucket

__all__ = [
    "Attempt", "AttemptCount", "ConfigLoad", "DeadLetter", "HeartbeatSeen", "IncidentQuery", "NflogEntry",
    "StorageError", "Store",
]


class StorageError(Exception):
    """The store could not make a write durable (disk full, read-only, its file removed...)."""


# Untracked by the cyclic collector (gc=False): it never holds a cycle (tocsin.daemon.heap).
class NflogEntry(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What a receiver's integration was last told about a group."""

    group_key: str
    receiver: str
    integration: str
    firing: frozenset[str]
    resolved: frozenset[str]
    sent_at: float
    expires_at: float


class Attempt(msgspec.Struct, kw_only=True):
    """One try at delivering one notification through one integration."""

    id: int = 0
    at: float
    receiver: str
    integration: str
    group_key: str
    attempt: int
    #: HTTP (or SMTP) status when there was an answer.
    status: int | None = None
    latency: float
    error: str = ""


class DeadLetter(msgspec.Struct, kw_only=True):
    """A notification that exhausted its retries, kept for replay."""

    id: int = 0
    at: float
    receiver: str
    integration: str
    group_key: str
    attempts: int
    error: str
    notification: Notification


class AttemptCount(msgspec.Struct, kw_only=True):
    """Delivery attempts of one integration in a time range: successful ones
    (a notification sent) and failed ones."""

    receiver: str
    integration: str
    sent: int
    failed: int


class HeartbeatSeen(msgspec.Struct, kw_only=True):
    """One heartbeat (one value of its ``per`` labels): when a beat was last seen, and
    whether tocsin has declared it missing."""

    name: str
    #: The ``per`` labels' values, as a key (``""`` for a heartbeat without ``per``).
    key: str
    labels: dict[str, str] = {}
    #: Unix seconds of the last beat; None when none has been seen.
    last_seen: float | None = None
    missing: bool = False


class ConfigLoad(msgspec.Struct, kw_only=True):
    """A config the daemon put in force (at start, on taking the lead, at a reload): the
    hash of its text, when, and ``routing``: the parts that decide where alerts go and
    when they are muted (JSON; no secrets), which ``tocsin replay`` replays history through."""

    hash: str
    loaded_at: float
    #: ``start`` or ``reload``.
    reason: str
    routing: str


class IncidentQuery(msgspec.Struct, kw_only=True):
    """Incidents by state, severity and firing time (``since`` <= fired_at < ``until``),
    newest first; ``limit``/``offset`` page through them."""

    states: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None
    limit: int | None = None
    offset: int = 0


class Store(Protocol):
    @property
    def failure(self) -> str | None:
        """Why the store refuses every write now, or None: until a restart (SQLite: its
        database file was removed or replaced while open; :attr:`needs_restart`), or
        until the database can be reached again (PostgreSQL, checked every second). Ingest
        answers 503 and ``/-/ready`` is red with this reason meanwhile. A failure of one
        write (a full disk, a refused row) is no failure: that write raises StorageError,
        and the next may succeed."""

    @property
    def needs_restart(self) -> bool:
        """Whether :attr:`failure` is one only a restart mends (the daemon then stops
        pinging systemd's watchdog); False while there is none, and for one that passes."""

    async def recover(self) -> None:
        """Try now to mend a :attr:`failure` that passes (SQLite: commit again journaled
        writes whose commit failed); raises StorageError while it fails. Ingest tries this
        before it refuses a request."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def load_alerts(self) -> list[Alert]: ...

    async def save_alerts(self, alerts: Sequence[Alert]) -> None:
        """Insert or replace; durable when it returns. Raises StorageError."""

    async def save(
        self,
        *,
        alerts: Sequence[Alert] = (),
        incidents: Sequence[Incident] = (),
        history: Sequence[HistoryEvent] = (),
        runs: Sequence[RemediationRun] = (),
        journal: bool = False,
    ) -> None:
        """Alerts, incidents and remediation runs inserted or replaced, history rows
        appended, in one transaction; durable when it returns. Raises StorageError.
        ``journal``: durable once journaled, where the store keeps a journal as durable as
        its commit (SQLite with ``synchronous: NORMAL``, :mod:`tocsin.store.journal`); the
        commit follows, and reads wait for it."""

    async def delete_alerts(self, fingerprints: Iterable[str], keep: Sequence[Incident] = ()) -> None:
        """Alerts deleted; ``keep``, open incidents of theirs, written as rows first (an
        alert's row may be what holds its incident)."""

    async def load_nflog(self, now: float) -> list[NflogEntry]:
        """Entries not yet expired at ``now``."""

    async def save_nflog(self, entry: NflogEntry) -> None: ...

    async def save_delivery(self, entry: NflogEntry, history: Sequence[HistoryEvent],
                            attempt: Attempt | None = None) -> None:
        """What a delivered notification leaves, in one transaction: its notification-log
        ``entry`` (as :meth:`save_nflog` writes it), its incidents' "notified" ``history``
        and the ``attempt`` that sent it; durable when it returns. Raises StorageError.
        The "notified" events of one notification are stored as one notice
        (:mod:`tocsin.store.notices`) and read back as history events."""

    async def expire_nflog(self, now: float) -> int: ...

    async def save_silences(self, silences: Sequence[Silence]) -> None: ...

    async def load_silences(self) -> list[Silence]: ...

    async def delete_silences(self, ids: Iterable[str]) -> None: ...

    async def save_attempt(self, attempt: Attempt) -> None: ...

    def post_attempt(self, attempt: Attempt) -> None:
        """Queued for the next commit, not waited for (a failed commit is logged): it is
        committed with the next write or before it. Raises StorageError when closed."""

    async def load_attempts(self, limit: int = 100) -> list[Attempt]: ...

    async def expire_attempts(self, before: float) -> None: ...

    async def save_dead_letter(self, dead_letter: DeadLetter) -> None:
        """Insert or replace by ``id`` (the caller assigns ids)."""

    async def load_dead_letters(self) -> list[DeadLetter]: ...

    async def delete_dead_letters(self, dead_letter_ids: Iterable[int]) -> None:
        """Delete these dead letters, in one transaction."""

    async def load_open_incidents(self) -> list[Incident]: ...

    async def get_incident(self, incident_id: str) -> Incident | None: ...

    async def latest_incident(self, fingerprint: str) -> Incident | None: ...

    async def incidents_named(self, ref: str, limit: int) -> tuple[int, list[Incident]]:
        """What a short reference (lowercase hex digits) names: the incidents whose id
        starts or ends with ``ref``, and the latest incident of each fingerprint that starts
        with it. How many there are, and up to ``limit`` of them, newest first."""

    async def shared_refs(self, refs: Sequence[str], length: int) -> set[str]:
        """Those of ``refs`` (``length`` characters each) that could name more than one
        incident: the end of two ids, or the end of one and the start of another id or
        of a fingerprint."""

    async def query_incidents(self, q: IncidentQuery) -> list[Incident]: ...

    async def load_history(self, alert_id: str) -> list[HistoryEvent]:
        """One incident's history, oldest first, its "fired" event included (a row, or
        implied by the incident's row)."""

    async def history_between(
        self, since: float, until: float, kinds: Sequence[str] = ()
    ) -> list[HistoryEvent]: ...

    async def attempt_counts(self, since: float, until: float) -> list[AttemptCount]: ...

    async def incident_buckets(self, since: float, until: float, width: float) -> list[IncidentBucket]:
        """Incidents fired in ``[since, until)`` per ``width`` seconds (:mod:`tocsin.store.series`)."""

    async def attempt_buckets(self, since: float, until: float, width: float) -> list[AttemptBucket]:
        """Delivery attempts per receiver per ``width`` seconds (:mod:`tocsin.store.series`)."""
    async def history_page(
        self, since: float, until: float, kinds: Sequence[str], after_id: int, limit: int
    ) -> list[tuple[HistoryEvent, Incident]]:
        """Up to ``limit`` history rows of ``kinds`` with ``since`` <= at < ``until`` and an id
        above ``after_id``, by id, each with its incident (rows whose incident is gone are
        left out): the history read a page at a time."""

    async def notices_page(self, since: float, until: float, after_id: int, limit: int) -> list[Notice]:
        """Up to ``limit`` notices (a notification delivered, its "notified" events) with
        ``since`` <= at < ``until`` and an id above ``after_id``, by id."""

    async def fired_page(
        self, since: float, until: float, after: tuple[float, str], limit: int
    ) -> list[Incident]:
        """Up to ``limit`` incidents fired in ``[since, until)`` after ``after`` (a
        ``(fired_at, id)``), by firing time then id: the incidents whose "fired" event is
        implied (:func:`tocsin.store.rows.fired_event`) read a page at a time."""

    async def incidents_open_at(self, at: float) -> list[Incident]:
        """The incidents fired before ``at`` and not resolved by then."""

    async def attempts_page(self, since: float, until: float, after_id: int, limit: int) -> list[Attempt]:
        """Up to ``limit`` delivery attempts with ``since`` <= at < ``until`` and an id above
        ``after_id``, by id."""

    async def save_config_load(self, load: ConfigLoad) -> None:
        """Record a config put in force; durable when it returns."""

    async def config_loads(self, until: float) -> list[ConfigLoad]:
        """The configs put in force before ``until``, oldest first."""

    async def load_runs(self, since: float) -> list[RemediationRun]:
        """Remediation runs created since ``since``, and every one awaiting approval."""

    async def get_run(self, run_id: str) -> RemediationRun | None: ...

    async def query_runs(
        self, *, states: Sequence[str] = (), limit: int = 100, offset: int = 0
    ) -> list[RemediationRun]:
        """Newest first."""

    async def expire_history(self, before: float) -> None:
        """Forget history rows, resolved incidents and finished remediation runs from
        before ``before``."""

    async def save_callback_id(self, source: str, callback_id: str, seen_at: float) -> None:
        """Record that the callback ``callback_id`` of ``source`` (``pagerduty``, ``slack``) was
        handled; durable when it returns (a second record of the same one is ignored)."""

    async def callback_seen(self, source: str, callback_id: str) -> float | None:
        """When that callback was recorded as handled, or None."""

    async def forget_callback_id(self, source: str, callback_id: str) -> None:
        """Drop that record (its action failed: a retry is to be taken)."""

    async def expire_callback_ids(self, before: float) -> None:
        """Forget the callbacks recorded before ``before``."""

    async def save_heartbeats(self, seen: Sequence[HeartbeatSeen]) -> None:
        """Insert or replace by (name, key); durable when it returns."""

    async def load_heartbeats(self) -> list[HeartbeatSeen]: ...

    async def delete_heartbeats(self, keys: Iterable[tuple[str, str]]) -> None:
        """Forget these (name, key) heartbeats."""
