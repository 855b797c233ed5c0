"""Ingest: validate, normalise, enrich, dedupe, persist, publish.

Every source (Alertmanager API v2, Alertmanager webhook, native events)
ends here with a list of :class:`PostableAlert`. The whole batch is written
in one transaction before the call returns, so a 2xx answer means durable.
A re-post that changes nothing but ``ends_at`` is an in-memory update; its
write is coalesced by the runtime. A big batch hands the event loop back as it
goes (:class:`~tocsin.core.pacing.Pacer`), so other requests are answered meanwhile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from sys import intern
from typing import Protocol

import pluggy
import structlog

from tocsin.core.alerts import AlertState
from tocsin.core.events import AlertReceived, AlertResolved, AlertUpdated, Event
from tocsin.core.facade import Facade
from tocsin.core.hooks import call_each, first_result, wanted_impls
from tocsin.core.labels import fingerprint, invalid_label_name
from tocsin.core.models import Alert, PostableAlert
from tocsin.core.pacing import Pacer
from tocsin.core.records import Incident
from tocsin.core.timefmt import from_datetime, past_max
from tocsin.incidents.plan import Plan, plan_alert
from tocsin.store import StorageError, Store

__all__ = ["AlertError", "IngestResult", "Ingester", "merge", "to_alert"]

log = structlog.get_logger("tocsin.ingest.pipeline")


@dataclass(frozen=True, slots=True)
class AlertError:
    index: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"alerts[{self.index}].{self.field}: {self.message}"


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    errors: list[AlertError] = field(default_factory=list)
    #: The accepted alerts' fingerprints, by the index they were posted at.
    fingerprints: dict[int, str] = field(default_factory=dict)


def to_alert(p: PostableAlert, index: int, now: float, resolve_timeout: float) -> Alert | AlertError:
    """Validate and normalise one posted alert, as Alertmanager's API v2 does."""
    labels = p.labels
    if "" in labels.values():  # an empty value is no label
        labels = {k: v for k, v in labels.items() if v != ""}
    if not labels:
        return AlertError(index, "labels", "at least one label pair required")
    if (name := invalid_label_name(labels)) is not None:
        return AlertError(index, f"labels.{name}", f"invalid label name {name!r}")
    if (name := invalid_label_name(p.annotations)) is not None:
        return AlertError(index, f"annotations.{name}", f"invalid annotation name {name!r}")
    starts = from_datetime(p.starts_at)
    ends = from_datetime(p.ends_at)
    for name, ts in (("startsAt", starts), ("endsAt", ends)):
        if past_max(ts):
            return AlertError(index, name, "is after the year 9999 (in UTC)")
    if starts == 0:
        starts = ends if ends else now
    if ends and ends < starts:
        return AlertError(index, "endsAt", "start time must be before end time")
    timeout = False
    if ends == 0:
        ends = now + resolve_timeout
        timeout = True
    return Alert(
        fingerprint="",
        labels=labels,
        annotations=p.annotations,
        starts_at=starts,
        ends_at=ends,
        generator_url=p.generator_url,
        updated_at=now,
        timeout=timeout,
    )


def _interned(d: dict[str, str]) -> dict[str, str]:
    return {intern(k): intern(v) for k, v in d.items()}


def share_strings(alert: Alert, existing: Alert | None) -> None:
    """Let a posted alert hold the strings already held, not copies of its own.

    A re-post takes the held alert's label and annotation dicts where they are
    equal (they nearly always are). A new alert's names and values are interned:
    alerts repeat most of them (``job``, ``severity``, the alertname, annotation
    texts, the generator URL), and each decoded copy would otherwise be kept for
    as long as the alert is."""
    if existing is not None:
        if alert.labels == existing.labels:
            alert.labels = existing.labels
        if alert.annotations == existing.annotations:
            alert.annotations = existing.annotations
        if alert.generator_url == existing.generator_url:
            alert.generator_url = existing.generator_url
        return
    alert.labels = _interned(alert.labels)
    alert.annotations = _interned(alert.annotations)
    alert.generator_url = intern(alert.generator_url)


def merge(old: Alert | None, new: Alert, now: float) -> Alert:
    """Alertmanager's merge of a re-posted alert into the held one."""
    if old is None:
        return new
    overlap = (old.starts_at < new.ends_at < old.ends_at) or (
        old.starts_at < new.starts_at < old.ends_at
    )
    if not overlap:
        return new
    a, o = (old, new) if new.updated_at >= old.updated_at else (new, old)
    res = o.__copy__()
    if a.starts_at < o.starts_at:
        res.starts_at = a.starts_at
    if o.resolved(now):
        if a.resolved(now) and a.ends_at > o.ends_at:
            res.ends_at = a.ends_at
    elif a.ends_at > o.ends_at and not a.timeout:
        res.ends_at = a.ends_at
    return res


class _EnricherFailed:
    """Logs a failed enricher with the alert it failed on (its fingerprint as posted)."""

    __slots__ = ("alert",)

    def __init__(self, alert: Alert) -> None:
        self.alert = alert

    def __call__(self, plugin: str, exc: BaseException) -> None:
        log.error("enricher failed; skipped", plugin=plugin, error=f"{type(exc).__name__}: {exc}",
                  fingerprint=fingerprint(self.alert.labels),
                  alertname=self.alert.labels.get("alertname", ""),
                  exc_info=exc if not isinstance(exc, TimeoutError) else None)


def _only_ends_moved(old: Alert, new: Alert, now: float) -> bool:
    return (
        old.starts_at == new.starts_at
        and old.annotations == new.annotations
        and old.generator_url == new.generator_url
        and old.timeout == new.timeout
        and not old.resolved(now)
        and not new.resolved(now)
    )


class Incidents(Protocol):
    """What ingest asks of the incidents (:class:`tocsin.incidents.lifecycle.Lifecycle`)."""

    def get(self, fingerprint: str) -> Incident | None: ...

    def seen(self, fingerprint: str, now: float) -> None: ...

    def prepare(self, plan: Plan) -> None: ...

    def install(self, plan: Plan) -> None: ...


class Ingester:
    """Takes posted alerts into the alert state: validate, normalise, enrich, dedupe,
    plan incidents, write the batch in one transaction, then publish.

    ``runtime`` is what the enrich and dedupe hooks get (and where the config
    in force is read); ``counted(accepted, invalid, source)`` updates metrics;
    ``observe(alert, now)`` is shown each alert taken; ``room()`` is awaited before a
    batch is taken (:class:`tocsin.dispatch.backpressure.Backpressure`).
    """

    def __init__(
        self,
        *,
        runtime: Facade,
        hooks: pluggy.PluginManager,
        store: Store,
        incidents: Incidents,
        publish: Callable[[Event], Awaitable[None]],
        counted: Callable[[int, int, str], None],
        observe: Callable[[Alert, float], None] | None = None,
        room: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.runtime = runtime
        self.hooks = hooks
        self.store = store
        self.incidents = incidents
        self.publish = publish
        self.counted = counted
        #: Shown every alert taken (the heartbeats count their beats).
        self.observe = observe
        #: Awaited before a batch is taken: ingest gives way to due deliveries.
        self.room = room

    async def ingest(
        self, posted: list[tuple[int, PostableAlert]], *, source: str = "api_v2"
    ) -> IngestResult:
        """Take ``(index, alert)`` pairs; keep the valid ones; report the rest by index.

        ``source`` names where they came from, in history and metrics. Raises StorageError."""
        await _refuse_if_failed(self.store)
        if self.room is not None:
            await self.room()
        rt = self.runtime
        alerts = rt.alerts
        now = rt.clock.now()
        resolve_timeout = float(rt.config.global_.resolve_timeout)
        hooks = self.hooks.hook
        enrichers = wanted_impls(hooks.tocsin_enrich, rt)
        dedupe = first_result(self.hooks, "tocsin_dedupe")
        enrich_timeout = _enrich_bound(rt)
        result = IngestResult()
        to_write: list[Alert] = []
        events: list[Event] = []
        previous: list[tuple[Alert, Alert | None]] = []
        plan = Plan()
        incidents = self.incidents
        pacer = Pacer()  # a batch of thousands: other requests are answered meanwhile

        for index, p in posted:
            await pacer.tick()
            alert = to_alert(p, index, now, resolve_timeout)
            if isinstance(alert, AlertError):
                result.errors.append(alert)
                continue
            if enrichers:
                # One by one, so that an enricher raising (even synchronously) skips only itself.
                await call_each(hooks.tocsin_enrich, _EnricherFailed(alert), timeout=enrich_timeout,
                                impls=enrichers, runtime=rt, alert=alert)
            alert.fingerprint = fingerprint(alert.labels)
            existing = alerts.get(alert.fingerprint)
            share_strings(alert, existing)
            kept = dedupe(runtime=rt, alert=alert, existing=existing) or alert
            alerts.set(kept)
            result.accepted += 1
            result.fingerprints[index] = kept.fingerprint
            if self.observe is not None:
                self.observe(kept, now)
            if existing is not None and self._only_seen(kept, existing, plan, now):
                continue
            plan_alert(plan, incidents.get(kept.fingerprint), kept, existing, now, source=source)
            previous.append((kept, existing))
            to_write.append(kept)
            event = _change(kept, existing, now)
            if event is not None:
                events.append(event)

        if to_write:
            await self._write(to_write, plan, previous)
        for event in events:
            await self.publish(event)
        self.counted(result.accepted, len(result.errors), source)
        return result

    async def _write(self, to_write: list[Alert], plan: Plan,
                     previous: list[tuple[Alert, Alert | None]]) -> None:
        """The batch's alerts, incidents and history in one transaction; put back in memory if
        it fails, installed once it is durable."""
        self.incidents.prepare(plan)
        try:
            await self.store.save(alerts=to_write, incidents=list(plan.incidents.values()),
                                  history=plan.history, journal=True)
        except Exception:
            _undo(self.runtime.alerts, previous)
            raise
        self.incidents.install(plan)

    def _only_seen(self, kept: Alert, existing: Alert, plan: Plan, now: float) -> bool:
        """A re-post that changed nothing but its end, of an alert with an incident this
        request has not planned: only counted (and its new end written later)."""
        if not _only_ends_moved(existing, kept, now) or kept.fingerprint in plan.incidents or (
                self.incidents.get(kept.fingerprint) is None):
            return False
        if kept.ends_at != existing.ends_at:
            self.runtime.alerts.dirty.add(kept.fingerprint)
        self.incidents.seen(kept.fingerprint, now)
        return True


async def _refuse_if_failed(store: Store) -> None:
    """A store that failed takes nothing, not even a re-post that would only be counted now
    and written later: it could not be read back after a restart. One whose failure may
    pass is asked to try again first."""
    if store.failure is not None:
        with contextlib.suppress(StorageError):
            await store.recover()
    if (failure := store.failure) is not None:
        raise StorageError(failure)


def _enrich_bound(rt: Facade) -> float:
    """A bound for every enricher, plugins' included (the built-ins also bound themselves)."""
    cfg = rt.config.document.enrich
    return max(float(cfg.timeout), float(cfg.host.timeout)) + 1.0


def _change(kept: Alert, existing: Alert | None, now: float) -> Event | None:
    """What taking ``kept`` in place of ``existing`` announces, if anything."""
    was_firing = existing is not None and not existing.resolved(now)
    if kept.resolved(now):
        return AlertResolved(at=now, alert=kept) if was_firing or existing is None else None
    if was_firing:
        return AlertUpdated(at=now, alert=kept)
    return AlertReceived(at=now, alert=kept)


def _undo(alerts: AlertState, previous: list[tuple[Alert, Alert | None]]) -> None:
    """A write failed: put back what this request changed, unless a later one changed it again."""
    for kept, existing in previous:
        if alerts.get(kept.fingerprint) is kept:
            if existing is None:
                alerts.delete(kept.fingerprint)
            else:
                alerts.set(existing)
