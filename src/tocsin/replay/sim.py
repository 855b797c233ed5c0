"""One replay: the stored history run through a config on a simulated clock.

The daemon's own classes do the work: the :class:`~tocsin.dispatch.dispatcher.Dispatcher`
(routing tree, aggregation groups and their timers) on a :class:`~tocsin.core.scheduler.
Scheduler` driven by a :class:`~tocsin.core.clock.FakeClock`; the silences, inhibition
and time-interval muters of ``mute/``; the notification log's decision per integration
(:mod:`~tocsin.replay.recorder`), which records where the daemon would send. Nothing is
written anywhere. Time jumps from one timer or event to the next, with no sleeping.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from tocsin.core.alerts import AlertState
from tocsin.core.bus import EventBus
from tocsin.core.clock import FakeClock
from tocsin.core.facade import Facade
from tocsin.core.matchers import matches_all
from tocsin.core.models import Alert, Notification
from tocsin.core.mute import MuteReason
from tocsin.core.records import RESOLVED, Silence
from tocsin.core.scheduler import Scheduler
from tocsin.dispatch.route import Route
from tocsin.incidents.plan import mute_keys
from tocsin.mute import inhibit, silences, timeintervals
from tocsin.mute.inhibit import INHIBITOR, Inhibitor
from tocsin.mute.silences import SILENCES, Silences
from tocsin.mute.timeintervals import NamedTimeInterval
from tocsin.notify.nflog import NotificationLog
from tocsin.replay.history import Acked, Fired
from tocsin.replay.quiet import QuietDispatcher
from tocsin.replay.recorder import Flushes, RecordingDelivery
from tocsin.replay.routing import Routing
from tocsin.store import Store

__all__ = ["Recording", "Sent", "Simulation", "Switch"]

#: Simulated seconds between sweeps of the alerts that resolved and left their groups.
GC_EVERY = 3600.0


@dataclass(frozen=True, slots=True)
class Switch:
    """The daemon (re)started or reloaded at ``at``: from then on, ``routing`` is in force."""

    at: float
    routing: Routing


class Sent(NamedTuple):
    """One group notification through one integration (incident ids of its alerts): a
    tuple, which the child process of a replay hands back quickly (a week holds ~100,000)."""

    at: float
    receiver: str
    integration: str
    group_key: str
    group_interval: float
    firing: tuple[str, ...]
    resolved: tuple[str, ...]


@dataclass(repr=False)
class Recording:
    """What a replay would have sent, and what it muted for which receiver and why."""

    sent: list[Sent] = field(default_factory=list)
    #: (receiver, incident id) -> the mute reasons seen at its flushes (``kind:id``).
    muted: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    #: Configs in force, by hash, in order.
    configs: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        # Short: asyncio.run writes the repr of its task (and so of this, its result) when
        # it restores the SIGINT handler, and a week's full repr takes a second.
        return f"<Recording sent={len(self.sent)} muted={len(self.muted)} configs={self.configs}>"


class _NoWrites:
    """Where the replayed notification log and silences are written: nowhere."""

    async def _nothing(self, *args: Any, **kwargs: Any) -> None:
        return None

    save_nflog = expire_nflog = save_silences = delete_silences = _nothing


NO_WRITES = cast(Store, _NoWrites())


async def _nothing(*args: Any) -> None:
    return None


class Simulation:
    """Runs events through ``routing`` (and the switches to other configs) from ``since``."""

    def __init__(self, routing: Routing, stored_silences: Iterable[Silence], since: float) -> None:
        self.clock = FakeClock(start=since)
        self.scheduler = Scheduler(self.clock)
        self.alerts = AlertState()
        self.bus = EventBus()
        self.flushes = Flushes()
        self.nflog = NotificationLog(NO_WRITES)
        self.silences = Silences(NO_WRITES)
        self.silences.load(stored_silences)
        self.recording = Recording()
        #: fingerprint -> the incident its alert is now; fingerprints acknowledged.
        self.incident_of: dict[str, str] = {}
        self.acked: set[str] = set()
        self.dispatcher = QuietDispatcher(
            clock=self.clock, scheduler=self.scheduler, alerts=self.alerts, routes=self._routes,
            muted=self._muted, record_mutes=_nothing, publish=_nothing, notify=self._notify,
            remediate=_nothing, spawn=self.flushes.spawn,
        )
        self.dispatcher.setup(since)
        self.dispatcher.nflog = self.nflog
        self.dispatcher.intervals = self._intervals
        self.dispatcher.integrations = self._integration_names
        self.dispatcher.note_silences(t for s in self.silences.query((), since)
                                      for t in (s.starts_at, s.ends_at))
        self._configure(routing)
        self.scheduler.call_later(GC_EVERY, self._gc_tick)

    def _configure(self, routing: Routing) -> None:
        self.routing = routing
        self._names: dict[str, tuple[str, ...]] = {}
        #: route id -> (from, until, the time-interval muter's answer all that while).
        #: fingerprint -> (its labels, whether an inhibit rule may mute it).
        self._targetable: dict[str, tuple[dict[str, str], bool]] = {}
        self._interval_verdicts: dict[str, tuple[float, float, MuteReason | None]] = {}
        self.recording.configs.append(routing.hash)
        self.inhibitor = Inhibitor(routing.config.document.inhibit_rules)
        for alert in self.alerts:
            self.inhibitor.observe(alert)
        self.facade = Facade(config=routing.config, clock=self.clock, alerts=self.alerts, bus=self.bus,
                             scheduler=self.scheduler)
        self.facade.provide(SILENCES, self.silences)
        self.facade.provide(INHIBITOR, self.inhibitor)
        self.dispatcher.inhibitor = self.inhibitor
        self.delivery = RecordingDelivery(self.nflog, routing.integrations, acknowledged=self.acknowledged,
                                          record=self.record_notified)

    # -- what the dispatcher and delivery are given ------------------------------------

    def _intervals(self) -> Mapping[str, NamedTimeInterval]:
        return self.routing.config.time_intervals

    def _integration_names(self, receiver: str) -> tuple[str, ...]:
        names = self._names.get(receiver)
        if names is None:
            found = self.routing.integrations.get(receiver, ())
            names = self._names[receiver] = tuple(name for name, _ in found)
        return names

    def _routes(self, alert: Alert) -> list[Route]:
        return self.routing.config.route.match(alert.labels)

    def _muted(self, alert: Alert, route: Route | None, now: float) -> list[MuteReason]:
        """The daemon's muters, in Alertmanager's order; one that cannot answer (no inhibit
        rules, no time intervals on the route, no silences) is not asked."""
        facade = self.facade
        reasons = []
        if self._may_be_inhibited(alert) and (r := inhibit.tocsin_mute(facade, alert, route, now)):
            reasons.append(r)
        if (route is not None and (route.opts.active_time_intervals or route.opts.mute_time_intervals)
                and (r := self._interval_mute(alert, route, now))):
            reasons.append(r)
        if len(self.silences) and (r := silences.tocsin_mute(facade, alert, route, now)):
            reasons.append(r)
        if reasons and route is not None and not alert.resolved(now):
            key = (route.receiver, self.incident_of.get(alert.fingerprint, alert.fingerprint))
            self.recording.muted.setdefault(key, set()).update(mute_keys(reasons))
        return reasons

    def _may_be_inhibited(self, alert: Alert) -> bool:
        """Whether the alert's labels match the target of an inhibit rule (found once per
        alert: a flush's snapshot shares its labels)."""
        fp = alert.fingerprint
        cached = self._targetable.get(fp)
        if cached is None or cached[0] is not alert.labels:
            cached = self._targetable[fp] = (alert.labels, any(
                matches_all(rule.target, alert.labels) for rule in self.inhibitor.rules))
        return cached[1]

    def _interval_mute(self, alert: Alert, route: Route, now: float) -> MuteReason | None:
        """The time-interval muter's answer, which depends only on the route and on which of
        its intervals hold: asked again only once one of them starts or stops holding."""
        cached = self._interval_verdicts.get(route.id)
        if cached is not None and cached[0] <= now < cached[1]:
            return cached[2]
        found = timeintervals.tocsin_mute(self.facade, alert, route, now)
        start, end = self.dispatcher.interval_span(route, now)
        self._interval_verdicts[route.id] = (start, end, found)
        return found

    async def _notify(self, n: Notification) -> bool:
        return await self.delivery.deliver(n)

    def acknowledged(self, fingerprints: Iterable[str]) -> bool:
        """Delivery's question: is every one of these alerts acknowledged (and is there one)?"""
        any_ = False
        for fp in fingerprints:
            if fp not in self.acked:
                return False
            any_ = True
        return any_

    def record_notified(self, n: Notification, integration: str, now: float) -> None:
        """Where the daemon would send: the recording."""
        of = self.incident_of
        firing: list[str] = []
        resolved: list[str] = []
        for a in n.alerts:
            fp = a.fingerprint
            (resolved if a.ends_at and a.ends_at <= n.now else firing).append(of.get(fp, fp))
        self.recording.sent.append(Sent(at=now, receiver=n.receiver, integration=integration,
                                        group_key=n.group_key, group_interval=n.group_interval,
                                        firing=tuple(firing), resolved=tuple(resolved)))

    # -- running --------------------------------------------------------------------------

    async def run(self, events: AsyncIterable[Fired | Acked], switches: Sequence[Switch],
                  until: float) -> Recording:
        pending = list(switches)
        async for ev in events:
            while pending and pending[0].at <= ev.at:
                await self._switch(pending.pop(0))
            await self.advance_to(ev.at)
            self.apply(ev)
        for sw in pending:
            if sw.at < until:
                await self._switch(sw)
        await self.advance_to(until)
        return self.recording

    async def _switch(self, sw: Switch) -> None:
        await self.advance_to(sw.at)
        self.collect_garbage()
        self._configure(sw.routing)
        self.dispatcher.rebuild(sw.routing.config.route)
        for alert in self.alerts:
            self.dispatcher.sources_changed(alert, sw.at)

    def apply(self, ev: Fired | Acked) -> None:
        if isinstance(ev, Acked):
            if self.incident_of.get(ev.fingerprint) == ev.incident_id:
                if ev.on:
                    self.acked.add(ev.fingerprint)
                else:
                    self.acked.discard(ev.fingerprint)
            return
        inc = ev.incident
        fp = inc.fingerprint
        ends = inc.resolved_at if inc.state == RESOLVED else 0.0
        alert = Alert(fingerprint=fp, labels=inc.labels, starts_at=ev.starts_at, ends_at=ends,
                      updated_at=ev.at)
        self.alerts.set(alert)
        self.incident_of[fp] = inc.id
        self.acked.discard(fp)
        self.inhibitor.observe(alert)
        self.dispatcher.sources_changed(alert, ev.at)
        self.dispatcher.process(alert)

    async def advance_to(self, t: float) -> None:
        """Fire every timer due up to ``t``, in order, each flush finished before the next."""
        clock, scheduler = self.clock, self.scheduler
        while (due := scheduler.next_due()) is not None:
            step = due - clock.monotonic()
            if clock.now() + step > t:
                break
            if step > 0:
                clock.advance(step)
            scheduler.run_due()
            self.flushes.run()
        if t > clock.now():
            clock.advance(t - clock.now())

    def _gc_tick(self) -> None:
        self.collect_garbage()
        self.scheduler.call_later(GC_EVERY, self._gc_tick)

    def collect_garbage(self) -> None:
        """Forget resolved alerts no group holds, as the daemon does."""
        now = self.clock.now()
        held = {fp for g in self.dispatcher.groups.values() for fp in g.alerts}
        for alert in self.alerts:
            if alert.resolved(now) and alert.fingerprint not in held:
                self.inhibitor.forget(alert.fingerprint, alert.labels)
                self.alerts.delete(alert.fingerprint)
                self.incident_of.pop(alert.fingerprint, None)
                self.acked.discard(alert.fingerprint)
                self._targetable.pop(alert.fingerprint, None)
                self.dispatcher.forget(alert.fingerprint)
