"""Replicas on one PostgreSQL database (``storage.replicas``): who leads, and keeping warm.

Every replica serves the API and commits what it accepts. One at a time leads: it alone
runs the runtime's loops (group timers and flushes, notifications, escalations,
remediations, retention). A follower tries for the lease every :data:`INTERVAL` seconds;
when it takes it, it reads what the change feed does not keep it current on (the
notification log, remediation runs, dead letters, heartbeats: :meth:`Leadership.warm_up`)
and starts the loops (``Runtime.lead``), fencing its notification log writes with its epoch.

A leader that finds it lost the lease (its lease session gone, or the epoch moved on)
stops at once (:data:`EXIT_DEPOSED`), without draining: draining would flush groups that
the new leader now owns. Its supervisor starts it again, as a follower.

Every replica listens for the rows of alerts, silences and incidents other replicas
commit (:mod:`tocsin.store.pgfeed`, LISTEN/NOTIFY) and reads each one as soon as it is
committed: what another replica accepted is routed by the leader, an ack or a silence
takes effect there, and every replica serves it, a few milliseconds later.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from prometheus_client import Gauge

from tocsin.core.gate import Gate

if TYPE_CHECKING:
    # asyncpg (3 MiB resident) is imported when the storage is PostgreSQL, not before.
    from tocsin.store.pgfeed import Changes, Feed
    from tocsin.store.pglease import Lease

__all__ = ["EXIT_DEPOSED", "INTERVAL", "Leadership", "config_hash"]

log = structlog.get_logger("tocsin.lease")

#: Seconds between a follower's tries for the lease, and a leader's checks that it holds it.
INTERVAL = 1.0
#: Replicas last seen longer ago than this are not listed among the peers.
SEEN_WITHIN = 10.0
#: Seconds after which an alert held but not in a whole read is taken as deleted (one
#: changed more lately may have been committed after the read began).
SETTLED = 60.0
#: The exit status of a leader that lost the lease.
EXIT_DEPOSED = 3


def config_hash(text: str) -> str:
    """A short hash of the config file's text, to compare replicas' configs."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _exit() -> None:
    log.error("this replica lost the leader lease: stopping at once, without draining "
              "(the new leader owns the groups); start it again to follow", status=EXIT_DEPOSED)
    os._exit(EXIT_DEPOSED)


class Replica(Protocol):
    """What of the runtime the lease loop uses (the runtime, without importing it)."""

    config: Any
    clock: Any
    metrics: Any
    store: Any
    alerts: Any
    silences: Any
    inhibitor: Any
    dispatcher: Any
    lifecycle: Any
    gate: Gate
    leading: bool

    async def lead(self) -> None: ...

    async def load_unfed(self) -> None: ...


class Leadership:
    """The lease loop and the sync loop of one runtime."""

    def __init__(self, runtime: Replica, lease: Lease, *, address: str,
                 deposed: Callable[[], None] = _exit) -> None:
        self.runtime = runtime
        self.lease = lease
        self.address = address
        self.deposed = deposed
        self.started_at = time.time()
        self.led = False
        #: The last try for the lease, or check of it, could not reach the database.
        self.unchecked = False
        #: Alerts others committed while this replica was taking over (loading the state,
        #: starting the loops): routed once it leads.
        self.taking_over: list[str] = []
        #: The change feed, once :meth:`sync` runs.
        self.feed: Feed | None = None
        runtime.store.on_fenced = self._fenced
        runtime.gate.sure = self.sure
        registry = runtime.metrics.registry
        Gauge("tocsin_leader", "1 while this replica leads (notifies), else 0.",
              registry=registry).set_function(lambda: 1.0 if self.lease.leading else 0.0)
        Gauge("tocsin_leader_epoch", "The epoch of this replica's leadership (0 while it follows).",
              registry=registry).set_function(lambda: float(self.lease.epoch or 0))
        Gauge("tocsin_leader_lease_age_seconds", "Seconds since this replica took the lease (0: follows).",
              registry=registry).set_function(
                  lambda: time.time() - self.lease.since if self.lease.since is not None else 0.0)
        Gauge("tocsin_sends_held", "Notifications and remediations held while this leader is not sure "
              "it still holds the lease (cut off from the database).",
              registry=registry).set_function(lambda: float(runtime.gate.held))
        Gauge("tocsin_database_latency_seconds", "The last round trip to the database on the lease session.",
              registry=registry).set_function(lambda: self.lease.latency or 0.0)

    async def run(self) -> None:
        """Try for the lease, or check it is still held, every :data:`INTERVAL` seconds."""
        while True:
            await self.step()
            await asyncio.sleep(INTERVAL)

    async def step(self) -> None:
        try:
            digest = config_hash(self.runtime.config.original)
            await self.lease.register(self.address, digest, self.started_at)
            leading = await self.lease.try_lead()
        except Exception as exc:
            if not self.unchecked:  # logged once an outage: it is tried again every second
                log.warning("the leader lease cannot be checked; a leader stays in doubt until "
                            "it reaches the database", error=str(exc), leading=self.lease.leading)
            self.unchecked = True
            leading = self.lease.leading
        else:
            if self.unchecked:
                log.info("the leader lease is checked again", leading=leading)
            self.unchecked = False
        if self.led and not leading:
            self.runtime.store.epoch = None
            self.deposed()
            return
        if leading and not self.led:
            self.led = True
            log.info("this replica leads", epoch=self.lease.epoch)
            self.runtime.store.epoch = self.lease.epoch
            await self.runtime.lead()
            # What came in after lead() routed what it held is routed now.
            for fingerprint in self.taking_over:
                if (alert := self.runtime.alerts.get(fingerprint)) is not None:
                    self.runtime.dispatcher.process(alert)
            self.taking_over.clear()

    def sure(self) -> bool:
        """Whether sends may go: on a replica that has led, only while its lease is sure
        (:meth:`Lease.sure`). A follower sends only what is asked of it (a dead letter
        replayed through the API)."""
        return not self.led or self.lease.sure()

    def _fenced(self) -> None:
        """A notification log write was refused: another replica leads."""
        if self.led:
            self.lease.drop()
            self.runtime.store.epoch = None
            self.deposed()

    async def cluster(self) -> dict[str, Any]:
        """``cluster`` of ``/api/v2/status``, in Alertmanager's shape (``name``, ``status``,
        ``peers`` of ``name`` and ``address``), with the leader, its epoch, and each peer's
        config hash and whether it differs from the leader's."""
        try:
            epoch, holder, since = await self.lease.current()
            seen = await self.lease.replicas(SEEN_WITHIN)
        except Exception as exc:
            return {"name": self.lease.name, "status": "settling", "peers": [], "error": str(exc)}
        leader_hash = next((r.config_hash for r in seen if r.name == holder), None)
        peers = [{"name": r.name, "address": r.address, "configHash": r.config_hash,
                  "lastSeen": r.last_seen, "leader": r.name == holder,
                  "configDiffers": leader_hash is not None and r.config_hash != leader_hash}
                 for r in seen]
        return {"name": self.lease.name, "status": "ready", "peers": peers, "leader": holder,
                "epoch": epoch, "leaderSince": since}

    async def sync(self) -> None:
        """Take in what other replicas commit, as the change feed reports it (a whole read
        each time the feed's session opens)."""
        self.feed = self.runtime.store.feed()
        await self.feed.run(self.catch_up, self.apply)

    async def warm_up(self) -> None:
        """Taking over: the alerts, silences and incidents are held already, kept current by
        the change feed; what it does not keep is read. They are read again only if the
        feed is not live (its session lost, or not caught up since it opened)."""
        if self.feed is None or not self.feed.live:
            log.info("the change feed is not live: reading the alerts, silences and incidents again")
            await self.catch_up()
        else:
            log.info("taking over with the state the change feed kept", alerts=len(self.runtime.alerts))
        await self.runtime.load_unfed()

    async def catch_up(self) -> None:
        """Take in every alert, silence, ack and unack the database holds: when the change
        feed's session opens (what was committed meanwhile is not notified). An incident
        held open that the database no longer has open is read again, to follow its end;
        an alert held that the database no longer has is forgotten by a follower."""
        from tocsin.store.pgfeed import Changes

        rt = self.runtime
        began = rt.clock.now()
        alerts = await rt.store.load_alerts()
        stored = {a.fingerprint for a in alerts}
        # Held but no longer stored: deleted while nobody listened (the leader forgot it,
        # resolved past retention). One changed lately may be committed after the read began.
        gone = [a.fingerprint for a in rt.alerts if a.fingerprint not in stored
                and a.fingerprint not in rt.alerts.dirty and a.updated_at < began - SETTLED]
        incidents = await rt.store.load_open_incidents()
        open_ids = {inc.id for inc in incidents}
        for held in list(rt.lifecycle.current.values()):
            stale = held.open and held.id not in open_ids
            if stale and (stored := await rt.store.get_incident(held.id)) is not None:
                incidents.append(stored)
        self.apply(Changes(alerts=alerts, gone=gone, incidents=incidents,
                           silences=await rt.store.load_silences()))

    def apply(self, changes: Changes) -> None:
        """Take in the alerts, silences, acks and unacks other replicas committed; the
        leader routes the alerts that changed."""
        rt = self.runtime
        if changes.silences is not None:
            rt.silences.load(changes.silences)
        for incident in changes.incidents:
            rt.lifecycle.adopt(incident, armed=rt.leading)
        for alert in changes.alerts:
            # Same, or changed here and not written yet (a re-post's later end): ours is newer.
            if alert.fingerprint in rt.alerts.dirty or rt.alerts.get(alert.fingerprint) == alert:
                continue
            rt.alerts.set(alert)
            rt.inhibitor.observe(alert)
            if rt.leading:
                rt.dispatcher.process(alert)
            elif self.led:  # taking over: lead() may have routed what it holds already
                self.taking_over.append(alert.fingerprint)
        if not rt.leading:  # the leader forgot them (resolved, past retention): so does a follower
            for fingerprint in changes.gone:
                rt.alerts.delete(fingerprint)
                rt.lifecycle.forget(fingerprint)  # its incident, if it ended
