"""The PostgreSQL store's own session, beside its pool: it holds the instance lock, and it
probes the server.

One tocsin per database, as one per SQLite file: two daemons on one database would both
flush every group and notify twice. The session holds a session-level advisory lock
(:data:`INSTANCE_LOCK`) for as long as the store is open; a second tocsin finds it taken
and stops at once, naming the holder (the ``application_name`` of its session: ``tocsin
<pid>@<host>``, and its address). The server drops the lock when the session ends: at a
stop, when the process dies (``kill -9`` included: the kernel closes its socket), and
when the server's keepalives find its host gone (:data:`KEEPALIVES`, about 25 s).

A probe is a statement on this session: it finds the server gone (the session closed,
or a statement that fails or times out) and a server that turned read-only (a primary
demoted to a standby). After an outage the probe opens a new session and takes the lock
again; while another tocsin holds it, the probe fails with :class:`Held`.
"""

from __future__ import annotations

import os
import socket

import asyncpg

__all__ = ["INSTANCE_LOCK", "KEEPALIVES", "Held", "Session"]

#: The advisory lock key one tocsin holds on its database ('tocs' in ASCII).
INSTANCE_LOCK = 0x746F6373

#: The server's TCP keepalives on the session: a host that vanished without closing
#: its connection lets go of the lock after about idle + interval x count seconds.
KEEPALIVES = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"}

_HOLDER = """
SELECT a.application_name || coalesce(' from ' || host(a.client_addr), '')
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1 AND l.granted
LIMIT 1
"""


class Held(Exception):
    """Another tocsin holds the database."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"in use by another tocsin ({holder}); each instance needs its own database")
        self.holder = holder


def session_name() -> str:
    """This process, as other sessions see it: ``tocsin <pid>@<host>``."""
    return f"tocsin {os.getpid()}@{socket.gethostname()}"[:63]


class Session:
    """The store's own connection, holding :data:`INSTANCE_LOCK` while it is open."""

    def __init__(self, url: str, *, connect_timeout: float, command_timeout: float,
                 lock: bool = True) -> None:
        self.url = url
        #: Whether the session takes :data:`INSTANCE_LOCK` (not when replicas share the database).
        self.lock = lock
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._conn: asyncpg.Connection | None = None

    async def take(self) -> None:
        """Open the session and take the lock. Raises :class:`Held`, or what connecting raised."""
        conn = await asyncpg.connect(self.url, timeout=self.connect_timeout,
                                     server_settings={"application_name": session_name(), **KEEPALIVES})
        try:
            if self.lock and not await conn.fetchval("SELECT pg_try_advisory_lock($1)", INSTANCE_LOCK,
                                       timeout=self.command_timeout):
                holder = await conn.fetchval(_HOLDER, INSTANCE_LOCK, timeout=self.command_timeout)
                raise Held(holder or "a session that just ended")
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn

    async def probe(self) -> None:
        """Raise unless the server answers on the session (opened again, and the lock taken
        again, when it was lost) and takes writes."""
        if self._conn is None or self._conn.is_closed():
            self.drop()
            await self.take()
        assert self._conn is not None
        try:
            read_only = await self._conn.fetchval("SHOW transaction_read_only", timeout=self.command_timeout)
        except BaseException:
            self.drop()
            raise
        if read_only == "on":
            self.drop()  # the next probe connects anew, through target_session_attrs
            raise asyncpg.ReadOnlySQLTransactionError("the server is read-only (a standby)")

    async def release(self) -> None:
        """Let go of the lock, then end the session: a stop. The server lets go of a lock
        only once it has noticed its session ended, a moment after the socket closed, so
        a tocsin started right after this one stopped could find the lock still held."""
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        try:
            if self.lock:
                await conn.fetchval("SELECT pg_advisory_unlock($1)", INSTANCE_LOCK,
                                    timeout=self.command_timeout)
            await conn.close(timeout=self.command_timeout)
        except Exception:  # the server is gone: ending the socket is all there is to do
            conn.terminate()

    def drop(self) -> None:
        """End the session (and so let go of the lock)."""
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None
