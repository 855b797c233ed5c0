"""The leader lease of replicas sharing one PostgreSQL database, and its fencing epoch.

Several tocsin processes may share a database; one of them at a time leads (it alone
should flush groups and notify). The lease is a session-level advisory lock
(:data:`LEADER_LOCK`) on a connection of the lease's own: PostgreSQL lets go of it when
that session ends, at a stop, when the process dies (``kill -9`` too: the kernel closes
its socket) and when the server's keepalives find the host gone. A replica that takes
the lock bumps the epoch in the one row of ``leader_lease``: the epoch only grows, and
each leadership has its own.

Fencing: a write that records a notification runs ``tocsin_fence(epoch)`` first, in the
same transaction. The function locks the lease row (``FOR SHARE``) and raises
:data:`FENCED` unless the row's epoch is the writer's. A leader that was paused or cut
off while another took over finds its write refused (:class:`Fenced`), and a new leader's
epoch bump waits for a fenced write under way to commit, so the two never interleave.

Holding sends: a leader cut off from the server cannot know when the server ends its
session (and lets another replica lead), but it cannot be before the keepalives' silence
and probes have passed since the leader's last check. :meth:`Lease.sure` is true only while
the session holds the lock and the last check is younger than :func:`sure_for`; past it,
the leader's sends wait (:mod:`tocsin.core.gate`), so two replicas never send at once.

The lease also keeps ``replicas``: each replica's name, address, config hash and when it
was last seen, for ``/api/v2/status`` and ``tocsin cluster status``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec

from tocsin.store import StorageError
from tocsin.store.pgsession import session_name

__all__ = ["FENCED", "FENCE_SQL", "LEADER_LOCK", "Fenced", "Lease", "Replica", "keepalives", "sure_for"]

#: The advisory lock key of the leader ('lead' in ASCII).
LEADER_LOCK = 0x6C656164
#: The SQLSTATE ``tocsin_fence`` raises when the epoch is not the leader's.
FENCED = "TF001"
#: The statement that guards a write with the writer's epoch (``?``: the epoch).
FENCE_SQL = "SELECT tocsin_fence(?)"
#: Seconds a follower whose session was lost waits, once it reaches the server again,
#: before it tries for the lease: the leader, whose session was lost with it (the server
#: restarted), takes it back first.
REJOIN_GRACE = 2.0

_TAKE = """
UPDATE leader_lease SET epoch = epoch + 1, holder = $1, since = $2 WHERE id = 1 RETURNING epoch
"""
_REGISTER = """
INSERT INTO replicas (name, address, config_hash, started_at, last_seen) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (name) DO UPDATE SET address = EXCLUDED.address, config_hash = EXCLUDED.config_hash,
    last_seen = EXCLUDED.last_seen
"""


def sure_for(timeout: float) -> float:
    """Seconds after a check of the lease that a leader is still sure it leads: the
    keepalives' silence before their first probe (the server cannot end the session before
    that silence and three probes have passed), and at least two checks' worth."""
    return max(float(int(keepalives(timeout)["tcp_keepalives_idle"])), 2.0)


def keepalives(timeout: float) -> dict[str, str]:
    """The server's TCP keepalives that end a vanished peer's session after about
    ``timeout`` seconds: silent for half of it, then three probes in the rest."""
    idle = max(1, int(timeout / 2))
    interval = max(1, int((timeout - idle) / 3))
    return {"tcp_keepalives_idle": str(idle), "tcp_keepalives_interval": str(interval),
            "tcp_keepalives_count": "3"}


class Fenced(StorageError):
    """A write carried an epoch that is no longer the leader's: it was not made."""


class Replica(msgspec.Struct, frozen=True, kw_only=True):
    """A replica as registered: what ``/api/v2/status`` lists among the peers."""

    name: str
    address: str
    config_hash: str
    started_at: float
    last_seen: float


class Lease:
    """This replica's hold on the leader lease, on a session of its own."""

    def __init__(self, url: str, *, name: str | None = None, timeout: float = 10.0,
                 connect_timeout: float = 5.0, command_timeout: float = 5.0) -> None:
        self.url = url
        #: The server's keepalives give up on a vanished holder after about this.
        self.keepalives = keepalives(timeout)
        #: A leader holds its sends once its last check of the lease is older than this.
        self.sure_for = sure_for(timeout)
        self.name = name or session_name()
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        #: The epoch of this replica's leadership, or None while it follows.
        self.epoch: int | None = None
        #: ``time.time()`` when this replica took the lease.
        self.since: float | None = None
        #: The last round trip to the server on the lease's session, in seconds.
        self.latency: float | None = None
        #: ``time.monotonic()`` when the last check that found the lease held was sent.
        self.confirmed = -float("inf")
        self._conn: asyncpg.Connection | None = None
        self._busy = asyncio.Lock()  # one statement at a time on the session
        self._locked = False  # the current session holds the lock
        self._lost = False  # the session was lost (the next one starts a grace)
        self._hold_until = 0.0  # a follower does not try for the lease before (monotonic)

    @property
    def leading(self) -> bool:
        return self.epoch is not None

    def sure(self) -> bool:
        """Whether this leader may act outward now: its session is open and holds the lock,
        and a check sent less than :attr:`sure_for` ago found the lease its own. Cut off
        from the server, it cannot know that the server has not ended its session (and
        another replica taken the lease); it is sure until the server could have."""
        conn = self._conn
        return (self.epoch is not None and self._locked and conn is not None and not conn.is_closed()
                and time.monotonic() - self.confirmed < self.sure_for)

    async def _session(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._close()
            self._conn = await asyncpg.connect(
                self.url, timeout=self.connect_timeout,
                server_settings={"application_name": f"{self.name} (lease)"[:63], **self.keepalives})
            if self._lost:
                self._lost = False
                self._hold_until = time.monotonic() + REJOIN_GRACE
        return self._conn

    async def _run(self, method: str, sql: str, *args: Any) -> Any:
        """``sql`` on the session, by the connection's ``method`` (fetchval, fetchrow...)."""
        async with self._busy:
            conn = await self._session()
            began = time.monotonic()
            try:
                value = await getattr(conn, method)(sql, *args, timeout=self.command_timeout)
            except BaseException:
                # Whatever the session held is given up with it; a leader is in doubt
                # (its epoch kept) until it reaches the server again: see check().
                self._close()
                raise
            self.latency = time.monotonic() - began
            return value

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        return await self._run("fetchval", sql, *args)

    async def try_lead(self) -> bool:
        """Lead if the lease is free (a new, larger epoch), or go on leading; False while
        another replica leads. Raises what reaching the server raised (and then follows)."""
        if self.epoch is not None:
            return await self.check()
        await self._session()
        if time.monotonic() < self._hold_until:
            return False
        if not await self._lock():
            return False
        now = time.time()
        began = time.monotonic()
        self.epoch = int(await self._fetchval(_TAKE, self.name, now))
        self.since = now
        self.confirmed = began
        return True

    async def check(self) -> bool:
        """Whether this replica still leads: it holds the lock on its session and the lease
        row still has its epoch. A replica that finds it does not lets go (and follows).

        A leader whose session was lost (the server restarted, or could not be reached) is
        in doubt: it keeps its epoch, and takes the lock again on a new session once it
        reaches the server; it still leads if nobody took the lease meanwhile (the epoch
        is its own). While the server cannot be reached this raises, and it stays in doubt:
        nobody else can take the lease through a server that is down."""
        if self.epoch is None:
            return False
        lost = self._conn is None or self._conn.is_closed() or not self._locked
        if lost and not await self._lock():
            self.drop()  # another replica holds it
            return False
        began = time.monotonic()  # the lock was held when this left: the server saw it later
        held = await self._fetchval("SELECT epoch FROM leader_lease WHERE id = 1")
        if held != self.epoch:
            self.drop()
            return False
        self.confirmed = began
        return True

    async def _lock(self) -> bool:
        """Take the lock on the session (a new one if it was lost), if it is free."""
        conn = await self._session()
        self._locked = bool(await self._fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK))
        return self._locked and conn is self._conn

    async def current(self) -> tuple[int, str, float]:
        """The lease row: the latest epoch, who took it, and when."""
        row = await self._run("fetchrow", "SELECT epoch, holder, since FROM leader_lease WHERE id = 1")
        return int(row[0]), str(row[1]), float(row[2])

    async def register(self, address: str, config_hash: str, started_at: float) -> None:
        """Record this replica as seen now."""
        await self._run("execute", _REGISTER, self.name, address, config_hash, started_at, time.time())

    async def replicas(self, seen_within: float) -> list[Replica]:
        """The replicas seen in the last ``seen_within`` seconds, by name."""
        rows: Sequence[Any] = await self._run(
            "fetch", "SELECT name, address, config_hash, started_at, last_seen FROM replicas "
            "WHERE last_seen >= $1 ORDER BY name", time.time() - seen_within)
        return [Replica(name=r[0], address=r[1], config_hash=r[2], started_at=r[3], last_seen=r[4])
                for r in rows]

    def drop(self) -> None:
        """End the session, and so the leadership (another replica may take it)."""
        self.epoch = self.since = None
        self._close()

    def _close(self) -> None:
        self._locked = False
        if self._conn is not None:
            self._lost = True
            self._conn.terminate()
            self._conn = None
