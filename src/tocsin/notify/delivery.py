"""Delivery: per receiver, each integration independently checks the
notification log, sends with retries, and records what it sent.

The stages every channel shares live here, so a channel only renders and
sends. Integrations of one receiver run concurrently and keep separate log
entries: one failing integration never makes another send twice
(prometheus/alertmanager#1494).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

import msgspec
import structlog

from tocsin import hookimpl
from tocsin.channels import DeliveryError
from tocsin.core.bus import EventBus
from tocsin.core.clock import Clock
from tocsin.core.events import NotificationFailed, NotificationSent
from tocsin.core.facade import Facade, Key
from tocsin.core.gate import Gate
from tocsin.core.metrics import Metrics
from tocsin.core.models import Notification
from tocsin.core.records import HistoryEvent
from tocsin.notify.deadletters import DeadLetterQueue
from tocsin.notify.deferral import Deferral
from tocsin.notify.nflog import NotificationLog, needs_update
from tocsin.notify.receivers import Integration
from tocsin.notify.redact import RedactConfig, Redactor
from tocsin.store import Attempt, DeadLetter, NflogEntry, StorageError, Store

__all__ = ["Delivery", "Integration", "Superseded", "backoff"]

log = structlog.get_logger("tocsin.notify.delivery")


def _info_enabled() -> bool:
    """Whether delivery's info lines are written (the configured level lets them through)."""
    enabled = getattr(log, "is_enabled_for", None)  # structlog's filtering loggers have it
    return True if enabled is None else bool(enabled(logging.INFO))


def backoff(attempt: int, *, base: float = 0.5, factor: float = 1.5, cap: float = 60.0) -> float:
    """Delay before retry ``attempt`` (1-based): exponential, capped, with ±50% jitter."""
    delay = min(cap, base * factor ** (attempt - 1))
    return delay * random.uniform(0.5, 1.5)


def fingerprint_sets(n: Notification) -> tuple[frozenset[str], frozenset[str]]:
    """The fingerprints of a notification's firing and of its resolved alerts."""
    firing = frozenset(a.fingerprint for a in n.alerts if not a.resolved(n.now))
    return firing, frozenset(a.fingerprint for a in n.alerts) - firing


def notification_id(n: Notification, integration: str, firing: frozenset[str], resolved: frozenset[str],
                    previous: NflogEntry | None) -> str:
    """A group notification's id: its receiver, integration, group and content, and when
    the integration was last told about the group (so a reminder differs from the
    original, while a resend of an unlogged send is the same)."""
    parts = [n.receiver, integration, n.group_key, *sorted(firing), "", *sorted(resolved), "",
             repr(previous.sent_at) if previous is not None else "-"]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


class Superseded(Exception):
    """A dead letter not replayed because a newer state of its group got through."""


class Incidents(Protocol):
    """What delivery asks of the incidents (:class:`tocsin.incidents.lifecycle.Lifecycle`)."""

    def acknowledged(self, fingerprints: Iterable[str]) -> bool: ...

    async def record_notified(self, n: Notification, integration: str, now: float) -> None: ...

    async def notified_rows(self, n: Notification, integration: str, now: float) -> list[HistoryEvent]: ...


class Delivery:
    """Sends a flushed group to each integration of its receiver: for each, the
    notification-log check (dedup), then send with retries, then record (log
    entry, attempt rows, dead letters, metrics, bus event, incident history)."""

    def __init__(
        self,
        receivers: Mapping[str, list[Integration]],
        *,
        clock: Clock,
        store: Store,
        nflog: NotificationLog,
        dead_letters: DeadLetterQueue,
        incidents: Incidents,
        metrics: Metrics,
        bus: EventBus,
        redact: RedactConfig | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        gate: Gate | None = None,
        deferral: Deferral | None = None,
    ) -> None:
        self.receivers = receivers
        #: Holds a sent notification's records while other groups wait to be sent (None: never).
        self.deferral = deferral
        #: Sends wait here while a leader among replicas is unsure of its lease.
        self.gate = gate or Gate()
        self.clock = clock
        self.store = store
        self.nflog = nflog
        self.dead_letters = dead_letters
        self.incidents = incidents
        self.metrics = metrics
        self.bus = bus
        self.sleep = sleep
        self.redactor = Redactor(redact if redact is not None else RedactConfig())

    async def deliver(self, n: Notification) -> bool:
        integrations = self.receivers.get(n.receiver)
        if not integrations:
            return True  # a receiver with no integrations swallows notifications, as in Alertmanager
        # A group flushes every group_interval; mostly nothing changed since it was sent.
        # Those flushes end here, before the alerts are redacted for sending.
        firing, resolved = fingerprint_sets(n)  # redaction leaves the fingerprints as they are
        due = [i for i in integrations if self._due(self._entry(i, n), i, n, firing, resolved)]
        if not due:
            return True
        n = await self.redactor.notification_paced(n)
        if len(due) == 1:
            return await self._one(due[0], n, firing, resolved)
        results = await asyncio.gather(*(self._one(i, n, firing, resolved) for i in due))
        return all(results)

    def _entry(self, integ: Integration, n: Notification) -> NflogEntry | None:
        return self.nflog.get(n.group_key, n.receiver, integ.name)

    def _due(self, entry: NflogEntry | None, integ: Integration, n: Notification,
             firing: frozenset[str], resolved: frozenset[str]) -> bool:
        """Whether the notification log's ``entry`` says ``integ`` is to hear of the group now."""
        return needs_update(
            entry, firing, resolved,
            send_resolved=integ.send_resolved, repeat_interval=n.repeat_interval, now=n.now,
            acknowledged=self.incidents.acknowledged(firing),
        )

    async def _one(self, integ: Integration, n: Notification, firing: frozenset[str],
                   resolved: frozenset[str]) -> bool:
        now = n.now
        entry = self._entry(integ, n)
        # Again: the log may have changed while the alerts were being redacted.
        if not self._due(entry, integ, n, firing, resolved):
            return True

        if not integ.send_resolved:
            if not firing:
                # Nothing to send, but the log must learn that the group resolved.
                await self.nflog.record(n.group_key, n.receiver, integ.name, firing, resolved, now)
                await self._supersede(integ, n)
                return True
            n = msgspec.structs.replace(n, alerts=n.firing())
        n = msgspec.structs.replace(n, id=notification_id(n, integ.name, firing, resolved, entry))
        sent = await self._send(integ, n)
        if sent is None:
            return False
        attempts, latency, record = sent
        # The log entry, the incidents' "notified" rows and the attempt that sent it, in
        # one write: durable before the flush ends, unless other groups wait to be sent
        # (tocsin.notify.deferral). The log in memory knows of the send at once.
        at = self.clock.now()
        logged = self.nflog.entry(n.group_key, n.receiver, integ.name, firing, resolved, now)
        history = await self.incidents.notified_rows(n, integ.name, at)
        self.nflog.keep(logged)
        records = self._record(integ, n, logged, history, record, attempts, latency, at)
        if self.deferral is not None and self.deferral.holds():
            self.deferral.hold(records)
        else:
            await records
        return True

    async def _record(self, integ: Integration, n: Notification, logged: NflogEntry,
                      history: list[HistoryEvent], record: Attempt, attempts: int, latency: float,
                      at: float) -> None:
        """What a sent notification leaves: its write, the dead letters it supersedes, its
        log line, metrics and event."""
        await self.store.save_delivery(logged, history, record)
        await self._supersede(integ, n)
        await self._sent(integ, n, attempts, latency, at)

    async def _supersede(self, integ: Integration, n: Notification) -> None:
        """The group's current state reached this integration: its older dead letters are stale."""
        if not len(self.dead_letters):
            return
        try:
            dropped = await self.dead_letters.drop_superseded(n.group_key, n.receiver, integ.name, n.now)
        except StorageError as exc:
            log.error("superseded dead letters not dropped", error=str(exc))
            return
        if dropped:
            self.metrics.dead_letters.set(len(self.dead_letters))
            self._log(integ, n).info("dead letters superseded by a newer notification", dropped=dropped)

    async def announce(self, n: Notification) -> bool:
        """A lifecycle notice (``n.event``): to every integration of the receiver, with
        retries and dead letters, outside the notification log (it changes no group)."""
        integrations = self.receivers.get(n.receiver) or []
        n = await self.redactor.notification_paced(n)
        results = await asyncio.gather(*(self._announce_one(i, n) for i in integrations))
        return all(results)

    async def _announce_one(self, integ: Integration, n: Notification) -> bool:
        sent = await self._send(integ, n)
        if sent is None:
            return False
        attempts, latency, record = sent
        self._post(record)
        await self.incidents.record_notified(n, integ.name, self.clock.now())
        await self._sent(integ, n, attempts, latency)
        return True

    def _log(self, integ: Integration, n: Notification) -> structlog.typing.FilteringBoundLogger:
        # Every alert line carries its fingerprints: the first 20 of a group's (sorted).
        fps = sorted(a.fingerprint for a in n.alerts)
        bound = log.bind(receiver=n.receiver, integration=integ.name, group_key=n.group_key,
                         fingerprints=fps[:20] if len(fps) <= 20 else [*fps[:20], f"+{len(fps) - 20} more"])
        return bound.bind(notice=n.event) if n.event else bound

    async def _send(self, integ: Integration, n: Notification) -> tuple[int, float, Attempt] | None:
        """Send with retries until it succeeds or the retry window closes; a notification
        that cannot be sent goes to the dead-letter table. Returns (attempts, latency, the
        record of the attempt that sent it, for the caller to store), or None when it
        failed. The failed attempts are stored here."""
        started = self.clock.monotonic()
        deadline = started + max(n.group_interval, integ.timeout)
        attempt = 0
        while True:
            attempt += 1
            err, record = await self._attempt(integ, n, attempt)
            if err is None:
                break
            self._post(record)
            delay = err.retry_after if err.retry_after is not None else backoff(attempt)
            if not err.retryable or self.clock.monotonic() + delay >= deadline:
                await self._give_up(integ, n, attempt, err, self._log(integ, n))
                return None
            self._log(integ, n).info("notification attempt failed; retrying", attempt=attempt,
                                     error=str(err), retry_in=round(delay, 3))
            await self.sleep(delay)
        return attempt, self.clock.monotonic() - started, record

    async def _sent(self, integ: Integration, n: Notification, attempt: int, latency: float,
                    at: float | None = None) -> None:
        # One line per notification (not per alert), written once its log entry and its
        # incident history are durable; its fields are not even gathered when info is off.
        if _info_enabled():
            self._log(integ, n).info("notification sent", alerts=len(n.alerts), attempts=attempt,
                                     latency_ms=round(latency * 1000, 1))
        self.metrics.notifications.labels(n.receiver, integ.name, "sent").inc()
        self.metrics.latency.labels(n.receiver, integ.name).observe(latency)
        await self.bus.publish(NotificationSent(
            at=self.clock.now() if at is None else at, group_key=n.group_key, receiver=n.receiver,
            integration=integ.name, alerts=len(n.alerts), attempts=attempt, latency=latency,
        ))

    async def _attempt(self, integ: Integration, n: Notification,
                       attempt: int) -> tuple[DeliveryError | None, Attempt]:
        """Send once; the error (None on success), and the attempt's record (not stored)."""
        await self.gate.wait()
        t0 = self.clock.monotonic()
        err: DeliveryError | None = None
        try:
            async with integ.semaphore:
                async with asyncio.timeout(integ.timeout):
                    await integ.channel.send(n)
        except TimeoutError:
            err = DeliveryError(f"no answer within {integ.timeout:g}s")
        except DeliveryError as exc:
            err = exc
        except Exception as exc:  # a plugin bug must not kill the flush
            log.exception("channel raised", receiver=n.receiver, integration=integ.name)
            err = DeliveryError(f"{type(exc).__name__}: {exc}", retryable=False)
        self.metrics.attempts.labels(n.receiver, integ.name, "ok" if err is None else "error").inc()
        return err, Attempt(
            at=self.clock.now(), receiver=n.receiver, integration=integ.name,
            group_key=n.group_key, attempt=attempt, status=err.status if err else None,
            latency=self.clock.monotonic() - t0, error=str(err) if err else "",
        )

    def _post(self, record: Attempt) -> None:
        """An attempt's record, committed with the next write or before it."""
        try:
            self.store.post_attempt(record)
        except StorageError as exc:  # the record is lost, the delivery is not
            log.error("delivery attempt not recorded", error=str(exc))

    async def _give_up(self, integ: Integration, n: Notification, attempts: int,
                       err: DeliveryError, bound: structlog.typing.FilteringBoundLogger) -> None:
        bound.warning("notification failed; kept in the dead-letter table", attempts=attempts,
                      error=str(err), status=err.status, retryable=err.retryable)
        self.metrics.notifications.labels(n.receiver, integ.name, "failed").inc()
        try:
            await self.dead_letters.add(receiver=n.receiver, integration=integ.name, n=n,
                                      attempts=attempts, error=str(err), now=self.clock.now())
            self.metrics.dead_letters.set(len(self.dead_letters))
        except StorageError as exc:
            bound.error("dead letter not stored", error=str(exc))
        await self.bus.publish(NotificationFailed(
            at=self.clock.now(), group_key=n.group_key, receiver=n.receiver,
            integration=integ.name, alerts=len(n.alerts), attempts=attempts, error=str(err),
        ))

    async def replay(self, dead_letter_id: int) -> DeadLetter | None:
        """Send a dead letter once more through the integration it failed on.

        Returns None when delivered (the dead letter is dropped), else the
        dead letter with its attempt count and error updated. Raises KeyError
        for an unknown id, LookupError when that integration no longer exists, and
        :class:`Superseded` (after dropping it) when a newer state of its group has
        reached that integration since: sending the old one would undo it.
        A group notification that is delivered goes into the notification log, so
        the next flush sends only what changed since that state.
        """
        d = self.dead_letters.get(dead_letter_id)
        if d is None:
            raise KeyError(dead_letter_id)
        integ = next((i for i in self.receivers.get(d.receiver, []) if i.name == d.integration), None)
        if integ is None:
            raise LookupError(f"receiver {d.receiver!r} has no integration {d.integration} any more")
        n = d.notification
        entry = None if n.event else self._entry(integ, n)
        if entry is not None and entry.sent_at >= n.now:
            await self.dead_letters.drop(d.id)
            self.metrics.dead_letters.set(len(self.dead_letters))
            log.info("dead letter superseded; dropped", id=d.id, receiver=d.receiver,
                     integration=d.integration)
            raise Superseded(f"dead letter {d.id} is older than the group state {d.receiver}/{d.integration} "
                             "last received; dropped without sending")
        err, record = await self._attempt(integ, n, d.attempts + 1)
        self._post(record)
        if err is None:
            if not n.event:
                # Logged at the time its state was made, so that a newer dead letter of the
                # group is not taken for superseded by this older one.
                await self.nflog.record(n.group_key, n.receiver, integ.name, *fingerprint_sets(n), n.now)
            await self.dead_letters.drop(d.id)
            self.metrics.dead_letters.set(len(self.dead_letters))
            self.metrics.notifications.labels(d.receiver, d.integration, "sent").inc()
            log.info("dead letter replayed", id=d.id, receiver=d.receiver, integration=d.integration)
            return None
        updated = msgspec.structs.replace(d, attempts=d.attempts + 1, error=str(err), at=self.clock.now())
        await self.dead_letters.update(updated)
        return updated

#: Delivery of the current config, as the runtime shares it with plugins.
DELIVERY: Key[Delivery] = Key("delivery")


@hookimpl
async def tocsin_notify(runtime: Facade, notification: Notification) -> bool:
    return await runtime[DELIVERY].deliver(notification)
