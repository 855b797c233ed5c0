"""The SQLite store (aiosqlite, WAL).

Writes from concurrent requests are committed together
(:mod:`tocsin.store.batching`): each caller queues its rows and waits; one
writer task takes everything queued, commits it in one transaction and wakes
the callers. Under load this turns many small commits into few larger ones;
alone, a request still gets its own commit.

Where the commit runs is ``writer``: ``thread`` (aiosqlite's thread, the
same connection that reads) or ``process`` (a child process,
:mod:`tocsin.store.writer`, the daemon's default: a commit there does not
wait for the event loop's interpreter lock). Either way a caller is answered
only once its rows are committed; the rows of a big write (ten thousand alerts)
are made a slice at a time, handing the event loop back between slices. Reads go
through aiosqlite. The WAL is
copied into the database by a checkpointer on a connection and thread of its
own, a second after writes, rather than by whichever commit crosses SQLite's
1000-page mark.

The schema and its migrations are in :mod:`tocsin.store.schema`; the rows each
record is written as and read back from, in :mod:`tocsin.store.rows`; the
statements and queries of each record, shared with PostgreSQL, in
:mod:`tocsin.store.sql`; the writer process's client, in :mod:`tocsin.store.child`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import IO, Any, Literal

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no storage lock
    fcntl = None  # type: ignore[assignment]

import aiosqlite
import structlog

from tocsin.store import StorageError
from tocsin.store.batching import GroupCommit
from tocsin.store.child import ChildWriter
from tocsin.store.files import JOURNALED, FileWatch
from tocsin.store.journal import Found, Journal, Journaled, read_frames, remove, replay, set_aside
from tocsin.store.rows import TABLES, Op
from tocsin.store.schema import MIGRATIONS, migrate
from tocsin.store.sql import SQLStore
from tocsin.store.writer import run_transaction

__all__ = ["MIGRATIONS", "SQLiteStore"]

log = structlog.get_logger("tocsin.store")

#: Seconds from a write to the checkpoint that copies it into the database file.
CHECKPOINT_DELAY = 1.0
#: Seconds a commit that nobody waits for (journaled writes, records posted) waits for more
#: writes to join it (:class:`tocsin.store.batching.GroupCommit`).
LINGER = 0.01


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _lock_storage(path: str) -> IO[str]:
    """Hold ``<db>.lock`` for as long as the store is open, so that a second tocsin on
    the same storage stops at once instead of racing the first (the kernel lets go of
    the lock when the process ends, kill -9 included)."""
    f = open(path + ".lock", "a+")  # noqa: SIM115 -- held open on purpose: the lock lives as long as it
    if fcntl is None:  # pragma: no cover
        return f
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "?"
        f.close()
        raise StorageError(f"{path} is in use by another tocsin (pid {holder}); "
                           "each instance needs its own storage path") from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


class SQLiteStore(SQLStore):
    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL",
                 writer: Literal["thread", "process"] = "thread") -> None:
        self.path = str(path)
        self.synchronous = synchronous
        #: An in-memory database lives in its one connection: no lock file, no writer
        #: process, no checkpoints.
        self._on_disk = self.path != ":memory:"
        self._child = ChildWriter(self.path, synchronous) if writer == "process" and self._on_disk else None
        self._checkpointer: asyncio.Task[None] | None = None
        #: The database's files as opened, checked after each commit and every second.
        self._files = FileWatch(self.path) if self._on_disk else None
        self._watcher: asyncio.Task[None] | None = None
        self._written = asyncio.Event()
        self._db: aiosqlite.Connection | None = None
        # With a writer process, a second transaction may be on its way while the child
        # commits the first.
        self._queue = GroupCommit(self._commit, slots=2 if self._child is not None else 1)
        self._closing = False
        self._lock: IO[str] | None = None
        self.commits = 0
        #: Ingest's writes are answered once journaled (:mod:`tocsin.store.journal`): with
        #: ``synchronous: NORMAL`` on disk, where a commit is no more durable than an append.
        self._journaled: Journaled | None = None

    async def open(self) -> None:
        if self._on_disk:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._lock = _lock_storage(self.path)
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute(f"PRAGMA synchronous={self.synchronous}")
        await self._db.execute("PRAGMA busy_timeout=5000")
        try:
            if self._on_disk:
                await self._db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job
            await migrate(self._db, self.path)
            if self._on_disk:
                await self._open_journal()
            if self._child is not None:
                await self._child.start()
        except BaseException:
            await self._db.close()
            self._db = None
            self._unlock()
            raise
        self._closing = False
        self._queue.start()
        if self._files is not None:
            self._files.remember()
            self._watcher = asyncio.create_task(self._files.run(), name="tocsin-store-files")
        if self._on_disk:
            self._checkpointer = asyncio.create_task(self._checkpoint_loop(),
                                                     name="tocsin-store-checkpointer")

    async def close(self) -> None:
        self._closing = True
        await self._queue.close()
        if self._journaled is not None:
            await self._journaled.close()
            self._journaled = None
        if self._child is not None:
            await self._child.close()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
            self._checkpointer = None
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await self._db.close()
            self._db = None
        self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    @property
    def failure(self) -> str | None:
        """Why writes are refused until a restart (the database's files were removed or
        replaced while it was open, :mod:`tocsin.store.files`), or until journaled writes
        whose commit failed are committed, or None."""
        if self._files is not None and self._files.failure is not None:
            return self._files.failure
        return None if self._journaled is None else self._journaled.failure

    async def recover(self) -> None:
        if self._journaled is not None and not self.needs_restart:
            await self._journaled.recover()

    @property
    def needs_restart(self) -> bool:
        """Once the files at the path are not the ones open: only a restart opens them."""
        return self._files is not None and self._files.failure is not None

    # -- the checkpointer -----------------------------------------------------

    async def _checkpoint_loop(self) -> None:
        """Copy the WAL into the database a second after writes. A passive checkpoint
        takes no writer's lock, and it is one statement step, run without the
        interpreter lock, so it goes on beside commits and the event loop."""
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        loop = asyncio.get_running_loop()
        job: asyncio.Future[None] | None = None
        try:
            while True:
                await self._written.wait()
                await asyncio.sleep(CHECKPOINT_DELAY)
                self._written.clear()
                job = loop.run_in_executor(None, _checkpoint, conn)
                try:
                    await asyncio.shield(job)
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint failed; tried again after the next write",
                                error=str(exc), path=self.path)
        finally:
            if job is not None and not job.done():  # stopped mid-checkpoint: let it end first
                with contextlib.suppress(Exception):
                    await job
            conn.close()

    # -- the journal ------------------------------------------------------------

    async def _open_journal(self) -> None:
        """Commit what the journal holds beyond the database's mark, then journal
        ingest's writes from here on (with ``synchronous: NORMAL``)."""
        assert self._db is not None
        path = self.path + ".journal"
        found = await self._fetch_one("SELECT db, seq FROM journal_mark WHERE id = 1")
        assert found is not None
        db_id, mark = bytes(found[0]), int(found[1])
        frames = read_frames(path, db_id)
        if frames is not None:
            mark = await self._replay(path, frames, mark)
        if self.synchronous == "NORMAL":
            journal = Journal(path, db_id, mark)
            journal.open()
            self._journaled = Journaled(journal, submit=self._queue.submit, write=self._queue.write,
                                        mark=self._mark)
            # Nobody waits for a journaled write's commit: let more requests share it.
            self._queue.linger = LINGER
        elif frames is not None:
            remove(path)  # replayed: a FULL store commits before it answers

    async def _replay(self, path: str, found: Found, mark: int) -> int:
        assert self._db is not None
        done = None if found.foreign else await self._db._execute(replay, self._db._conn, found.frames)
        if done is None:
            aside = set_aside(path)
            log.warning("journal not replayed: it belongs to another database, or to a later "
                        "state of this one (restored from a backup?)", journal=aside, path=self.path)
            return mark
        if found.dropped:
            log.warning("journal ends in a frame cut short, never answered: dropped",
                        bytes=found.dropped, path=self.path)
        if done[0]:
            log.info("journal replayed", frames=done[0], path=self.path)
        return done[1]

    async def _mark(self) -> int:
        found = await self._fetch_one("SELECT seq FROM journal_mark WHERE id = 1")
        return 0 if found is None else int(found[0])

    # -- the writer ---------------------------------------------------------

    async def _write(self, ops: list[Op], *, journal: bool = False) -> None:
        if not self._closing and self.failure is not None:  # (a closed store says it is closed)
            raise StorageError(self.failure)
        if journal and self._journaled is not None and not self._closing:
            # Answered once appended; committed with what comes next (see tocsin.store.journal).
            behind = self._journaled.append(ops)
            # Appended, but beside the database at the path? Checked before anyone is told:
            # a frame for a database that is gone could not be replayed into another.
            if self._files is not None and (failure := self._files.check(suffixes=JOURNALED)) is not None:
                raise StorageError(failure)
            if behind is not None:  # the commits are far behind: wait for this one (it is durable
                self._queue.hurry()  # already; a failure is the store's, retried, not this write's)
                await asyncio.wait([behind])
            return
        await self._queue.write(ops)

    async def _settled(self) -> None:
        """Once the journaled writes so far are committed: a read sees what was answered."""
        if self._journaled is not None and self._journaled.last is not None:
            self._queue.hurry()
            await self._journaled.settled()

    async def _commit(self, ops: list[Op]) -> None:
        db = self._db
        assert db is not None
        try:
            # The whole transaction in one hop to the writer process or to the
            # connection's thread: one round trip per commit, not one per statement
            # (aiosqlite's _execute runs a callable in its thread; it has no public
            # equivalent).
            if self._child is not None:
                await self._child.commit(ops)
            else:
                await db._execute(run_transaction, db._conn, ops)
            self.commits += 1
            self._written.set()
            error = None
        except Exception as exc:  # sqlite3.Error, and anything unforeseen: no caller is left waiting
            log.error("database write failed", error=str(exc), path=self.path,
                      exc_info=None if isinstance(exc, sqlite3.Error) else exc)
            error = StorageError(f"database write failed: {exc}")
        # Committed, but into the files at the path? Checked before anyone is told (and
        # a file gone is the better reason for a failed commit too).
        failure = None if self._files is None else self._files.check()
        if failure is not None:
            raise StorageError(failure)
        if error is not None:
            raise error

    # -- reads ------------------------------------------------------------------

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> Iterable[Sequence[Any]]:
        assert self._db is not None
        await self._settled()
        async with self._db.execute(sql, params) as cur:
            return await cur.fetchall()

    async def _fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any] | None:
        assert self._db is not None
        await self._settled()
        async with self._db.execute(sql, params) as cur:
            return await cur.fetchone()

    async def _fetch_chunks(self, sql: str, chunk: int = 5000) -> AsyncIterator[Iterable[Sequence[Any]]]:
        assert self._db is not None
        await self._settled()
        async with self._db.execute(sql) as cur:
            while found := await cur.fetchmany(chunk):
                yield found

    async def export_rows(self, table: str, chunk: int = 1000) -> AsyncIterator[list[Sequence[Any]]]:
        assert self._db is not None
        await self._settled()
        async with self._db.execute(f"SELECT {', '.join(TABLES[table])} FROM {table}") as cur:
            while found := await cur.fetchmany(chunk):
                yield list(found)
