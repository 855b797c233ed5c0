"""The SQLite store (aiosqlite, WAL).

Writes from concurrent requests are committed together: each caller queues
its rows and waits; one writer task takes everything queued, commits it in
one transaction and wakes the callers. Under load this turns many small
commits into few larger ones; alone, a request still gets its own commit.

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
writer process's client, in :mod:`tocsin.store.child`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no storage lock
    fcntl = None  # type: ignore[assignment]

import aiosqlite
import structlog

from tocsin.core.models import Alert
from tocsin.core.pacing import Pacer
from tocsin.core.records import HistoryEvent, Incident, RemediationRun, Silence
from tocsin.store import Attempt, AttemptCount, DeadLetter, IncidentQuery, NflogEntry, StorageError, rows
from tocsin.store.child import ChildWriter
from tocsin.store.files import FileWatch
from tocsin.store.rows import Op
from tocsin.store.schema import MIGRATIONS, migrate
from tocsin.store.writer import run_transaction

__all__ = ["MIGRATIONS", "SQLiteStore"]

log = structlog.get_logger("tocsin.store")

#: Seconds from a write to the checkpoint that copies it into the database file.
CHECKPOINT_DELAY = 1.0


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


def _answer(batch: list[tuple[list[Op], asyncio.Future[None]]], error: StorageError | None) -> None:
    for _, fut in batch:
        if not fut.done():
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(error)


#: Records made rows at once, between pauses of a big write.
ROWS_AT_ONCE = 512

R = TypeVar("R")


async def _rows(make: Callable[[Sequence[R]], list[tuple[Any, ...]]], items: Sequence[R],
                pacer: Pacer) -> list[tuple[Any, ...]]:
    """``make(items)``, :data:`ROWS_AT_ONCE` records at a time with a pause between."""
    if len(items) <= ROWS_AT_ONCE:
        return make(items)
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(items), ROWS_AT_ONCE):
        out += make(items[start:start + ROWS_AT_ONCE])
        await pacer.tick()
    return out


class SQLiteStore:
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
        self._pending: list[tuple[list[Op], asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._lock: IO[str] | None = None
        self.commits = 0

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
            if self._child is not None:
                await self._child.start()
        except BaseException:
            await self._db.close()
            self._db = None
            self._unlock()
            raise
        self._writer = asyncio.create_task(self._write_loop(), name="tocsin-store-writer")
        if self._files is not None:
            self._files.remember()
            self._watcher = asyncio.create_task(self._files.run(), name="tocsin-store-files")
        if self._on_disk:
            self._checkpointer = asyncio.create_task(self._checkpoint_loop(),
                                                     name="tocsin-store-checkpointer")

    async def close(self) -> None:
        self._closing = True
        self._wakeup.set()
        if self._writer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
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
        replaced while it was open, :mod:`tocsin.store.files`), or None."""
        return None if self._files is None else self._files.failure

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

    # -- the writer ---------------------------------------------------------

    async def _write(self, ops: list[Op]) -> None:
        if self._writer is None or self._closing:
            raise StorageError("the store is closed")
        if self.failure is not None:
            raise StorageError(self.failure)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((ops, fut))
        self._wakeup.set()
        # The commit goes on even if this caller is cancelled.
        await asyncio.shield(fut)

    async def _write_loop(self) -> None:
        # With a writer process, a second transaction may be on its way while the child
        # commits the first; what comes in meanwhile waits for a slot and goes as one.
        slots = asyncio.Semaphore(2 if self._child is not None else 1)
        in_flight: set[asyncio.Task[None]] = set()
        while True:
            await self._wakeup.wait()
            await slots.acquire()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if not batch:
                slots.release()
                if self._closing:
                    break
                continue
            task = asyncio.create_task(self._commit(batch))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            task.add_done_callback(lambda _: slots.release())
            if self._closing:
                self._wakeup.set()  # once more, to find nothing left (closing refuses writes) and end
        if in_flight:
            await asyncio.wait(in_flight)

    async def _commit(self, batch: list[tuple[list[Op], asyncio.Future[None]]]) -> None:
        db = self._db
        assert db is not None
        ops = [op for item, _ in batch for op in item]
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
        _answer(batch, error if failure is None else StorageError(failure))

    # -- alerts ---------------------------------------------------------------

    async def save_alerts(self, alerts: Sequence[Alert]) -> None:
        await self.save(alerts=alerts)

    async def save(
        self,
        *,
        alerts: Sequence[Alert] = (),
        incidents: Sequence[Incident] = (),
        history: Sequence[HistoryEvent] = (),
        runs: Sequence[RemediationRun] = (),
    ) -> None:
        ops: list[Op] = []
        pacer = Pacer()  # the rows of thousands of records: other work goes on meanwhile
        if alerts:
            ops.append((rows.ALERT_SQL, await _rows(rows.alert_rows, alerts, pacer), True))
        if incidents:
            ops.append((rows.INCIDENT_SQL, await _rows(rows.incident_rows, incidents, pacer), True))
        if history:
            ops.append((rows.HISTORY_SQL, await _rows(rows.history_rows, history, pacer), True))
        if runs:
            ops.append((rows.RUN_SQL, rows.run_rows(runs), True))
        if ops:
            await self._write(ops)

    async def delete_alerts(self, fingerprints: Iterable[str]) -> None:
        keys = [(fp,) for fp in fingerprints]
        if keys:
            await self._write([("DELETE FROM alerts WHERE fingerprint = ?", keys, True)])

    async def load_alerts(self) -> list[Alert]:
        return rows.alerts(await self._fetch("SELECT body FROM alerts"))

    # -- notification log -------------------------------------------------------

    async def save_nflog(self, entry: NflogEntry) -> None:
        await self._write([(rows.NFLOG_SQL, rows.nflog_row(entry), False)])

    async def load_nflog(self, now: float) -> list[NflogEntry]:
        return rows.nflog_entries(await self._fetch(
            f"SELECT {rows.NFLOG_COLUMNS} FROM nflog WHERE expires_at > ?", (now,)))

    async def expire_nflog(self, now: float) -> int:
        assert self._db is not None
        await self._write([("DELETE FROM nflog WHERE expires_at <= ?", (now,), False)])
        return 0

    # -- silences ---------------------------------------------------------------

    async def save_silences(self, silences: Sequence[Silence]) -> None:
        if silences:
            await self._write([(rows.SILENCE_SQL, rows.silence_rows(silences), True)])

    async def load_silences(self) -> list[Silence]:
        return rows.silences(await self._fetch("SELECT body FROM silences"))

    async def delete_silences(self, ids: Iterable[str]) -> None:
        keys = [(i,) for i in ids]
        if keys:
            await self._write([("DELETE FROM silences WHERE id = ?", keys, True)])

    # -- delivery attempts and dead letters -----------------------------------

    async def save_attempt(self, a: Attempt) -> None:
        await self._write([(rows.ATTEMPT_SQL, rows.attempt_row(a), False)])

    async def load_attempts(self, limit: int = 100) -> list[Attempt]:
        return rows.attempts(await self._fetch(
            f"SELECT {rows.ATTEMPT_COLUMNS} FROM attempts ORDER BY id DESC LIMIT ?", (limit,)))

    async def expire_attempts(self, before: float) -> None:
        await self._write([("DELETE FROM attempts WHERE at < ?", (before,), False)])

    async def save_dead_letter(self, d: DeadLetter) -> None:
        await self._write([(rows.DEAD_LETTER_SQL, rows.dead_letter_row(d), False)])

    async def load_dead_letters(self) -> list[DeadLetter]:
        return rows.dead_letters(await self._fetch(
            f"SELECT {rows.DEAD_LETTER_COLUMNS} FROM dead_letters ORDER BY id"))

    async def delete_dead_letters(self, dead_letter_ids: Iterable[int]) -> None:
        keys = [(i,) for i in dead_letter_ids]
        if keys:
            await self._write([("DELETE FROM dead_letters WHERE id = ?", keys, True)])

    # -- incidents and history ---------------------------------------------------

    async def load_open_incidents(self) -> list[Incident]:
        return rows.incidents(await self._fetch("SELECT body FROM incidents WHERE state != 'resolved'"))

    async def get_incident(self, incident_id: str) -> Incident | None:
        return rows.incident(await self._fetch_one("SELECT body FROM incidents WHERE id = ?", (incident_id,)))

    async def latest_incident(self, fingerprint: str) -> Incident | None:
        return rows.incident(await self._fetch_one(
            "SELECT body FROM incidents WHERE fingerprint = ? ORDER BY fired_at DESC LIMIT 1",
            (fingerprint,)))

    async def incidents_named(self, ref: str, limit: int) -> tuple[int, list[Incident]]:
        if not ref or ref.strip("0123456789abcdef"):
            return 0, []  # ids and fingerprints are lowercase hex: nothing else names one
        found = list(await self._fetch(rows.NAMED_SQL, (ref, limit)))
        return (found[0][0] if found else 0), rows.incidents(r[1:] for r in found)

    async def shared_refs(self, refs: Sequence[str], length: int) -> set[str]:
        if not refs:
            return set()
        found = await self._fetch(rows.SHARED_SQL, (length, json.dumps(list(refs))))
        return {r[0] for r in found}

    async def query_incidents(self, q: IncidentQuery) -> list[Incident]:
        where: list[str] = ["1=1"]
        params: list[Any] = []
        if q.states:
            where.append(f"state IN ({','.join('?' * len(q.states))})")
            params.extend(q.states)
        if q.severities:
            where.append(f"severity IN ({','.join('?' * len(q.severities))})")
            params.extend(q.severities)
        if q.since is not None:
            where.append("fired_at >= ?")
            params.append(q.since)
        if q.until is not None:
            where.append("fired_at < ?")
            params.append(q.until)
        sql = f"SELECT body FROM incidents WHERE {' AND '.join(where)} ORDER BY fired_at DESC, id"
        if q.limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params.extend((q.limit, q.offset))
        return rows.incidents(await self._fetch(sql, params))

    async def load_history(self, alert_id: str) -> list[HistoryEvent]:
        return rows.history_events(await self._fetch(
            f"SELECT {rows.HISTORY_COLUMNS} FROM history WHERE alert_id = ? ORDER BY id", (alert_id,)))

    async def history_between(
        self, since: float, until: float, kinds: Sequence[str] = ()
    ) -> list[HistoryEvent]:
        sql = f"SELECT {rows.HISTORY_COLUMNS} FROM history WHERE at >= ? AND at < ?"
        params: list[Any] = [since, until]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        return rows.history_events(await self._fetch(sql + " ORDER BY id", params))

    async def attempt_counts(self, since: float, until: float) -> list[AttemptCount]:
        found = await self._fetch(
            "SELECT receiver, integration, SUM(error = ''), SUM(error != '') FROM attempts"
            " WHERE at >= ? AND at < ? GROUP BY receiver, integration ORDER BY receiver, integration",
            (since, until),
        )
        return [AttemptCount(receiver=r[0], integration=r[1], sent=r[2] or 0, failed=r[3] or 0)
                for r in found]

    async def load_runs(self, since: float) -> list[RemediationRun]:
        """Runs created since ``since``, and every run still waiting for approval."""
        return rows.runs(await self._fetch(
            "SELECT body FROM remediation_runs WHERE created_at >= ? OR state = 'pending_approval'",
            (since,)))

    async def get_run(self, run_id: str) -> RemediationRun | None:
        return rows.run(await self._fetch_one("SELECT body FROM remediation_runs WHERE id = ?", (run_id,)))

    async def query_runs(self, *, states: Sequence[str] = (), limit: int = 100,
                         offset: int = 0) -> list[RemediationRun]:
        sql = "SELECT body FROM remediation_runs"
        params: list[Any] = []
        if states:
            sql += f" WHERE state IN ({','.join('?' * len(states))})"
            params.extend(states)
        sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
        params.extend((limit, offset))
        return rows.runs(await self._fetch(sql, params))

    async def expire_history(self, before: float) -> None:
        await self._write([
            ("DELETE FROM remediation_runs WHERE created_at < ? AND state != 'pending_approval'",
             (before,), False),
            ("DELETE FROM history WHERE at < ?", (before,), False),
            ("DELETE FROM incidents WHERE state = 'resolved' AND resolved_at < ?", (before,), False),
        ])

    # -- callbacks handled ------------------------------------------------------

    async def save_callback_id(self, source: str, callback_id: str, seen_at: float) -> None:
        await self._write([("INSERT OR IGNORE INTO callback_ids (source, id, seen_at) VALUES (?, ?, ?)",
                            (source, callback_id, seen_at), False)])

    async def callback_seen(self, source: str, callback_id: str) -> float | None:
        row = await self._fetch_one("SELECT seen_at FROM callback_ids WHERE source = ? AND id = ?",
                                    (source, callback_id))
        return None if row is None else float(row[0])

    async def forget_callback_id(self, source: str, callback_id: str) -> None:
        await self._write([("DELETE FROM callback_ids WHERE source = ? AND id = ?",
                            (source, callback_id), False)])

    async def expire_callback_ids(self, before: float) -> None:
        await self._write([("DELETE FROM callback_ids WHERE seen_at < ?", (before,), False)])

    # -- reads ------------------------------------------------------------------

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> Iterable[Sequence[Any]]:
        assert self._db is not None
        async with self._db.execute(sql, params) as cur:
            return await cur.fetchall()

    async def _fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any] | None:
        assert self._db is not None
        async with self._db.execute(sql, params) as cur:
            return await cur.fetchone()
