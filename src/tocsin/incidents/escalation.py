"""Escalation of firing incidents, by the policy of the route that opened them.

An incident that opens on a route with ``escalation_policy`` gets its
:class:`~tocsin.incidents.plan.Escalation` (policy, route, group, next step)
before it is written. While it fires unacknowledged, a timer runs to its
next step; the step tells that level's receivers (but the route's own, who
heard of the alert already) unless the alert is muted, and writes an
``escalated`` history row. Acknowledging pauses it; unacknowledging resumes it,
running only the latest of the steps that fell due meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import structlog

from tocsin.core.alerts import AlertState
from tocsin.core.clock import Clock
from tocsin.core.models import Alert, Notification
from tocsin.core.mute import MuteReason
from tocsin.core.scheduler import Scheduler
from tocsin.dispatch.route import Route
from tocsin.incidents.plan import FIRING, Escalation, HistoryEvent, Incident
from tocsin.incidents.policy import EscalationPolicy

if TYPE_CHECKING:
    from tocsin.core.scheduler import Timer

__all__ = ["Escalations", "Held"]

log = structlog.get_logger("tocsin.incidents.escalation")


class Held(Protocol):
    """The incidents escalation reads and updates (the lifecycle's)."""

    #: The current incident of each fingerprint.
    current: dict[str, Incident]
    #: Fingerprints whose incident changed in memory only, to be written later.
    dirty: set[str]

    async def save_quietly(self, incidents: Sequence[Incident], rows: Sequence[HistoryEvent]) -> None: ...


class Escalations:
    """The escalation timers of firing incidents, and the steps they run.

    ``routes``, ``muted``, ``announce`` and ``spawn`` are the lifecycle's (see
    :class:`~tocsin.incidents.lifecycle.Lifecycle`); :meth:`configure` takes the
    policies and routing tree of the config in force."""

    def __init__(
        self,
        *,
        clock: Clock,
        scheduler: Scheduler,
        alerts: AlertState,
        held: Held,
        routes: Callable[[Alert], Iterable[Route]],
        muted: Callable[[Alert, Route | None, float], list[MuteReason]],
        announce: Callable[[Notification], Awaitable[bool]],
        spawn: Callable[..., object],
    ) -> None:
        self.clock = clock
        self.scheduler = scheduler
        self.alerts = alerts
        self.held = held
        self.routes = routes
        self.muted = muted
        self.announce = announce
        self.spawn = spawn
        self.policies: Mapping[str, EscalationPolicy] = {}
        self.route: Route | None = None
        self._timers: dict[str, Timer] = {}

    def configure(self, policies: Mapping[str, EscalationPolicy], route: Route) -> None:
        self.policies = policies
        self.route = route

    def _policy(self, name: str) -> EscalationPolicy | None:
        return self.policies.get(name)

    def policy_of(self, inc: Incident) -> EscalationPolicy | None:
        """The policy escalating ``inc`` (as the config stands now), if any."""
        return self._policy(inc.escalation.policy) if inc.escalation is not None else None

    def opening(self, inc: Incident) -> Escalation | None:
        """The escalation an incident opening now gets: that of the first route of its
        alert with a policy, or none."""
        if not self.policies:
            return None
        alert = self.alerts.get(inc.fingerprint)
        if alert is None:
            return None
        for route in self.routes(alert):
            name = route.opts.escalation_policy
            policy = self._policy(name) if name else None
            if policy is None:
                continue
            labels = route.group_labels(alert.labels)
            return Escalation(policy=policy.name, route_id=route.id, receiver=route.receiver,
                              group_key=route.group_key(labels), group_labels=labels,
                              step=0, next_at=policy.due(inc.fired_at, 0) or 0.0)
        return None

    # -- timers -----------------------------------------------------------------------------

    def arm(self, inc: Incident) -> None:
        """Start the timer of the incident's next step, if it fires and has one."""
        self.disarm(inc.fingerprint)
        esc = inc.escalation
        if esc is None or not esc.next_at or inc.state != FIRING:
            return
        delay = max(0.0, esc.next_at - self.clock.now())
        self._timers[inc.fingerprint] = self.scheduler.call_later(
            delay, self._due, inc.fingerprint, inc.id)

    def now(self, fp: str) -> None:
        """Run the next level of a firing alert's escalation at once (a remediation that did
        not fix it); nothing when it has none left or is not firing."""
        inc = self.held.current.get(fp)
        if inc is not None and inc.state == FIRING and inc.escalation is not None and inc.escalation.next_at:
            self.disarm(fp)
            self._due(fp, inc.id)

    def disarm(self, fp: str) -> None:
        timer = self._timers.pop(fp, None)
        if timer is not None:
            timer.cancel()

    def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    # -- a step -----------------------------------------------------------------------------

    def _due(self, fp: str, incident_id: str) -> None:
        self._timers.pop(fp, None)
        inc = self.held.current.get(fp)
        if inc is None or inc.id != incident_id or inc.state != FIRING or inc.escalation is None:
            return
        esc = inc.escalation
        policy = self._policy(esc.policy)
        now = self.clock.now()
        if policy is None:
            log.warning("escalation policy gone after a reload; escalation stops",
                        fingerprint=fp, policy=esc.policy)
            new = msgspec.structs.replace(inc, escalation=msgspec.structs.replace(esc, next_at=0.0))
            self.held.current[fp] = new
            self.held.dirty.add(fp)
            return
        step = esc.step
        # Steps that fell due together (after a restart, or an unacknowledge): only the latest runs.
        skipped: list[int] = []
        while (nxt := policy.due(inc.fired_at, step + 1)) is not None and nxt <= now:
            skipped.append(step)
            step += 1
        level = policy.level(step)
        receivers = [r for r in level.receivers if r != esc.receiver]
        following = policy.due(inc.fired_at, step + 1)
        notified = list(dict.fromkeys([*esc.notified, *receivers]))
        new = msgspec.structs.replace(inc, escalation=msgspec.structs.replace(
            esc, step=step + 1, next_at=following or 0.0, notified=notified))
        self.held.current[fp] = new
        self.arm(new)
        self.spawn(self._escalate(new, step, level.receivers, receivers, skipped, now),
                   name=f"escalate {fp}")

    async def _escalate(self, inc: Incident, step: int, level_receivers: list[str], receivers: list[str],
                        skipped: list[int], now: float) -> None:
        esc = inc.escalation
        assert esc is not None
        policy = self._policy(esc.policy)
        levels = len(policy.levels) if policy is not None else 0
        level_no = min(step, levels - 1) + 1 if levels else step + 1
        detail: dict[str, Any] = {"policy": esc.policy, "level": level_no, "step": step + 1,
                                  "receivers": receivers}
        if step >= levels:
            detail["repeat"] = step - levels + 1
        if skipped:
            detail["skipped_steps"] = [s + 1 for s in skipped]
        if len(receivers) < len(level_receivers):
            detail["notified_by_route"] = esc.receiver
        alert = self.alerts.get(inc.fingerprint)
        route = self._route(esc.route_id)
        if alert is not None and self.muted(alert, route, now):
            detail["skipped"] = "muted"
            receivers = []
        if alert is not None and receivers:
            note = f"escalation level {level_no} of policy {esc.policy}"
            if "repeat" in detail:
                note += f" (repeat {detail['repeat']})"
            snapshot = alert.__copy__()
            if not alert.resolved(now):
                snapshot.ends_at = 0.0
            sends = [
                self.announce(Notification(
                    receiver=r, group_key=esc.group_key, group_labels=esc.group_labels,
                    alerts=[snapshot], now=now, route_id=esc.route_id, event="escalated",
                    actor="tocsin", note=note,
                ))
                for r in receivers
            ]
            await asyncio.gather(*sends)
        row = HistoryEvent(at=now, alert_id=inc.id, fingerprint=inc.fingerprint, kind="escalated",
                           actor="tocsin", detail=detail)
        current = self.held.current.get(inc.fingerprint)
        latest = current if current is not None and current.id == inc.id else inc
        await self.held.save_quietly([latest], [row])
        log.info("escalated", fingerprint=inc.fingerprint, policy=esc.policy, level=level_no,
                 receivers=receivers)

    def _route(self, route_id: str) -> Route | None:
        return next((r for r in self.route.walk() if r.id == route_id), None) if self.route else None

    # -- what is to come --------------------------------------------------------------------

    def pending(self) -> list[tuple[Incident, EscalationPolicy | None]]:
        """Incidents with an escalation step still to come (acknowledged ones paused)."""
        out = []
        for inc in self.held.current.values():
            esc = inc.escalation
            if esc is not None and esc.next_at and inc.open:
                out.append((inc, self._policy(esc.policy)))
        out.sort(key=lambda p: p[0].escalation.next_at)  # type: ignore[union-attr]
        return out
