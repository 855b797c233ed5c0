"""The PostgreSQL store (asyncpg): ``storage.url: postgresql://user@host:5432/db``.

The same records, statements and queries as SQLite (:mod:`tocsin.store.sql`),
with its own schema and migrations (:mod:`tocsin.store.pgschema`). Writes are
committed together as in SQLite (:mod:`tocsin.store.batching`), up to
:data:`WRITE_SLOTS` transactions at once, each on a connection of a pool; a
caller is answered once its transaction is committed. Reads take a connection
of the pool. asyncpg follows the URL: several hosts (``host1:5432,host2:5432``)
with ``?target_session_attrs=read-write`` connect to whichever is the primary,
also after a failover; other query parameters are PostgreSQL settings
(``?search_path=tocsin``).

One tocsin per database: the store's own session (:mod:`tocsin.store.pgsession`)
holds an advisory lock while it is open, and a second tocsin on the same
database stops at once, as on the same SQLite file.

A database that cannot be reached is a :attr:`PostgresStore.failure`: a write
or a read that finds the server gone (connection refused or lost, the server
shutting down or read-only, a statement timed out) sets it, and so does a probe
on that session every :data:`CHECK_INTERVAL` seconds. Meanwhile
every write is refused at once (ingest answers 503, ``/-/ready`` says why);
once the probe gets an answer from a writable server the failure clears, the
pool's connections are replaced, and writes resume, without a restart.

PostgreSQL's text cannot hold the NUL character, which SQLite's can: a NUL in a
text column (a label value in an incident's alertname, a history actor) is
stored as U+FFFD. Bodies (``bytea``) keep it; this only touches the columns
beside them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import asyncpg
import structlog

from tocsin.config.server import redact_url
from tocsin.store import NflogEntry, StorageError
from tocsin.store.batching import GroupCommit
from tocsin.store.pgfeed import ORIGIN, Feed
from tocsin.store.pglease import FENCE_SQL, FENCED, Fenced, Lease
from tocsin.store.pgschema import BYTEA_COLUMNS, IDENTITY_TABLES, migrate
from tocsin.store.pgsession import Held, Session, session_name
from tocsin.store.rows import TABLES, Op
from tocsin.store.sql import SQLStore
from tocsin.store.writer import merged

__all__ = ["CHECK_INTERVAL", "PostgresStore", "numbered"]

log = structlog.get_logger("tocsin.store")

#: Connections of the pool, at most.
POOL_SIZE = 10
#: Transactions of queued writes in flight at once: while one commits, what comes in
#: waits for the other and goes as one (fewer round trips per alert under load).
WRITE_SLOTS = 2
#: Seconds to open a connection.
CONNECT_TIMEOUT = 5.0
#: Seconds one statement may take.
COMMAND_TIMEOUT = 10.0
#: Seconds between probes of the server.
CHECK_INTERVAL = 1.0
#: Seconds closing the pool may take before its connections are dropped.
CLOSE_TIMEOUT = 5.0

#: SQLSTATEs that are about the server, not the statement: admin, crash or
#: immediate shutdown, starting up, too many connections, read-only (a standby).
_SERVER_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "25006"})

T = TypeVar("T")


@functools.lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """``sql`` with its ``?`` placeholders numbered as PostgreSQL wants them (``$1``...)."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))


def _clean(value: Any) -> Any:
    return value.replace("\0", "\ufffd") if isinstance(value, str) and "\0" in value else value


def _cleaned(ops: list[Op]) -> list[Op]:
    """``ops`` with every NUL in a text parameter made U+FFFD."""
    return [(sql, [tuple(map(_clean, row)) for row in params] if many else tuple(map(_clean, params)), many)
            for sql, params, many in ops]


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the server is gone or not fit to write to, rather than that a
    statement failed."""
    if isinstance(exc, OSError | TimeoutError | asyncpg.PostgresConnectionError | _Lost):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        return "closed" in str(exc) or "not connected" in str(exc)
    return getattr(exc, "sqlstate", None) in _SERVER_STATES


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _Lost):
        return f"connection lost: {_describe(exc.cause)}"
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, asyncpg.PostgresError) else f"{type(exc).__name__}: {text}"


def _as_bytes(row: Sequence[Any], columns: list[int]) -> tuple[Any, ...]:
    out = list(row)
    for i in columns:
        if isinstance(out[i], str):
            out[i] = out[i].encode()
    return tuple(out)


class _Lost(Exception):
    """The connection closed under a statement (the server went away)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _NotBegun(Exception):
    """The transaction could not begin: nothing was sent, so it may be tried again."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def _run(conn: asyncpg.Connection, op: Op) -> None:
    sql, params, many = op
    if many:
        await conn.executemany(numbered(sql), params)
    else:
        await conn.execute(numbered(sql), *params)


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Connections go back to the pool as they are: the store leaves no session state
    on them (asyncpg's default reset costs a round trip per release)."""


#: :data:`tocsin.store.rows.NAMED_SQL` in PostgreSQL's words (``right()`` for SQLite's
#: ``substr(x, -n)``).
NAMED_SQL = """
WITH hits(id) AS (
    SELECT id FROM incidents WHERE id >= $1 AND id < $1 || 'g'
    UNION
    SELECT id FROM incidents WHERE right(id, length($1)) = $1
    UNION
    SELECT (SELECT i.id FROM incidents i WHERE i.fingerprint = f.fingerprint
            ORDER BY i.fired_at DESC LIMIT 1)
    FROM (SELECT DISTINCT fingerprint FROM incidents
          WHERE fingerprint >= $1 AND fingerprint < $1 || 'g') f
)
SELECT (SELECT COUNT(*) FROM hits), incidents.id, incidents.fingerprint, incidents.body,
       incidents.fired_at, incidents.birth
FROM incidents WHERE incidents.id IN (SELECT id FROM hits)
ORDER BY incidents.fired_at DESC, incidents.id LIMIT $2
"""

#: :data:`tocsin.store.rows.SHARED_SQL` in PostgreSQL's words (an array for ``json_each``).
SHARED_SQL = """
WITH refs(ref) AS (SELECT unnest($2::text[]) COLLATE "C"),
ends(ref, n) AS (SELECT right(id, $1), COUNT(*) FROM incidents
                 WHERE right(id, $1) IN (SELECT ref FROM refs) GROUP BY 1)
SELECT refs.ref FROM refs LEFT JOIN ends USING (ref)
WHERE coalesce(ends.n, 0)
    + (EXISTS (SELECT 1 FROM incidents WHERE id >= refs.ref AND id < refs.ref || 'g'))::int
    + (EXISTS (SELECT 1 FROM incidents
               WHERE fingerprint >= refs.ref AND fingerprint < refs.ref || 'g'))::int > 1
"""


class PostgresStore(SQLStore):
    """The :class:`~tocsin.store.Store` on the PostgreSQL database at ``url``."""

    NAMED_SQL = NAMED_SQL
    SHARED_SQL = SHARED_SQL
    HOLDS = "position(?::bytea in {col}) > 0"

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE, replicas: bool = False,
                 lease_timeout: float = 10.0, name: str | None = None) -> None:
        self.url = url
        #: The URL without its password: for logs and messages.
        self.where = redact_url(url)
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._queue = GroupCommit(self._commit, slots=WRITE_SLOTS)
        self._down: str | None = None
        self._watcher: asyncio.Task[None] | None = None
        #: Replicas share the database (a leader lease, no instance lock): see :meth:`lease`.
        self.replicas = replicas
        self.lease_timeout = lease_timeout
        self._session = Session(url, connect_timeout=CONNECT_TIMEOUT, command_timeout=COMMAND_TIMEOUT,
                                lock=not replicas)
        self.commits = 0
        #: The leader's epoch, while this replica leads: each notification log write is
        #: then fenced with it (:mod:`tocsin.store.pglease`). None: not fenced.
        self.epoch: int | None = None
        #: Called when a write is refused for its epoch (the replica steps down).
        self.on_fenced: Callable[[], None] | None = None
        query = parse_qs(urlsplit(url).query)
        self._settings = {} if "application_name" in query else {"application_name": "tocsin"}
        #: This replica, as the lease, the registry and the change feed name it.
        self.name = name or session_name()
        if replicas:  # the change feed's trigger names the replica that wrote each row
            self._settings[ORIGIN] = self.name

    def lease(self) -> Lease | None:
        """The leader lease of this replica, when replicas share the database (None: the
        instance lock keeps to one tocsin, which leads)."""
        if not self.replicas:
            return None
        return Lease(self.url, name=self.name, timeout=self.lease_timeout,
                     connect_timeout=min(CONNECT_TIMEOUT, self.lease_timeout / 3),
                     command_timeout=min(COMMAND_TIMEOUT, self.lease_timeout / 3))

    def feed(self) -> Feed | None:
        """The change feed of this replica (:mod:`tocsin.store.pgfeed`), when replicas share
        the database; else None."""
        if not self.replicas:
            return None
        return Feed(self.url, name=self.name, connect_timeout=CONNECT_TIMEOUT,
                    command_timeout=COMMAND_TIMEOUT)

    # -- opening and closing ------------------------------------------------------

    async def open(self) -> None:
        # The instance lock first: a second tocsin neither migrates nor writes.
        try:
            await self._session.take()
        except Held as exc:
            raise StorageError(f"{self.where} is {exc}") from None
        except Exception as exc:
            raise StorageError(f"cannot connect to {self.where}: {_describe(exc)}") from None
        pool: asyncpg.Pool | None = None
        try:
            pool = asyncpg.create_pool(
                self.url, min_size=0, max_size=self.pool_size, timeout=CONNECT_TIMEOUT,
                command_timeout=COMMAND_TIMEOUT, reset=_no_reset, server_settings=self._settings)
            await pool
            async with pool.acquire(timeout=CONNECT_TIMEOUT) as conn:
                await migrate(conn, self.where)
        except BaseException as exc:
            self._session.drop()
            if pool is not None:
                pool.terminate()
            if isinstance(exc, StorageError) or not isinstance(exc, Exception):
                raise
            what = "cannot connect to" if unreachable(exc) else "cannot prepare"
            raise StorageError(f"{what} {self.where}: {_describe(exc)}") from None
        self._pool = pool
        self._down = None
        self._queue.start()
        self._watcher = asyncio.create_task(self._watch(), name="tocsin-store-probe")

    async def close(self) -> None:
        await self._queue.close()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        await self._session.release()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pool.terminate()

    @property
    def failure(self) -> str | None:
        """Why writes are refused now (the database cannot be reached), or None."""
        return self._down

    @property
    def needs_restart(self) -> bool:
        """Never: the failure passes once the database answers again."""
        return False

    # -- reachability ---------------------------------------------------------------

    async def _lost(self, reason: str, *, held: bool = False) -> None:
        """The server is gone, or not one to write to (or another tocsin holds it): refuse
        writes until the probe finds it fit again. Logged when the reason changes."""
        if held:
            down = (f"the database {self.where} is {reason}; writes are refused until it is free "
                    f"(checked every {CHECK_INTERVAL:g}s)")
        else:
            down = (f"the database {self.where} cannot be reached ({reason}); writes are refused "
                    f"until it answers again (checked every {CHECK_INTERVAL:g}s)")
        if down != self._down:
            log.error("database unreachable; writes are refused until it answers again",
                      database=self.where, reason=reason)
        self._down = down
        if self._pool is not None:
            await self._pool.expire_connections()  # the next connection is a new one (the new primary's)

    async def _found(self) -> None:
        if self._down is not None:
            log.info("database reachable again; writes resume", database=self.where)
            self._down = None
            if self._pool is not None:
                await self._pool.expire_connections()

    async def _watch(self) -> None:
        """Probe the server every :data:`CHECK_INTERVAL` seconds on the store's own session
        (a busy pool is no outage), so that an outage shows with nothing written, and its
        end is noticed. :meth:`close` ends the session once this is cancelled."""
        while True:
            try:
                await self._session.probe()
            except Held as exc:
                await self._lost(str(exc), held=True)
            except Exception as exc:
                await self._lost(_describe(exc))
            else:
                await self._found()
            await asyncio.sleep(CHECK_INTERVAL)

    async def _error(self, what: str, exc: BaseException) -> StorageError:
        if unreachable(exc):
            await self._lost(_describe(exc))
            return StorageError(self._down or f"database {what} failed: {_describe(exc)}")
        log.error(f"database {what} failed", error=_describe(exc), database=self.where)
        return StorageError(f"database {what} failed: {_describe(exc)}")

    def _pool_open(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StorageError("the store is closed")
        return self._pool

    # -- writes ---------------------------------------------------------------------

    async def _write(self, ops: list[Op], *, journal: bool = False) -> None:
        if self._down is not None and self._pool is not None:
            raise StorageError(self._down)
        await self._queue.write(ops)

    async def _commit(self, ops: list[Op]) -> None:
        ops = merged(ops)
        retried = cleaned = False
        while True:
            try:
                await self._transaction(ops)
            except _NotBegun as exc:  # nothing sent: once more, on a new connection
                if retried or not unreachable(exc.cause):
                    raise await self._error("write", exc.cause) from None
                retried = True
                await self._pool_open().expire_connections()
            except asyncpg.CharacterNotInRepertoireError as exc:  # a NUL in a text column
                if cleaned:
                    raise await self._error("write", exc) from None
                cleaned = True
                ops = _cleaned(ops)
            except StorageError:
                raise
            except asyncpg.PostgresError as exc:
                if exc.sqlstate == FENCED:
                    log.warning("write refused: another replica leads now", error=str(exc))
                    if self.on_fenced is not None:
                        self.on_fenced()
                    raise Fenced(f"not recorded: {exc}") from None
                raise await self._error("write", exc) from None
            except Exception as exc:
                raise await self._error("write", exc) from None
            else:
                self.commits += 1
                return

    async def _transaction(self, ops: list[Op]) -> None:
        async with self._pool_open().acquire(timeout=CONNECT_TIMEOUT) as conn:
            if len(ops) == 1:  # one statement (executemany too) is atomic: no BEGIN, no COMMIT
                try:
                    await _run(conn, ops[0])
                except Exception as exc:
                    if conn.is_closed():
                        raise _Lost(exc) from exc
                    raise
                return
            tx = conn.transaction()
            try:
                await tx.start()
            except Exception as exc:
                raise _NotBegun(_Lost(exc) if conn.is_closed() else exc) from exc
            try:
                for op in ops:
                    await _run(conn, op)
                await tx.commit()
            except BaseException as exc:
                if conn.is_closed():
                    if isinstance(exc, Exception):
                        raise _Lost(exc) from exc
                    raise
                with contextlib.suppress(Exception):
                    await tx.rollback()
                raise

    def _nflog_ops(self, entry: NflogEntry) -> list[Op]:
        """The notification log entry, fenced with :attr:`epoch` when it is set."""
        ops = super()._nflog_ops(entry)
        return ops if self.epoch is None else [(FENCE_SQL, (self.epoch,), False), *ops]

    # -- reads ----------------------------------------------------------------------

    async def _read(self, run: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """``run`` on a connection of the pool; once more on a new connection when the first
        was found gone (a read is safe to repeat)."""
        for attempt in (1, 2):
            pool = self._pool_open()
            try:
                async with pool.acquire(timeout=CONNECT_TIMEOUT) as conn:
                    try:
                        return await run(conn)
                    except Exception as exc:
                        if conn.is_closed():
                            raise _Lost(exc) from exc
                        raise
            except Exception as exc:
                if attempt == 1 and unreachable(exc) and not isinstance(exc, TimeoutError):
                    await pool.expire_connections()
                    continue
                raise await self._error("read", exc) from None
        raise AssertionError("not reached")  # pragma: no cover

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> Iterable[Sequence[Any]]:
        args = [_clean(p) for p in params]
        return await self._read(lambda conn: conn.fetch(numbered(sql), *args, timeout=COMMAND_TIMEOUT))

    async def _fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any] | None:
        args = [_clean(p) for p in params]
        return await self._read(lambda conn: conn.fetchrow(numbered(sql), *args, timeout=COMMAND_TIMEOUT))

    def _ref_list(self, refs: Sequence[str]) -> Any:
        return list(refs)

    # -- every row, for copying -----------------------------------------------------

    async def export_rows(self, table: str, chunk: int = 1000) -> AsyncIterator[list[Sequence[Any]]]:
        async with self._pool_open().acquire() as conn, conn.transaction():
            cursor = await conn.cursor(f"SELECT {', '.join(TABLES[table])} FROM {table}")
            while found := await cursor.fetch(chunk):
                yield [tuple(r) for r in found]

    async def import_rows(self, table: str, found: Sequence[Sequence[Any]]) -> None:
        binary = [i for i, c in enumerate(TABLES[table]) if c in BYTEA_COLUMNS]
        if binary:  # SQLite may hold a body as text: bytea takes bytes
            found = [_as_bytes(row, binary) for row in found]
        await super().import_rows(table, found)
        if found and table in IDENTITY_TABLES:  # the next id PostgreSQL assigns comes after these
            await self._fetch_one(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false)"
                f" FROM {table}")
