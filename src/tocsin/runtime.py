"""The runtime: one object that owns the daemon's state and background work.

It is what hooks receive as ``runtime``. Start-up order: open the store,
load alerts and the notification log, build delivery, start the background
loops (dispatcher consumer, observers), then re-route every held alert so
groups resume (:mod:`tocsin.runtime_restore`: the first chunk before the ready
answer, the rest after, then the scheduler). Stop runs it backwards, draining
on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Coroutine, Iterable, Iterator
from typing import Any

import aiohttp
import structlog

from tocsin import runtime_restore
from tocsin.channels import keepalive
from tocsin.channels.handled import MAX_SKEW, HandledCallbacks, kept_for
from tocsin.channels.inbound import INBOUND, Inbound
from tocsin.config.document import Config
from tocsin.core import looplag
from tocsin.core.alerts import AlertState
from tocsin.core.bus import EventBus, Subscription
from tocsin.core.clock import Clock, SystemClock
from tocsin.core.events import ALERT_EVENTS, ConfigReloaded
from tocsin.core.facade import Facade
from tocsin.core.gate import Gate
from tocsin.core.hooks import call_each
from tocsin.core.metrics import Metrics
from tocsin.core.models import Alert, Notification, PostableAlert
from tocsin.core.mute import MuteReason
from tocsin.core.pacing import Pacer
from tocsin.core.scheduler import Scheduler
from tocsin.core.tasks import Background
from tocsin.dispatch.backpressure import Backpressure
from tocsin.dispatch.dispatcher import Dispatcher, route_queued
from tocsin.dispatch.route import Route
from tocsin.incidents.heartbeats import Heartbeats
from tocsin.incidents.lifecycle import Lifecycle
from tocsin.incidents.plan import Plan, plan_alert
from tocsin.ingest.pipeline import Ingester
from tocsin.mute.inhibit import INHIBITOR, Inhibitor
from tocsin.mute.silences import SILENCES, Silences
from tocsin.notify import receivers
from tocsin.notify.deadletters import DeadLetterQueue
from tocsin.notify.deferral import Deferral
from tocsin.notify.delivery import DELIVERY, Delivery
from tocsin.notify.nflog import NotificationLog
from tocsin.plugins import PluginManager
from tocsin.remediation.engine import KEEP, REMEDIATOR, Remediator
from tocsin.replay.routing import record_config
from tocsin.runtime_flush import FlushHooks
from tocsin.runtime_lease import Leadership
from tocsin.store import Store
from tocsin.store.factory import make_store

__all__ = ["Runtime"]

log = structlog.get_logger("tocsin.runtime")

PERSIST_INTERVAL = 10.0
GC_INTERVAL = 30.0
NFLOG_GC_INTERVAL = 3600.0
SILENCE_GC_INTERVAL = 900.0
#: The first retention sweep after start, at the latest.
FIRST_SWEEP = 60.0
#: The least a stop gets to drain, however late it starts.
MIN_DRAIN = 0.25


class Runtime:
    """The composition root: builds every component, hands each the collaborators it
    uses, starts and stops them, and swaps the config at reload. Nothing below it
    imports it; plugins see :attr:`facade`."""

    #: Whether it runs the loops that notify: once started, but on a follower replica.
    leading: bool = False
    #: Replicas on PostgreSQL: the leader lease, and reading what others committed.
    leadership: Leadership | None = None

    def __init__(self, config: Config, hooks: PluginManager, *, clock: Clock | None = None,
                 store: Store | None = None) -> None:
        self.config = config
        self.hooks = hooks
        self.clock: Clock = clock or SystemClock()
        self.store: Store = store or make_store(config.storage)
        self.bus = EventBus()
        self.alerts = AlertState()
        retention = float(config.storage.retention)
        self.nflog = NotificationLog(self.store, retention=retention)
        self.silences = Silences(self.store, retention=retention)
        self.inhibitor = Inhibitor(config.document.inhibit_rules)
        self.dead_letters = DeadLetterQueue(self.store)
        self.handled_callbacks = HandledCallbacks(self.store)  # Slack's, PagerDuty's: against replays
        self.metrics = Metrics()
        self.gate = Gate()  # sends and remediations: held by a leader unsure of its lease
        self._reloaded = (self.clock.now(), 0)  # (time of the last good load, failures seen then)
        self.scheduler = Scheduler(self.clock)
        #: Every task the runtime starts: its loops, the flushes, and other jobs.
        self.background = Background()
        #: What hooks get as ``runtime``: the config, clock, alerts, and shared components.
        self.facade = Facade(config=config, clock=self.clock, alerts=self.alerts, bus=self.bus,
                             scheduler=self.scheduler)
        #: ``tocsin_route``, called for every alert the dispatcher sees; the mute hooks.
        self.route_caller = hooks.first_result("tocsin_route")
        #: The flush's hook stages: the mute hooks, ``tocsin_notify``, ``tocsin_remediate``.
        self.flush_hooks = FlushHooks(hooks, self.facade)
        self.lifecycle = Lifecycle(
            clock=self.clock, scheduler=self.scheduler, store=self.store, alerts=self.alerts,
            publish=self.bus.publish, spawn=self.spawn, routes=self.routes_for, muted=self.muted,
            announce=self._announce,
        )
        self.dispatcher = Dispatcher(
            clock=self.clock, scheduler=self.scheduler, alerts=self.alerts, routes=self.routes_for,
            muted=self.muted, record_mutes=self.lifecycle.record_mutes, publish=self.bus.publish,
            notify=self.flush_hooks.notify, remediate=self.flush_hooks.remediate, spawn=self.spawn,
            drained=lambda: self.deferral.poke(),
        )
        self.deferral = Deferral(lambda: self.backpressure.busy and self.dispatcher.backlogged(), self.spawn)
        self.remediator = Remediator(
            clock=self.clock, scheduler=self.scheduler, store=self.store, alerts=self.alerts,
            incidents=self.lifecycle, metrics=self.metrics, spawn=self.spawn, muted=self.muted,
            announce=self._announce, escalate=self.lifecycle.escalations.now, gate=self.gate,
        )
        self.heartbeats = Heartbeats(clock=self.clock, scheduler=self.scheduler, store=self.store,
                                     post=self._post_own, spawn=self.spawn)
        self.backpressure = Backpressure(self.dispatcher.late)  # ingest waits while flushes are late
        self.ingester = Ingester(runtime=self.facade, hooks=hooks, store=self.store, incidents=self.lifecycle,
                                 publish=self.bus.publish, counted=self.metrics_received,
                                 observe=self.heartbeats.observe, room=self.backpressure.room)
        self.session: aiohttp.ClientSession | None = None
        self.delivery: Delivery = self._delivery(config, {})
        self.counters: Counter[str] = Counter()
        self.started_at = self.clock.now()
        self.resumed = asyncio.Event()  # every held alert back in its group, the scheduler running
        self.ready = False
        #: ``time.monotonic()`` by which a stop should be over (set by the daemon on SIGTERM).
        self.stop_by: float | None = None
        self._subs: list[Subscription] = []
        self._configure(config)

    def _delivery(self, config: Config, integrations: dict[str, list[receivers.Integration]]) -> Delivery:
        return Delivery(integrations, clock=self.clock, store=self.store, nflog=self.nflog,
                        dead_letters=self.dead_letters, incidents=self.lifecycle, metrics=self.metrics,
                        bus=self.bus, redact=config.document.redact, gate=self.gate, deferral=self.deferral)

    def _build_delivery(self, config: Config) -> Delivery:
        assert self.session is not None
        return self._delivery(config, receivers.build(
            config.receivers, config.kinds, session=self.session,
            external_url=config.server.external_url or f"http://{config.server.listen}",
            global_config=config.global_, templates=config.templates,
        ))

    def _configure(self, config: Config) -> None:
        """Hand the config in force, and the components built from it, to those that use them."""
        self.config = self.facade.config = config
        self.silences.allow_negative_only = config.document.silences.allow_negative_only
        self.lifecycle.configure(config.escalation_policies, config.route)
        self.flush_hooks.configure(config.route)
        self.heartbeats.configure(config.document.heartbeats)
        self.remediator.configure(config.remediations, config.route, self.delivery.redactor, self.session)
        self.facade.provide(SILENCES, self.silences)
        self.facade.provide(INHIBITOR, self.inhibitor)
        self.facade.provide(DELIVERY, self.delivery)
        self.facade.provide(REMEDIATOR, self.remediator)
        if self.session is not None:  # started: the channels' callbacks may act
            self.facade.provide(INBOUND, Inbound(self.lifecycle, self.dispatcher, self.session, self.spawn,
                                                 self.handled_callbacks))

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        await self.background.open()
        await self.store.open()
        await self._load()
        self.session = aiohttp.ClientSession()
        self.delivery = self._build_delivery(self.config)
        self._configure(self.config)
        make_lease = getattr(self.store, "lease", None)
        lease = make_lease() if make_lease is not None else None
        if lease is None:
            await self.lead()
            return
        # Replicas share the database: serve now, lead when the lease is ours.
        self.leadership = Leadership(self, lease, address=self.config.server.external_url
                                     or self.config.server.listen)
        self.background.loop(self.leadership.run(), "lease")
        self.background.loop(self.leadership.sync(), "sync")
        self.ready = True
        log.info("runtime started, following", alerts=len(self.alerts))

    async def _load(self) -> None:
        """The state as the database has it: alerts, incidents, silences, and the rest."""
        alerts = await self.store.load_alerts()
        self.alerts.load(alerts)
        self.inhibitor.observe_all(alerts)
        self.lifecycle.load(await self.store.load_open_incidents())
        self.silences.load(await self.store.load_silences())
        await self.load_unfed()

    async def load_unfed(self) -> None:
        """What the change feed does not keep: runs, nflog, dead letters, heartbeats."""
        now = self.clock.now()
        self.remediator.load(await self.store.load_runs(now - KEEP))
        self.nflog.load(await self.store.load_nflog(now))
        self.dead_letters.load(await self.store.load_dead_letters())
        self.heartbeats.load(await self.store.load_heartbeats())
        self.metrics.dead_letters.set(len(self.dead_letters))

    async def lead(self) -> None:
        """Start the loops that notify: at start, or (replicas) once this replica leads,
        with what the change feed does not keep read again (:meth:`Leadership.warm_up`)."""
        now = self.clock.now()
        if self.leadership is not None:
            await self.leadership.warm_up()
        await self.remediator.recover()
        await record_config(self.store, self.config, now, "start")
        dispatch_sub = self.bus.subscribe("dispatcher", ALERT_EVENTS)
        self._subs.append(dispatch_sub)
        self.background.loop(self._dispatch_loop(dispatch_sub), "dispatch")
        self._start_observers()
        self.background.loop(looplag.watch(self.metrics.loop_lag), "loop-lag")
        self.background.loop(self.backpressure.watch(), "backpressure")

        await self._adopt_untracked(now)
        restoring = runtime_restore.restore(self.alerts, self.lifecycle, self.dispatcher)
        next(restoring, None)  # the first chunk before the ready answer; the rest in the scheduler's task
        self.background.loop(self._schedule(restoring), "scheduler")
        self.heartbeats.start()
        self.scheduler.call_later(PERSIST_INTERVAL, self._every, PERSIST_INTERVAL, self.persist_dirty)
        self.scheduler.call_later(GC_INTERVAL, self._every, GC_INTERVAL, self.collect_garbage)
        # Retention sweeps: one soon after start, then at least twice per retention period.
        for longest, sweep in ((NFLOG_GC_INTERVAL, self._nflog_gc), (SILENCE_GC_INTERVAL, self._silence_gc)):
            first = min(FIRST_SWEEP, self._sweep_period(longest))
            self.scheduler.call_later(first, self._every, longest, sweep, True)
        self.leading = self.ready = True
        log.info("runtime started", alerts=len(self.alerts), nflog=len(self.nflog))

    async def _schedule(self, restoring: Iterator[int]) -> None:
        """Resume the held alerts' groups and timers (:mod:`tocsin.runtime_restore`),
        yielding to requests between two chunks, then run the scheduler."""
        while True:
            await runtime_restore.pause()
            if next(restoring, None) is None:
                break
        self.resumed.set()
        log.info("held alerts resumed", alerts=len(self.alerts), groups=len(self.dispatcher.groups))
        await self.scheduler.run()

    async def _adopt_untracked(self, now: float) -> None:
        """Firing alerts stored by a tocsin that kept no incidents get one now."""
        untracked = self.alerts.fingerprints() - self.lifecycle.current.keys()
        if not untracked:
            return
        plan = Plan()
        for alert in self.alerts:
            if alert.fingerprint in untracked and not alert.resolved(now):
                plan_alert(plan, None, alert, None, now, source="restore")
        if plan.incidents:
            self.lifecycle.prepare(plan)
            await self.store.save(incidents=list(plan.incidents.values()), history=plan.history)
            self.lifecycle.install(plan)

    def dead_loops(self) -> list[str]:
        """Background loops of a started runtime that ended: it no longer works (the
        daemon stops pinging systemd's watchdog)."""
        if not self.ready:
            return []
        return self.background.dead()

    async def stop(self, deadline: float | None = None) -> None:
        """Drain what was accepted, finish or give up deliveries, close the store.

        ``deadline`` (seconds) bounds the whole stop, not each step: when it passes,
        flushes and background work still running are cancelled (a given-up delivery
        is sent again at the next start: the notification log has no record of it).
        Without one it is ``server.shutdown_timeout``, or what is left of it when the
        daemon has set ``stop_by`` (a ``monotonic()`` time) before draining requests.
        """
        if deadline is None:
            deadline = float(self.config.server.shutdown_timeout)
            if self.stop_by is not None:
                deadline = max(MIN_DRAIN, min(deadline, self.stop_by - time.monotonic()))
        self.ready = False
        flushes = self.dispatcher.in_flight()
        background = self.background.jobs() - flushes
        if flushes or background:
            log.info("waiting for work in flight", deliveries=len(flushes), background=len(background),
                     deadline_s=round(deadline, 3))
        cutoff = asyncio.get_running_loop().call_later(deadline, self.background.cancel_jobs)
        self.deferral.close()  # the records of notifications sent: first, within the deadline
        try:
            for sub in self._subs:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(sub.drained(), deadline)
            await self.dispatcher.close(deadline)
            leftover = await self.background.drain(deadline)
        finally:
            cutoff.cancel()
        if leftover:
            await asyncio.wait(leftover, timeout=1.0)
        given_up = sum(1 for t in flushes if t.cancelled() or not t.done())
        abandoned = sum(1 for t in background if t.cancelled() or not t.done())
        if given_up or abandoned:
            log.warning("shutdown deadline reached: work in flight given up; groups whose delivery was "
                        "given up notify again at the next start",
                        deliveries_given_up=given_up, deliveries_finished=len(flushes) - given_up,
                        background_given_up=abandoned, deadline_s=round(deadline, 3))
        elif flushes or background:
            log.info("work in flight finished", deliveries=len(flushes), background=len(background))
        self.lifecycle.stop()
        self.remediator.stop()
        self.heartbeats.stop()
        with contextlib.suppress(Exception):
            await self.persist_dirty()
        await self.background.close()
        for sub in self._subs:
            sub.close()
        if self.session is not None:
            keepalive.close(self.session)  # the webhook channel's kept-alive connections
            await self.session.close()
        await self.store.close()
        log.info("runtime stopped")

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any] | None:
        """Run background work in the runtime's task group; a stop waits for it (up to
        its deadline). None once the runtime has stopped: the work is dropped."""
        return self.background.spawn(coro, name)

    async def settle(self) -> None:
        """Wait until no background work is left (tests, and the fake clock)."""
        await self.background.settle()

    def _every(self, interval: float, job: Any, retention: bool = False) -> None:
        """Run ``job`` now and again every ``interval``; a retention sweep (``retention``)
        at most every ``interval``, as :meth:`_sweep_period` says."""
        self.spawn(job(), name=getattr(job, "__name__", "job"))
        period = self._sweep_period(interval) if retention else interval
        self.scheduler.call_later(period, self._every, interval, job, retention)

    def _sweep_period(self, longest: float) -> float:
        """How often a retention sweep runs: ``longest``, or half the shorter retention
        (as the config stands now: a reload may shorten it), but not below a second."""
        storage = self.config.storage
        keep = min(float(storage.retention), float(storage.history_retention))
        return max(1.0, min(longest, keep / 2))

    # -- loops ----------------------------------------------------------------------------

    async def _dispatch_loop(self, sub: Subscription) -> None:
        await route_queued(sub, self._route_alert)

    def _route_alert(self, alert: Alert) -> None:
        self.inhibitor.observe(alert)
        self.dispatcher.process(alert)

    def _start_observers(self) -> None:
        """The observers' loop, once a plugin observes (at start, or a plugin loaded at a reload)."""
        if any(sub.name == "observers" for sub in self._subs) or not self.hooks.has_impls("tocsin_observe"):
            return
        obs = self.bus.subscribe("observers")
        self._subs.append(obs)
        self.background.loop(self._observe_loop(obs), "observers")

    async def _observe_loop(self, sub: Subscription) -> None:
        pacer = Pacer()
        async for event in sub:
            await pacer.tick()
            # One by one: an observer raising (even synchronously) must not end the loop,
            # which would stall every publisher once the queue is full.
            def failed(plugin: str, exc: BaseException, event: Any = event) -> None:
                log.error("observer failed", plugin=plugin, event_type=type(event).__name__, exc_info=exc)

            await call_each(self.hooks.hook.tocsin_observe, failed, runtime=self.facade, event=event)

    # -- pipeline helpers used by the dispatcher and API ---------------------------------

    def muted(self, alert: Alert, route: Route | None, now: float) -> list[MuteReason]:
        """Why ``alert`` is muted (empty: it is not), as the mute hooks say."""
        return self.flush_hooks.muted(alert, route, now)

    @property
    def muters(self) -> list[Any]:
        """The mute hooks' callers (new ones after a reload that changed plugins)."""
        return self.flush_hooks.muters

    async def _post_own(self, alerts: list[PostableAlert]) -> None:
        """Alerts tocsin raises itself (a missed heartbeat), through the ingest path."""
        await self.ingester.ingest(list(enumerate(alerts)), source="tocsin")

    async def _announce(self, n: Notification) -> bool:
        return await self.delivery.announce(n)

    def routes_for(self, alert: Alert) -> Iterable[Route]:
        """The routes ``tocsin_route`` gives for ``alert``."""
        return self.route_caller(runtime=self.facade, alert=alert) or ()

    def receivers_for(self, alert: Alert) -> list[str]:
        seen: dict[str, None] = {}
        for route in self.routes_for(alert):
            seen.setdefault(route.receiver)
        return list(seen)

    def last_reload(self) -> tuple[bool, float]:
        """(whether the last reload succeeded, when the config was last loaded)."""
        at, failures = self._reloaded
        return self.counters["config_reload_failures"] <= failures, at

    def metrics_received(self, accepted: int, invalid: int, source: str = "api_v2") -> None:
        self.counters["alerts_received"] += accepted
        self.counters["alerts_invalid"] += invalid
        self.metrics.alerts_received.labels(source).inc(accepted)
        if invalid:
            self.metrics.alerts_invalid.labels(source).inc(invalid)

    # -- maintenance ----------------------------------------------------------------------

    async def persist_dirty(self) -> None:
        """Write what changed without a write of its own (re-posts that only moved an end
        time, occurrences); on a failed write it stays to write at the next try."""
        dirty = self.alerts.take_dirty()
        incidents = self.lifecycle.take_dirty()
        if dirty or incidents:
            try:
                await self.store.save(alerts=dirty, incidents=incidents)
            except Exception:
                held = self.alerts
                held.dirty.update(a.fingerprint for a in dirty if held.get(a.fingerprint) is not None)
                self.lifecycle.dirty.update(i.fingerprint for i in incidents)
                raise
        await self.heartbeats.persist()  # last-seen times, heartbeats declared missing or back

    async def collect_garbage(self) -> None:
        """Forget resolved alerts that no group holds any more."""
        now = self.clock.now()
        held = {fp for g in self.dispatcher.groups.values() for fp in g.alerts}
        gone = [a.fingerprint for a in self.alerts if a.resolved(now) and a.fingerprint not in held]
        # An incident still open (its expiry not run yet) may be held by its alert's row alone.
        keep = [inc for fp in gone if (inc := self.lifecycle.current.get(fp)) is not None and inc.open]
        for fp in gone:
            alert = self.alerts.get(fp)
            if alert is not None:
                self.inhibitor.forget(fp, alert.labels)
            self.alerts.delete(fp)
            self.lifecycle.forget(fp)
        if gone:
            await self.store.delete_alerts(gone, keep)

    async def _nflog_gc(self) -> None:
        now = self.clock.now()
        await self.nflog.gc(now)
        keep = float(self.config.storage.history_retention)
        await self.store.expire_attempts(now - keep)
        await self.store.expire_history(now - keep)
        max_age = max(float(self.config.document.integrations.pagerduty.max_event_age), MAX_SKEW)
        await self.handled_callbacks.expire(now - kept_for(float(self.config.storage.retention), max_age))
        if await self.dead_letters.expire(now - keep):
            self.metrics.dead_letters.set(len(self.dead_letters))

    async def _silence_gc(self) -> None:
        await self.silences.gc(self.clock.now())

    # -- reload ---------------------------------------------------------------------------

    async def reload(self, config: Config) -> None:
        """Swap in an already validated config; groups are rebuilt on the new tree."""
        delivery = self._build_delivery(config)
        inhibitor = Inhibitor(config.document.inhibit_rules)
        for alert in self.alerts:
            inhibitor.observe(alert)
        self.delivery = delivery
        self.inhibitor = inhibitor
        self._configure(config)
        # Plugins may have changed: a reload loads those installed since start.
        self.route_caller = self.hooks.first_result("tocsin_route")
        self.flush_hooks.plan()
        self._start_observers()
        self.nflog.retention = self.silences.retention = float(config.storage.retention)
        self.dispatcher.rebuild(config.route)
        await record_config(self.store, config, self.clock.now(), "reload", leading=self.leading)
        self._reloaded = (self.clock.now(), self.counters["config_reload_failures"])
        await self.bus.publish(ConfigReloaded(at=self.clock.now(), success=True))
        log.info("config reloaded", summary=config.summary())
