"""The dispatcher of a replay: the daemon's, which skips the flushes that cannot change
anything.

A group flushes every ``group_interval`` for as long as it holds alerts; over a week most
of those flushes find what the last one found and send nothing. A flush is sure to be
such a no-op when, since the group's last flush: no alert joined, left or was replaced;
none resolved; no silence began or ended; no alert that could inhibit its alerts fired or
resolved; its route's time intervals hold the same now as then; and no integration's
reminder (``repeat_interval``) has come due. Then the group is *parked*: its timer moves
to the first tick of its rhythm (last flush + k x group_interval) at which one of those
could have changed (a time interval is made of whole minutes: it can start or stop
holding only at a minute, and those minutes are found once), and an alert joining it, or
an inhibiting alert firing, brings it back to its next tick. Every flush that could
matter runs, at the time the daemon would have run it, through the daemon's own code.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from tocsin.core.matchers import matches_all
from tocsin.core.models import Alert
from tocsin.dispatch.dispatcher import AggrGroup, Dispatcher
from tocsin.dispatch.route import Route
from tocsin.mute.inhibit import Inhibitor
from tocsin.mute.timeintervals import NamedTimeInterval
from tocsin.notify.nflog import NotificationLog

__all__ = ["QuietDispatcher"]

INF = math.inf
#: An inhibition's sources: (the rule's index, the values of its ``equal`` labels).
Source = tuple[int, tuple[str, ...]]
#: How far ahead a time interval's edges are looked for at once (seconds).
SCAN = 7 * 86400.0


@dataclass(frozen=True, slots=True)
class _Seen:
    """A group as a flush left it: when, its alerts, the inhibitions that could mute one of
    them (rule, values of its ``equal`` labels), and the first time one of them resolves
    after that flush."""

    at: float
    alerts: tuple[Alert | None, ...]
    targets: frozenset[Source]
    resolves: float


class QuietDispatcher(Dispatcher):
    """:class:`Dispatcher` with the no-op flushes skipped (see the module)."""

    #: Set by the replay: what the quiet test reads besides the groups.
    nflog: NotificationLog
    inhibitor: Inhibitor
    intervals: Callable[[], Mapping[str, NamedTimeInterval]]
    integrations: Callable[[str], Sequence[str]]

    def setup(self, since: float) -> None:
        #: Where the replay starts: time intervals are looked at from there on.
        self.since = since
        #: interval name -> the sorted minutes (as wall times) at which it starts or stops holding.
        self._interval_edges: dict[str, list[float]] = {}
        #: interval name -> up to when its edges are known.
        self._scanned: dict[str, float] = {}
        #: gid -> the group as its last flush left it.
        self.last: dict[tuple[str, str], _Seen] = {}
        #: (interval name, minute) -> whether the interval holds then (an interval is made of
        #: whole minutes: it holds all of a minute or none of it).
        self._holds: dict[tuple[str, int], bool] = {}
        #: gid -> monotonic time of a tick of its rhythm, for a parked group.
        self.parked: dict[tuple[str, str], float] = {}
        #: Sorted wall times at which a silence begins or ends.
        self.silence_edges: list[float] = []
        #: fingerprint -> (its alert, the inhibition sources that could mute it), as last seen.
        self._targets_of: dict[str, tuple[Alert, frozenset[Source]]] = {}
        #: Per inhibition source: sorted wall times at which an alert of it fires or resolves.
        self.inhibit_edges: dict[Source, list[float]] = {}

    # -- what changes the answer of a flush ----------------------------------------------

    def _signature(self, group: AggrGroup) -> tuple[Alert | None, ...]:
        """The group's alerts: a re-fired alert is a new object (so is one collected)."""
        return tuple(map(self.alerts.get, group.alerts))

    def _targets(self, group: AggrGroup) -> frozenset[Source]:
        """The inhibition sources whose alerts could mute some alert of the group."""
        rules = self.inhibitor.rules
        if not rules:
            return frozenset()
        out: set[Source] = set()
        known = self._targets_of
        for fp in group.alerts:
            a = self.alerts.get(fp)
            if a is None:
                continue
            cached = known.get(fp)
            if cached is None or cached[0] is not a:
                cached = known[fp] = (a, frozenset((i, r.key(a.labels)) for i, r in enumerate(rules)
                                                   if matches_all(r.target, a.labels)))
            out |= cached[1]
        return frozenset(out)

    @staticmethod
    def _edge_between(edges: list[float], after: float, upto: float) -> bool:
        i = bisect.bisect_right(edges, after)
        return i < len(edges) and edges[i] <= upto

    def _contains(self, ti: NamedTimeInterval, ts: float) -> bool:
        key = (ti.name, int(ts // 60))
        found = self._holds.get(key)
        if found is None:
            if len(self._holds) > 100_000:
                self._holds.clear()
            found = self._holds[key] = ti.contains(ts)
        return found

    def _edges_of(self, ti: NamedTimeInterval, after: float) -> list[float]:
        """The minutes at which ``ti`` starts or stops holding, from the replay's start to
        at least a week past ``after`` (looked for a minute at a time, once)."""
        edges = self._interval_edges.setdefault(ti.name, [])
        scanned = self._scanned.get(ti.name, math.floor(self.since / 60) * 60.0)
        if scanned <= after:
            end = after + SCAN
            held = ti.contains(scanned)
            minute = scanned + 60.0
            while minute <= end:
                if ti.contains(minute) != held:
                    edges.append(minute)
                    held = not held
                minute += 60.0
            self._scanned[ti.name] = end
        return edges

    def interval_span(self, route: Route, now: float) -> tuple[float, float]:
        """The span around ``now`` in which none of the route's time intervals starts or
        stops holding (what holds at ``now`` holds all that while)."""
        named = self.intervals()
        start, end = -INF, INF
        for name in (*route.opts.active_time_intervals, *route.opts.mute_time_intervals):
            if (ti := named.get(name)) is None:
                continue
            edges = self._edges_of(ti, now)
            i = bisect.bisect_right(edges, now)
            if i:
                start = max(start, edges[i - 1])
            end = min(end, edges[i] if i < len(edges) else self._scanned[name])
        return start, end

    def _intervals_same(self, route: Route, then: float, now: float) -> bool:
        named = self.intervals()
        for name in (*route.opts.active_time_intervals, *route.opts.mute_time_intervals):
            ti = named.get(name)
            if ti is not None and self._contains(ti, then) != self._contains(ti, now):
                return False
        return True

    def _reminder_at(self, group: AggrGroup) -> float:
        """The earliest time an integration of the group's receiver may be reminded."""
        repeat = float(group.route.opts.repeat_interval)
        due = INF
        for integration in self.integrations(group.route.receiver):
            entry = self.nflog.get(group.key, group.route.receiver, integration)
            if entry is not None:
                due = min(due, entry.sent_at + repeat)
        return due

    def _quiet(self, gid: tuple[str, str], group: AggrGroup, now: float) -> bool:
        seen = self.last.get(gid)
        if seen is None or not group.alerts or seen.resolves <= now or self._signature(group) != seen.alerts:
            return False
        then = seen.at
        if self._edge_between(self.silence_edges, then, now):
            return False
        for source in seen.targets:
            edges = self.inhibit_edges.get(source)
            if edges and self._edge_between(edges, then, now):
                return False
        # A reminder due at exactly ``now`` is not sent yet (the log compares strictly).
        return self._intervals_same(group.route, then, now) and not self._reminder_at(group) < now

    def _wake(self, gid: tuple[str, str], group: AggrGroup, now: float) -> float:
        """The earliest time after ``now`` when a flush of the group might not be a no-op."""
        seen = self.last[gid]
        wake = min(self._reminder_at(group), seen.resolves)
        opts = group.route.opts
        named = self.intervals()
        for name in (*opts.active_time_intervals, *opts.mute_time_intervals):
            if (ti := named.get(name)) is not None:
                edges = self._edges_of(ti, now)
                i = bisect.bisect_right(edges, now)
                wake = min(wake, edges[i] if i < len(edges) else self._scanned[name])
        for edges in (self.silence_edges, *(self.inhibit_edges.get(s, []) for s in seen.targets)):
            i = bisect.bisect_right(edges, now)
            if i < len(edges):
                wake = min(wake, edges[i])
        return wake

    # -- the dispatcher's steps ----------------------------------------------------------

    def _due(self, gid: tuple[str, str]) -> None:
        group = self.groups.get(gid)
        now = self.clock.now()
        if group is None or group.flushing or not self._quiet(gid, group, now):
            self.parked.pop(gid, None)
            super()._due(gid)
            return
        interval = float(group.route.opts.group_interval)
        wake = self._wake(gid, group, now)
        self.parked[gid] = self.clock.monotonic()
        group.timer = None
        if wake < INF:
            ticks = max(1, math.ceil((wake - now) / interval))
            self._reschedule(group, gid, ticks * interval)

    def _unpark(self, gid: tuple[str, str]) -> None:
        """Back to the group's next tick."""
        base = self.parked.pop(gid, None)
        group = self.groups.get(gid)
        if base is None or group is None:
            return
        interval = float(group.route.opts.group_interval)
        mono = self.clock.monotonic()
        tick = base + (math.floor((mono - base) / interval) + 1) * interval
        self._reschedule(group, gid, tick - mono)

    def insert(self, route: Route, alert: Alert) -> None:
        super().insert(route, alert)
        if self.parked:
            self._unpark((route.id, route.group_key(route.group_labels(alert.labels))))

    def sources_changed(self, alert: Alert, at: float) -> None:
        """An alert fired: when it sources an inhibition, note when it fires and resolves,
        and wake the parked groups with alerts it may mute from now on."""
        sources = {(i, r.key(alert.labels)) for i, r in enumerate(self.inhibitor.rules)
                   if matches_all(r.source, alert.labels)}
        if not sources:
            return
        for source in sources:
            edges = self.inhibit_edges.setdefault(source, [])
            for t in (at, alert.ends_at) if alert.ends_at else (at,):
                bisect.insort(edges, t)
        for gid in list(self.parked):
            seen = self.last.get(gid)
            if seen is None or not sources.isdisjoint(seen.targets):
                self._unpark(gid)

    def forget(self, fingerprint: str) -> None:
        """An alert collected: what was noted about it goes too."""
        self._targets_of.pop(fingerprint, None)

    def note_silences(self, edges: Iterable[float]) -> None:
        self.silence_edges = sorted(set(edges))

    async def flush(self, group: AggrGroup) -> bool:
        """The daemon's flush (:meth:`Dispatcher.flush`) less what a replay does not have:
        no pacing (nothing else waits for the loop), and no ``record_mutes``, ``publish``
        or ``remediate`` stage (a replay records mutes in ``muted`` and acts on nothing).
        The snapshot, its order, the muting, the notification and the resolved alerts
        dropped after it are the daemon's."""
        now = self.clock.now()
        ok = await self._notify_group(group, now)
        sig = self._signature(group)
        if None not in sig:
            ends = [a.ends_at for a in sig if a is not None and a.ends_at > now]
            self.last[(group.route.id, group.key)] = _Seen(now, sig, self._targets(group),
                                                           min(ends, default=INF))
        return ok

    async def _notify_group(self, group: AggrGroup, now: float) -> bool:
        snapshot = self._snapshot_now(group, now)
        if not snapshot:
            return True
        route = group.route
        unmuted = [a for a in snapshot if not self.muted(a, route, now)]
        ok = await self.notify(self.notification(group, unmuted, now)) if unmuted else True
        if ok:
            self._drop_resolved(group, snapshot, now)
        return ok

    def rebuild(self, root: Route) -> None:
        self.last.clear()
        self.parked.clear()
        self.inhibit_edges.clear()  # keyed by the old rules' places: the replay notes them again
        self._targets_of.clear()
        # Time intervals are known by name: the new config may define one anew.
        self._interval_edges.clear()
        self._scanned.clear()
        self._holds.clear()
        super().rebuild(root)
