"""The dispatcher: aggregation groups and their timers.

An alert routed to a route joins the group for (route, the alert's values
of the route's ``group_by`` labels). A new group flushes after
``group_wait``, then every ``group_interval``. A flush takes the group's
alerts from the alert state, drops the muted ones and hands the rest to the
notify hook; the notification log (in delivery) decides whether anything
is actually sent. After a successful flush, alerts that were resolved at the
flush and have not changed since leave the group; an empty group is removed.

Groups hold fingerprints, not alerts, so a re-post that only moves
``ends_at`` never touches the dispatcher. Timers live in the shared
scheduler; a flush that awaits runs as a task in the runtime's task group.

At most :data:`FLUSH_WORKERS` flushes per receiver deliver at once; a group due
while its receiver's are busy waits its turn in that receiver's queue, in the
order the groups fell due. In an alert storm (a group per alert, thousands due
within a second) the backlog is then a queue of group ids rather than thousands
of tasks sharing the event loop, and an ingest request waits for a few
deliveries' turns, not all of them. A queue per receiver: a slow receiver holds
up its own groups only.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

import structlog

from tocsin.core.alerts import AlertState
from tocsin.core.bus import Subscription
from tocsin.core.clock import Clock
from tocsin.core.events import Event, GroupFlushed
from tocsin.core.models import Alert, Notification, sort_key
from tocsin.core.mute import MuteReason
from tocsin.core.pacing import Pacer, sorted_paced
from tocsin.core.scheduler import Scheduler
from tocsin.dispatch.route import Route

if TYPE_CHECKING:
    from tocsin.core.scheduler import Timer

__all__ = ["FLUSH_WORKERS", "AggrGroup", "Dispatcher"]

log = structlog.get_logger("tocsin.dispatch.dispatcher")

#: Flushes delivering at once per receiver; further groups of the receiver that fall
#: due wait in its queue.
FLUSH_WORKERS = 16
#: A group of at most this many alerts is snapshotted and asked about at once, with no
#: pause between its alerts (a larger one hands the loop back as it goes).
SMALL_GROUP = 16


class AggrGroup:
    __slots__ = ("alerts", "flushing", "has_flushed", "key", "labels", "route", "timer")

    def __init__(self, route: Route, labels: dict[str, str]) -> None:
        self.route = route
        self.labels = labels
        self.key = route.group_key(labels)
        #: fingerprints of the group's alerts, in the order they joined
        self.alerts: dict[str, None] = {}
        self.timer: Timer | None = None
        self.has_flushed = False
        self.flushing = False

    def __repr__(self) -> str:
        return f"<AggrGroup {self.key} alerts={len(self.alerts)}>"


class Dispatcher:
    """Aggregation groups and their timers; a flush goes through the stages it is given.

    ``routes`` says which routes an alert takes (the ``tocsin_route`` hook);
    at a flush, ``muted`` says why an alert is muted (empty: it is not),
    ``record_mutes`` keeps that in the incidents, ``notify`` delivers the
    unmuted alerts (False: failed, the group keeps its resolved alerts), and
    ``remediate`` acts on a flush with firing alerts.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        scheduler: Scheduler,
        alerts: AlertState,
        routes: Callable[[Alert], Iterable[Route]],
        muted: Callable[[Alert, Route | None, float], list[MuteReason]],
        record_mutes: Callable[[list[tuple[str, list[MuteReason]]], float], Awaitable[None]],
        publish: Callable[[Event], Awaitable[None]],
        notify: Callable[[Notification], Awaitable[bool]],
        remediate: Callable[[Notification], Awaitable[None]],
        spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None] | None],
        workers: int = FLUSH_WORKERS,
        drained: Callable[[], None] = lambda: None,
    ) -> None:
        self.clock = clock
        self.scheduler = scheduler
        self.alerts = alerts
        self.routes = routes
        self.muted = muted
        self.record_mutes = record_mutes
        self.publish = publish
        self.notify = notify
        self.remediate = remediate
        #: Starts a flush in the runtime's task group (None once it has stopped).
        self.spawn = spawn
        self.groups: dict[tuple[str, str], AggrGroup] = {}
        self.workers = max(1, workers)
        #: Called when the last receiver's queue empties (:mod:`tocsin.notify.deferral`).
        self.drained = drained
        self._inflight: set[asyncio.Task[None]] = set()
        #: per receiver: flushes running, and the groups due while they were busy (with
        #: the monotonic time each fell due)
        self._running: dict[str, int] = {}
        self._queues: dict[str, deque[tuple[tuple[str, str], AggrGroup, float]]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    # -- routing alerts into groups ------------------------------------------------

    def process(self, alert: Alert) -> None:
        for route in self.routes(alert):
            self.insert(route, alert)

    def insert(self, route: Route, alert: Alert) -> None:
        labels = route.group_labels(alert.labels)
        group_key = route.group_key(labels)
        gid = (route.id, group_key)
        group = self.groups.get(gid)
        if group is None:
            group = self.groups[gid] = AggrGroup(route, labels)
            group.timer = self.scheduler.call_later(
                float(route.opts.group_wait), self._due, gid
            )
        group.alerts[alert.fingerprint] = None
        # An alert that has waited group_wait already (e.g. across a restart)
        # does not wait again before the group's first notification.
        if (
            not group.has_flushed
            and not group.flushing
            and alert.starts_at + route.opts.group_wait < self.clock.now()
            and (group.timer is None or group.timer.when > self.clock.monotonic())  # else due already
        ):
            self._reschedule(group, gid, 0.0)

    def _reschedule(self, group: AggrGroup, gid: tuple[str, str], delay: float) -> None:
        if group.timer is not None:
            group.timer.cancel()
        group.timer = self.scheduler.call_later(delay, self._due, gid)

    def _due(self, gid: tuple[str, str]) -> None:
        group = self.groups.get(gid)
        if group is None or self._closed:
            return
        group.timer = None
        if group.flushing:  # running or queued: the flush reschedules the group when it ends
            return
        group.flushing = True
        receiver = group.route.receiver
        if self._running.get(receiver, 0) < self.workers:
            self._start(gid, group)
        else:
            self._queues.setdefault(receiver, deque()).append((gid, group, self.clock.monotonic()))
            self._idle.clear()

    def _start(self, gid: tuple[str, str], group: AggrGroup) -> None:
        task = self.spawn(self._flush(gid, group), f"flush {group.key}")
        if task is None:  # stopped: nothing more starts
            group.flushing = False
            self._queues.clear()
            return
        receiver = group.route.receiver
        self._running[receiver] = self._running.get(receiver, 0) + 1
        self._inflight.add(task)
        self._idle.clear()
        task.add_done_callback(lambda t: self._done(receiver, t))

    def _done(self, receiver: str, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._running[receiver] -= 1
        queue = self._queues.get(receiver)
        while queue and self._running[receiver] < self.workers:
            gid, group, _ = queue.popleft()
            if self.groups.get(gid) is group:  # not dropped by a reload meanwhile
                self._start(gid, group)
        if not queue and self._queues.pop(receiver, None) is not None and not self._queues:
            self.drained()
        if not self._running[receiver]:
            del self._running[receiver]
        if not self._inflight:
            if self._queues:  # only groups dropped meanwhile were left
                self._queues.clear()
                self.drained()
            self._idle.set()

    # -- flushing ---------------------------------------------------------------------

    async def _flush(self, gid: tuple[str, str], group: AggrGroup) -> None:
        started = self.clock.monotonic()
        try:
            await self.flush(group)
        finally:
            group.flushing = False
            group.has_flushed = True
            if not group.alerts:
                self.groups.pop(gid, None)
            elif not self._closed:
                interval = float(group.route.opts.group_interval)
                elapsed = self.clock.monotonic() - started
                self._reschedule(group, gid, max(0.0, interval - elapsed))

    async def flush(self, group: AggrGroup) -> bool:
        now = self.clock.now()
        pacer = Pacer()  # a group of thousands: other work goes on meanwhile
        if len(group.alerts) <= SMALL_GROUP:
            snapshot = self._snapshot_now(group, now)
        else:
            snapshot = await self._snapshot(group, now, pacer)
        if not snapshot:
            return True

        unmuted: list[Alert] = []
        mutes: list[tuple[str, list[MuteReason]]] = []
        muted_by, route, small = self.muted, group.route, len(snapshot) <= SMALL_GROUP
        for a in snapshot:
            if not small:
                await pacer.tick()
            reasons = muted_by(a, route, now)
            if not reasons:
                unmuted.append(a)
            if not a.resolved(now):
                mutes.append((a.fingerprint, reasons))
        muted = len(snapshot) - len(unmuted)
        await self.record_mutes(mutes, now)
        n = self.notification(group, unmuted, now)
        firing = sum(1 for a in unmuted if not a.resolved(now))
        await self.publish(GroupFlushed(
            at=now, group_key=group.key, receiver=n.receiver,
            firing=firing, resolved=len(unmuted) - firing, muted=muted,
        ))
        # Nothing left after muting: the pipeline stops here, as Alertmanager's does.
        # Notifying an empty set would read as "all resolved" to the notification log.
        ok = await self.notify(n) if unmuted else True
        if ok:
            self._drop_resolved(group, snapshot, now)
        if firing:
            await self.remediate(n)
        return ok

    @staticmethod
    def notification(group: AggrGroup, alerts: list[Alert], now: float) -> Notification:
        """What a flush of ``group`` hands to ``notify``: ``alerts`` (its unmuted ones)."""
        route = group.route
        opts = route.opts
        return Notification(receiver=route.receiver, group_key=group.key, group_labels=group.labels,
                            alerts=alerts, now=now, route_id=route.id,
                            repeat_interval=float(opts.repeat_interval),
                            group_interval=float(opts.group_interval))

    def _snapshot_now(self, group: AggrGroup, now: float) -> list[Alert]:
        """:meth:`_snapshot` of a small group, at once (the usual group of a storm has one
        alert: a pause between its alerts has nothing to let through; a replay's flushes,
        whatever their size, have nothing else waiting for the loop)."""
        snapshot = [a for fp in list(group.alerts) if (a := self._copy(group, fp, now)) is not None]
        if len(snapshot) > 1:
            snapshot.sort(key=sort_key)
        return snapshot

    async def _snapshot(self, group: AggrGroup, now: float, pacer: Pacer) -> list[Alert]:
        """Copies of the group's alerts, in order, as they are at ``now``."""
        snapshot: list[Alert] = []
        for fp in list(group.alerts):  # a copy: alerts may join while this pauses
            await pacer.tick()
            if (copy := self._copy(group, fp, now)) is not None:
                snapshot.append(copy)
        return await sorted_paced(snapshot, sort_key, pacer)

    def _copy(self, group: AggrGroup, fp: str, now: float) -> Alert | None:
        """A copy of the group's alert ``fp`` as it is at ``now``, to deliver; None (and it
        leaves the group) when it was collected while in the group."""
        alert = self.alerts.get(fp)
        if alert is None:
            group.alerts.pop(fp, None)
            return None
        copy = alert.__copy__()
        if not alert.resolved(now):
            copy.ends_at = 0.0  # it must not resolve while being delivered
        return copy

    def _drop_resolved(self, group: AggrGroup, sent: list[Alert], now: float) -> None:
        """After a flush: the alerts sent as resolved leave the group, unless re-posted since
        (Alertmanager compares UpdatedAt the same way); else the next flush looks again."""
        for a in sent:
            if a.resolved(now) and a.fingerprint in group.alerts:
                current = self.alerts.get(a.fingerprint)
                if current is None or current.updated_at == a.updated_at:
                    del group.alerts[a.fingerprint]

    # -- lifecycle ----------------------------------------------------------------------

    def in_flight(self) -> set[asyncio.Task[None]]:
        """Flushes (deliveries) still running."""
        return {t for t in self._inflight if not t.done()}

    def queued(self) -> int:
        """Groups due and waiting for a free worker of their receiver."""
        return sum(len(q) for q in self._queues.values())

    def backlogged(self) -> bool:
        """Whether a group is due and waiting for a free worker of its receiver."""
        return bool(self._queues)

    def late(self) -> float:
        """Seconds the group longest due and still waiting for a worker has waited (0.0
        when none waits): how far the notifications due are behind."""
        if not self._queues:
            return 0.0
        now = self.clock.monotonic()
        return now - min((q[0][2] for q in self._queues.values() if q), default=now)

    async def settle(self) -> None:
        """Wait for every flush in flight or queued (tests, and shutdown)."""
        while self._inflight or self._queues:
            await self._idle.wait()

    async def close(self, timeout: float) -> None:
        """No more flushes fall due; those running or queued get ``timeout`` seconds to
        finish, then what is left is cancelled (a group not notified is flushed again at
        the next start: the notification log has no record of it)."""
        self._closed = True
        for group in self.groups.values():
            if group.timer is not None:
                group.timer.cancel()
        try:
            await asyncio.wait_for(self.settle(), timeout)
        except TimeoutError:
            self._queues.clear()
            pending = {t for t in self._inflight if not t.done()}
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    def rebuild(self, root: Route) -> None:
        """After a reload: drop groups and re-route every held alert into the new tree.

        The notification log is keyed by group key, so unchanged groups do not
        notify again; they flush at once (their alerts have waited already).
        """
        for group in self.groups.values():
            if group.timer is not None:
                group.timer.cancel()
        self.groups.clear()
        for alert in self.alerts:
            self.process(alert)


#: Alerts routed at most between two chances for the rest of the daemon to run.
DISPATCH_RUN = 256


async def route_queued(sub: Subscription, route: Callable[[Alert], None]) -> None:
    """Route each alert event of ``sub`` with ``route``, for as long as it runs. What one
    POST queued is routed before a flush it made due runs (a group of alerts older than
    group_wait flushes at once, with all of them, as in Alertmanager); a longer queue
    hands the loop back every :data:`DISPATCH_RUN` alerts, when its turn is up."""
    pacer = Pacer()
    run = 0
    async for event in sub:
        alert: Alert = event.alert  # type: ignore[attr-defined]
        try:
            route(alert)
        except Exception:
            log.exception("routing failed", fingerprint=alert.fingerprint)
        run += 1
        if run >= DISPATCH_RUN or not sub.depth():
            run = 0
            await pacer.tick()
