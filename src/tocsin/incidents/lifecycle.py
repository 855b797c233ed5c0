"""The incident lifecycle at run time: current incidents, acknowledgement,
manual resolution, expiry, mute and notification history; escalation through
:mod:`tocsin.incidents.escalation`.

Ingest plans incident changes with :func:`tocsin.incidents.plan.plan_alert` and
writes them with the alert; :meth:`Lifecycle.install` then takes them into
memory and starts or stops their timers. Everything else that changes an
incident (a person, a timer, a flush, a delivery) goes through here and is
written before it is announced.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import msgspec
import structlog

from tocsin.core.alerts import AlertState
from tocsin.core.clock import Clock
from tocsin.core.durations import Duration
from tocsin.core.events import AlertAcknowledged, AlertResolved, AlertUnacknowledged, Event
from tocsin.core.models import Alert, Notification, sort_key
from tocsin.core.mute import MuteReason
from tocsin.core.pacing import Pacer
from tocsin.core.scheduler import Scheduler, TimerWheel
from tocsin.dispatch.route import Route
from tocsin.incidents import references
from tocsin.incidents.escalation import Escalations
from tocsin.incidents.plan import (
    ACKNOWLEDGED,
    FIRING,
    RESOLVED,
    HistoryEvent,
    Incident,
    IncidentConflict,
    IncidentNotFound,
    Plan,
    mute_keys,
    resolved,
)
from tocsin.incidents.policy import EscalationPolicy
from tocsin.incidents.references import CANDIDATES, MIN_REF, REF_LENGTH
from tocsin.incidents.worsening import worsened
from tocsin.store import StorageError, Store

__all__ = ["CANDIDATES", "MIN_REF", "REF_LENGTH", "Lifecycle"]

log = structlog.get_logger("tocsin.incidents.lifecycle")


class Lifecycle:
    """The open incident of each fingerprint: acknowledgement, resolution by hand,
    expiry, escalation (:attr:`escalations`), mute and notification history, and
    the notices receivers get of them.

    ``routes`` and ``muted`` answer as the dispatcher's do; ``announce`` sends a
    notice through delivery; ``spawn`` runs background work the runtime waits
    for at stop. :meth:`configure` takes the escalation policies and routing
    tree of the config (again at each reload).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        scheduler: Scheduler,
        store: Store,
        alerts: AlertState,
        publish: Callable[[Event], Awaitable[None]],
        spawn: Callable[..., object],
        routes: Callable[[Alert], Iterable[Route]],
        muted: Callable[[Alert, Route | None, float], list[MuteReason]],
        announce: Callable[[Notification], Awaitable[bool]],
    ) -> None:
        self.clock = clock
        self.scheduler = scheduler
        self.store = store
        self.alerts = alerts
        self.publish = publish
        self.spawn = spawn
        self.routes = routes
        self.muted = muted
        self.announce = announce
        #: The current (latest) incident of each fingerprint tocsin holds.
        self.current: dict[str, Incident] = {}
        #: Fingerprints whose only change was a re-post (occurrences, last_seen).
        self.dirty: set[str] = set()
        self._expiry = TimerWheel(scheduler, self._expiry_due)
        self._ack_ends = TimerWheel(scheduler, self._ack_due)
        self.escalations = Escalations(clock=clock, scheduler=scheduler, alerts=alerts, held=self,
                                       routes=routes, muted=muted, announce=announce, spawn=spawn)
        self._notices: dict[tuple[str, str, str], list[Incident]] = {}
        self._held = 0

    # -- start-up -----------------------------------------------------------------------

    def configure(self, policies: Mapping[str, EscalationPolicy], route: Route) -> None:
        """The escalation policies by name, and the routing tree, of the config in force."""
        self.escalations.configure(policies, route)

    def load(self, incidents: Iterable[Incident]) -> None:
        for inc in incidents:
            self.current[inc.fingerprint] = inc

    def start(self, fingerprints: Iterable[str] | None = None) -> None:
        """Arm expiry and escalation for the incidents loaded at start-up (those of
        ``fingerprints``, or all); arming one again moves its timers, nothing more."""
        held = list(self.current.values()) if fingerprints is None else [
            inc for fp in fingerprints if (inc := self.current.get(fp)) is not None]
        for inc in held:
            if inc.open:
                self._arm_expiry(inc.fingerprint)
            if inc.state == FIRING:
                self.escalations.arm(inc)
            elif inc.state == ACKNOWLEDGED and inc.ack_until:
                self._ack_ends.arm(inc.fingerprint, max(0.0, inc.ack_until - self.clock.now()))

    def stop(self) -> None:
        self.escalations.stop()
        self._expiry.clear()
        self._ack_ends.clear()

    # -- lookups -------------------------------------------------------------------------

    def get(self, fingerprint: str) -> Incident | None:
        return self.current.get(fingerprint)

    async def find(self, ref: str) -> Incident:
        """An incident by id, fingerprint or short reference (:func:`references.find`)."""
        return await references.find(self.current, self.store, ref)

    async def short_refs(self, ids: Iterable[str]) -> dict[str, str]:
        """Each id's short reference (:func:`references.short_refs`)."""
        return await references.short_refs(self.store, ids)

    def acknowledged(self, fingerprints: Iterable[str]) -> bool:
        """Whether every one of these alerts is acknowledged (and there is one)."""
        any_ = False
        for fp in fingerprints:
            inc = self.current.get(fp)
            if inc is None or inc.state != ACKNOWLEDGED:
                return False
            any_ = True
        return any_

    # -- ingest --------------------------------------------------------------------------

    def seen(self, fingerprint: str, now: float) -> None:
        """A re-post that changed nothing else: one more occurrence, written later."""
        inc = self.current.get(fingerprint)
        if inc is not None and inc.open:
            inc.occurrences += 1
            inc.last_seen = now
            self.dirty.add(fingerprint)

    def prepare(self, plan: Plan) -> None:
        """Before a plan is written: give incidents that open their route's escalation
        policy, so that it is stored in the same transaction as the alert."""
        if not self.escalations.policies:
            return
        for fp in plan.opened:
            inc = plan.incidents.get(fp)
            if inc is not None and inc.escalation is None:
                esc = self.escalations.opening(inc)
                if esc is not None:
                    plan.incidents[fp] = msgspec.structs.replace(inc, escalation=esc)

    def install(self, plan: Plan) -> None:
        """Take a written plan into memory; start and stop timers."""
        self.current.update(plan.incidents)
        for fp in plan.incidents:
            self.dirty.discard(fp)
        for fp in plan.closed:
            self._disarm(fp)
        for fp in plan.opened:
            self._disarm(fp)
            self._arm_expiry(fp)
            self.escalations.arm(self.current[fp])
        self._unack_worse(plan.opened)

    def _unack_worse(self, opened: list[str]) -> None:
        """``unack_on: [severity]``: acknowledged alerts that just opened worse are re-opened."""
        if not opened or not any(p.unack_on for p in self.escalations.policies.values()):
            return
        acked = [inc for inc in self.current.values() if inc.state == ACKNOWLEDGED]
        for fp in opened:
            for inc, why in worsened(self.current[fp], acked, self.escalations.policy_of):
                self.spawn(self._withdraw(inc, why, "unack_on"), name=f"unack {inc.fingerprint}")

    def take_dirty(self) -> list[Incident]:
        out = [inc for fp in self.dirty if (inc := self.current.get(fp)) is not None]
        self.dirty.clear()
        return out

    def forget(self, fingerprint: str) -> None:
        """The alert was collected: keep its incident in the store only."""
        inc = self.current.get(fingerprint)
        if inc is not None and not inc.open:
            del self.current[fingerprint]
            self._disarm(fingerprint)

    # -- people: acknowledge, unacknowledge, resolve -------------------------------------

    async def acknowledge(self, ref: str, *, by: str, note: str = "", source: str = "api",
                          lasting: float | None = None) -> Incident:
        """Acknowledge; for ``lasting`` seconds (default: its policy's ``ack_timeout``, else for good)."""
        inc = await self._live(ref)
        if inc.state == RESOLVED:
            raise IncidentConflict(f"alert {inc.id} is resolved; there is nothing to acknowledge")
        if inc.state == ACKNOWLEDGED:
            return inc
        now = self.clock.now()
        if lasting is None and (policy := self.escalations.policy_of(inc)) is not None:
            lasting = policy.ack_timeout
        until = now + lasting if lasting else 0.0
        new = msgspec.structs.replace(inc, state=ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=by,
                                      ack_note=note, ack_until=until)
        await self._commit(new, "acknowledged", now, by,
                           {"note": note, "source": source} | ({"until": until} if until else {}))
        self.escalations.disarm(inc.fingerprint)
        if until:
            self._ack_ends.arm(inc.fingerprint, until - now)
        await self.publish(AlertAcknowledged(at=now, incident=new, by=by, note=note))
        self._announce(new, "acknowledged", by, note)
        return new

    async def unacknowledge(self, ref: str, *, by: str, note: str = "", source: str = "api") -> Incident:
        inc = await self._live(ref)
        if inc.state != ACKNOWLEDGED:
            raise IncidentConflict(f"alert {inc.id} is {inc.state}, not acknowledged")
        now = self.clock.now()
        new = msgspec.structs.replace(inc, state=FIRING, acknowledged_at=0.0, acknowledged_by="",
                                      ack_note="", ack_until=0.0)
        await self._commit(new, "unacknowledged", now, by, {"note": note, "source": source})
        self.escalations.arm(new)
        await self.publish(AlertUnacknowledged(at=now, incident=new, by=by, note=note))
        self._announce(new, "unacknowledged", by, note)
        return new

    async def resolve(self, ref: str, *, by: str, note: str = "", source: str = "api") -> Incident:
        """End the alert now, as if its sender had; the group's resolved notice follows
        at its next flush for receivers with ``send_resolved``."""
        inc = await self._live(ref)
        if inc.state == RESOLVED:
            raise IncidentConflict(f"alert {inc.id} is already resolved")
        now = self.clock.now()
        alert = self.alerts.get(inc.fingerprint)
        new = resolved(inc, now, by=by, resolution="manual")
        row = HistoryEvent(at=now, alert_id=inc.id, fingerprint=inc.fingerprint, kind="resolved",
                           actor=by, detail={"note": note, "source": source, "manual": True})
        ended: Alert | None = None
        if alert is not None:
            ended = msgspec.structs.replace(alert, ends_at=now, timeout=False, updated_at=now)
        await self.store.save(alerts=[ended] if ended else (), incidents=[new], history=[row])
        if ended is not None:
            self.alerts.set(ended)
        self.current[inc.fingerprint] = new
        self._disarm(inc.fingerprint)
        if ended is not None:
            await self.publish(AlertResolved(at=now, alert=ended))
        return new

    def adopt(self, stored: Incident, *, armed: bool) -> None:
        """Replicas: an open incident another replica committed (``stored``, as the database
        has it): held from now on if it is new here, and its ack or unack taken into the one
        held; the escalation is armed or disarmed when ``armed`` (this replica leads). Each
        read converges on the database's state. A held incident that the stored one shows
        resolved (the same id, or a later one) is replaced by it, its timers disarmed: no
        escalation pages an incident another replica resolved."""
        held = self.current.get(stored.fingerprint)
        if stored.fingerprint in self.dirty:
            return
        if not stored.open:
            if held is not None and held.open and (held.id == stored.id or stored.fired_at > held.fired_at):
                self.current[stored.fingerprint] = stored
                self._disarm(stored.fingerprint)
            return
        if held is None or (held.id != stored.id and stored.fired_at > held.fired_at):
            new = self.current[stored.fingerprint] = stored
        elif held.id != stored.id or held.state == stored.state or not held.open:
            return
        else:
            self.current[stored.fingerprint] = new = msgspec.structs.replace(
                held, state=stored.state, acknowledged_at=stored.acknowledged_at,
                acknowledged_by=stored.acknowledged_by, ack_note=stored.ack_note)
        if armed and new.state == ACKNOWLEDGED:
            self.escalations.disarm(new.fingerprint)
        elif armed:
            self.escalations.arm(new)

    async def _live(self, ref: str) -> Incident:
        inc = await self.find(ref)
        current = self.current.get(inc.fingerprint)
        if current is None or current.id != inc.id:
            if inc.open:  # an open incident tocsin no longer holds: treat as resolved
                raise IncidentConflict(f"alert {inc.id} is no longer held")
            return inc
        return current

    async def _commit(self, new: Incident, kind: str, now: float, actor: str, detail: dict[str, Any]) -> None:
        row = HistoryEvent(at=now, alert_id=new.id, fingerprint=new.fingerprint, kind=kind, actor=actor,
                           detail=detail)
        await self.store.save(incidents=[new], history=[row])
        self.current[new.fingerprint] = new
        self.dirty.discard(new.fingerprint)

    # -- flushes and deliveries ----------------------------------------------------------

    async def record_mutes(self, mutes: Sequence[tuple[str, list[MuteReason]]], now: float) -> None:
        """At a flush: write a muted/unmuted row for each alert whose reasons changed."""
        changed: list[Incident] = []
        rows: list[HistoryEvent] = []
        pacer = Pacer()  # a flush of thousands: other work goes on meanwhile
        for fp, reasons in mutes:
            await pacer.tick()
            inc = self.current.get(fp)
            if inc is None or not inc.open:
                continue
            keys = mute_keys(reasons)
            if keys == inc.muted_by:
                continue
            new = msgspec.structs.replace(inc, muted_by=keys)
            changed.append(new)
            rows.append(HistoryEvent(at=now, alert_id=inc.id, fingerprint=fp,
                                     kind="muted" if keys else "unmuted", actor="tocsin",
                                     detail={"reasons": keys} if keys else {"was": inc.muted_by}))
        if changed:
            await self.save_quietly(changed, rows)

    async def record_notified(self, n: Notification, integration: str, now: float) -> None:
        rows = await self.notified_rows(n, integration, now)
        if rows:
            await self.save_quietly((), rows)

    async def notified_rows(self, n: Notification, integration: str, now: float) -> list[HistoryEvent]:
        """The "notified" history of each of ``n``'s alerts that has an incident."""
        rows = []
        pacer = Pacer()
        for a in n.alerts:
            await pacer.tick()
            inc = self.current.get(a.fingerprint)
            if inc is None:
                continue
            detail = {"receiver": n.receiver, "integration": integration, "status": a.status(n.now)}
            if n.event:
                detail["event"] = n.event
            rows.append(HistoryEvent(at=now, alert_id=inc.id, fingerprint=a.fingerprint, kind="notified",
                                     actor=n.receiver, detail=detail))
        return rows

    async def save_quietly(self, incidents: Sequence[Incident], rows: Sequence[HistoryEvent]) -> None:
        """History that must not fail what it describes: a storage error is logged."""
        try:
            await self.store.save(incidents=incidents, history=rows)
        except StorageError as exc:
            log.error("history not recorded", error=str(exc), rows=len(rows))
            return
        for inc in incidents:
            if self.current.get(inc.fingerprint, inc).id == inc.id:
                self.current[inc.fingerprint] = inc

    # -- expiry --------------------------------------------------------------------------

    def _arm_expiry(self, fp: str) -> None:
        alert = self.alerts.get(fp)
        if alert is not None and alert.ends_at == 0:
            self._expiry.disarm(fp)
            return  # no end: nothing to expire (ingest gives every stored alert one)
        delay = 0.0 if alert is None else max(0.0, alert.ends_at - self.clock.now())
        self._expiry.arm(fp, delay)

    def _expiry_due(self, fp: str) -> None:
        inc = self.current.get(fp)
        if inc is None or not inc.open:
            return
        alert = self.alerts.get(fp)
        now = self.clock.now()
        if alert is not None and not alert.resolved(now):
            self._arm_expiry(fp)  # re-posted since: look again at its new end
            return
        self.spawn(self._expire(inc, alert, now), name=f"expire {fp}")

    async def _expire(self, inc: Incident, alert: Alert | None, now: float) -> None:
        at = alert.ends_at if alert is not None and alert.ends_at else now
        new = resolved(inc, at, by="tocsin", resolution="expired")
        row = HistoryEvent(at=now, alert_id=inc.id, fingerprint=inc.fingerprint, kind="expired",
                           actor="tocsin", detail={"ends_at": at, "timeout": bool(alert and alert.timeout)})
        try:
            await self.store.save(incidents=[new], history=[row])
        except StorageError as exc:
            log.error("expiry not recorded; retrying later", fingerprint=inc.fingerprint, error=str(exc))
            self._expiry.arm(inc.fingerprint, 30.0)
            return
        if self.current.get(inc.fingerprint) is not None and self.current[inc.fingerprint].id == inc.id:
            self.current[inc.fingerprint] = new
            self.escalations.disarm(inc.fingerprint)

    def _ack_due(self, fp: str) -> None:
        """An acknowledgement ran out: while its alert still fires, it is withdrawn."""
        inc, now = self.current.get(fp), self.clock.now()
        if inc is None or inc.state != ACKNOWLEDGED or not inc.ack_until:
            return
        if now < inc.ack_until:
            self._ack_ends.arm(fp, inc.ack_until - now)
        elif (alert := self.alerts.get(fp)) is not None and not alert.resolved(now):
            self.spawn(self._ack_expired(inc), name=f"ack expired {fp}")

    async def _ack_expired(self, inc: Incident) -> None:
        lasted = Duration(round(inc.ack_until - inc.acknowledged_at))
        why = f"the acknowledgement by {inc.acknowledged_by} ran out after {lasted}"
        if not await self._withdraw(inc, why, "ack_timeout"):
            self._ack_ends.arm(inc.fingerprint, 30.0)

    async def _withdraw(self, inc: Incident, why: str, source: str) -> bool:
        """Unacknowledge ``inc`` as tocsin; False when it could not be stored."""
        try:
            await self.unacknowledge(inc.id, by="tocsin", note=why, source=source)
        except (IncidentConflict, IncidentNotFound):
            pass  # changed meanwhile
        except StorageError as exc:
            log.error("unacknowledgement not recorded", fingerprint=inc.fingerprint, error=str(exc))
            return False
        return True

    def _disarm(self, fp: str) -> None:
        self.escalations.disarm(fp)
        self._expiry.disarm(fp)

    def pending(self) -> list[tuple[Incident, EscalationPolicy | None]]:
        """Incidents with an escalation step still to come (acknowledged ones paused)."""
        return self.escalations.pending()

    # -- announcements ---------------------------------------------------------------------

    @contextlib.contextmanager
    def batched(self) -> Iterator[None]:
        """Hold notices until the block ends, so that changing several alerts at once
        (a Slack button for a whole group) sends one message per receiver and group."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held and self._notices:
                self.spawn(self._announce_queued(), name="announce")

    def _announce(self, inc: Incident, event: str, by: str, note: str) -> None:
        first = not self._notices
        self._notices.setdefault((event, by, note), []).append(inc)
        if first and not self._held:
            self.spawn(self._announce_queued(), name="announce")

    async def _announce_queued(self) -> None:
        await asyncio.sleep(0)  # let the rest of the same request queue theirs
        notices, self._notices = self._notices, {}
        await asyncio.gather(*(self._announce_now(incs, *key) for key, incs in notices.items()))

    async def _announce_now(self, incidents: list[Incident], event: str, by: str, note: str) -> None:
        """Tell the alerts' receivers (and those escalation reached) who acknowledged them."""
        now = self.clock.now()
        #: (receiver, group key) -> (group labels, route id, alerts)
        out: dict[tuple[str, str], tuple[dict[str, str], str, list[Alert]]] = {}
        for inc in incidents:
            alert = self.alerts.get(inc.fingerprint)
            if alert is None:
                continue
            snapshot = alert.__copy__()
            if not alert.resolved(now):
                snapshot.ends_at = 0.0
            told: set[str] = set()
            for route in self.routes(alert):
                if route.receiver in told or self.muted(alert, route, now):
                    continue
                told.add(route.receiver)
                labels = route.group_labels(alert.labels)
                key = (route.receiver, route.group_key(labels))
                out.setdefault(key, (labels, route.id, []))[2].append(snapshot)
            esc = inc.escalation
            for r in esc.notified if esc is not None else ():
                if r not in told and esc is not None:
                    told.add(r)
                    entry = out.setdefault((r, esc.group_key), (esc.group_labels, esc.route_id, []))
                    entry[2].append(snapshot)
        await asyncio.gather(*(
            self.announce(Notification(
                receiver=receiver, group_key=group_key, group_labels=labels,
                alerts=sorted(alerts, key=sort_key), now=now, route_id=route_id, event=event,
                actor=by, note=note,
            ))
            for (receiver, group_key), (labels, route_id, alerts) in out.items()
        ))
