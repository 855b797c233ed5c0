"""The SQLite store (aiosqlite, WAL).

Writes from concurrent requests are committed together: each caller queues
its rows and waits; one writer task takes everything queued, commits it in
one transaction and wakes the callers. Under load this turns many small
commits into few larger ones; alone, a request still gets its own commit.

Where the commit runs is ``writer``: ``thread`` (aiosqlite's thread, the
same connection that reads) or ``process`` (a child process,
:mod:`tocsin.store.writer`, the daemon's default: a commit there does not
wait for the event loop's interpreter lock). Either way a caller is answered
only once its rows are committed. Reads go through aiosqlite. The WAL is
copied into the database by a checkpointer on a connection and thread of its
own, a second after writes, rather than by whichever commit crosses SQLite's
1000-page mark.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import marshal
import os
import sqlite3
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any, Literal

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no storage lock
    fcntl = None  # type: ignore[assignment]

import aiosqlite
import msgspec
import structlog

from tocsin.core.models import Alert, Notification
from tocsin.core.records import HistoryEvent, Incident, RemediationRun, Silence
from tocsin.store import Attempt, AttemptCount, DeadLetter, IncidentQuery, NflogEntry, StorageError
from tocsin.store import writer as _writer_module
from tocsin.store.writer import FRAME, run_transaction

__all__ = ["MIGRATIONS", "SQLiteStore"]

log = structlog.get_logger("tocsin.store")

#: Schema versions, applied in order; ``PRAGMA user_version`` records the last.
MIGRATIONS: list[str] = [
    # 1: alerts and the notification log.
    """
    CREATE TABLE alerts (
        fingerprint TEXT PRIMARY KEY,
        body BLOB NOT NULL,
        ends_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX alerts_ends_at ON alerts (ends_at);
    CREATE TABLE nflog (
        group_key TEXT NOT NULL,
        receiver TEXT NOT NULL,
        integration TEXT NOT NULL,
        firing TEXT NOT NULL,
        resolved TEXT NOT NULL,
        sent_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (group_key, receiver, integration)
    );
    """,
    # 2: silences.
    """
    CREATE TABLE silences (
        id TEXT PRIMARY KEY,
        body BLOB NOT NULL,
        ends_at REAL NOT NULL
    );
    """,
    # 3: delivery attempts and dead letters.
    """
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        receiver TEXT NOT NULL,
        integration TEXT NOT NULL,
        group_key TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        status INTEGER,
        latency REAL NOT NULL,
        error TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX attempts_at ON attempts (at);
    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        receiver TEXT NOT NULL,
        integration TEXT NOT NULL,
        group_key TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        error TEXT NOT NULL,
        notification BLOB NOT NULL
    );
    """,
    # 4: incidents (the lifecycle of alerts) and their history.
    """
    CREATE TABLE incidents (
        id TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        alertname TEXT NOT NULL,
        severity TEXT NOT NULL,
        fired_at REAL NOT NULL,
        acknowledged_at REAL NOT NULL,
        resolved_at REAL NOT NULL,
        body BLOB NOT NULL
    );
    CREATE INDEX incidents_fired_at ON incidents (fired_at);
    CREATE INDEX incidents_fingerprint ON incidents (fingerprint, fired_at);
    CREATE INDEX incidents_open ON incidents (state) WHERE state != 'resolved';
    CREATE TABLE history (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        alert_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        detail BLOB NOT NULL
    );
    CREATE INDEX history_alert ON history (alert_id, id);
    CREATE INDEX history_at ON history (at);
    CREATE INDEX attempts_receiver ON attempts (at, receiver);
    """,
    # 5: remediation runs (the audit record).
    """
    CREATE TABLE remediation_runs (
        id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        remediation TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        body BLOB NOT NULL
    );
    CREATE INDEX remediation_runs_created ON remediation_runs (created_at);
    CREATE INDEX remediation_runs_pending ON remediation_runs (state) WHERE state = 'pending_approval';
    """,
    # 6: nothing queries alerts by end time; the index only cost a page write per alert write.
    """
    DROP INDEX IF EXISTS alerts_ends_at;
    """,
]

_alert_enc = msgspec.json.Encoder()
_alert_dec = msgspec.json.Decoder(Alert)
_list_dec = msgspec.json.Decoder(list[str])
_silence_dec = msgspec.json.Decoder(Silence)
_notification_dec = msgspec.json.Decoder(Notification)
_incident_dec = msgspec.json.Decoder(Incident)
_detail_dec = msgspec.json.Decoder(dict[str, Any])
_run_dec = msgspec.json.Decoder(RemediationRun)
_RUN_SQL = ("INSERT OR REPLACE INTO remediation_runs (id, created_at, remediation, fingerprint, state, body)"
            " VALUES (?,?,?,?,?,?)")

_INCIDENT_SQL = (
    "INSERT OR REPLACE INTO incidents (id, fingerprint, state, alertname, severity, fired_at,"
    " acknowledged_at, resolved_at, body) VALUES (?,?,?,?,?,?,?,?,?)"
)
_HISTORY_SQL = (
    "INSERT INTO history (at, alert_id, fingerprint, kind, actor, detail) VALUES (?,?,?,?,?,?)"
)


def _incident_row(i: Incident) -> tuple[Any, ...]:
    return (i.id, i.fingerprint, i.state, i.alertname, i.severity, i.fired_at, i.acknowledged_at,
            i.resolved_at, _alert_enc.encode(i))


def _history_row(h: HistoryEvent) -> tuple[Any, ...]:
    return (h.at, h.alert_id, h.fingerprint, h.kind, h.actor, _alert_enc.encode(h.detail))

_Op = tuple[str, Sequence[Any] | Iterable[Sequence[Any]], bool]


#: Seconds from a write to the checkpoint that copies it into the database file.
CHECKPOINT_DELAY = 1.0


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


class _ChildWriter:
    """Commits through :mod:`tocsin.store.writer`. Transactions are sent as they come and
    answered in the order sent (the child takes them one at a time), so the next one
    can wait in the pipe while the child commits the last. A child that died fails
    what it was sent, and the next commit starts another."""

    def __init__(self, path: str, synchronous: str) -> None:
        self.path = path
        self.synchronous = synchronous
        self.proc: asyncio.subprocess.Process | None = None
        self._sent: collections.deque[asyncio.Future[None]] = collections.deque()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # By file path and without site-packages: the child imports the standard library only.
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", _writer_module.__file__, self.path, self.synchronous,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read_replies(self.proc),
                                           name="tocsin-store-writer-replies")

    async def _read_replies(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        why = "its output ended"
        try:
            while True:
                (size,) = FRAME.unpack(await proc.stdout.readexactly(FRAME.size))
                reply = marshal.loads(await proc.stdout.readexactly(size))
                fut = self._sent.popleft()
                if fut.done():
                    continue
                if reply is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(sqlite3.OperationalError(reply[1]))
        except (OSError, asyncio.IncompleteReadError) as exc:
            why = type(exc).__name__
        except (EOFError, ValueError, TypeError, IndexError) as exc:  # out of step: not to be trusted
            why = f"{type(exc).__name__}: {exc}"
            proc.kill()
        finally:
            if self.proc is proc:
                self.proc = None
            err = sqlite3.OperationalError(f"the database writer process exited ({why})")
            while self._sent:
                fut = self._sent.popleft()
                if not fut.done():
                    fut.set_exception(err)

    async def commit(self, ops: list[_Op]) -> None:
        if self.proc is None or self.proc.returncode is not None:
            await self.start()
        proc = self.proc
        assert proc is not None and proc.stdin is not None
        body = marshal.dumps([(sql, list(params) if many else params, many)
                              for sql, params, many in ops])
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sent.append(fut)
        proc.stdin.write(FRAME.pack(len(body)) + body)  # one write: frames never interleave
        try:
            await proc.stdin.drain()
        except OSError:
            pass  # the reader sees the child gone and fails what it was sent
        await fut

    async def close(self) -> None:
        """Let the child finish what it was sent, and end it."""
        proc = self.proc
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._reader), 10)
            except TimeoutError:
                if proc is not None and proc.returncode is None:
                    proc.kill()
                await self._reader
            self._reader = None
        if proc is not None:
            await proc.wait()
        self.proc = None


def _lock_storage(path: str) -> IO[str]:
    """Hold ``<db>.lock`` for as long as the store is open, so that a second tocsin on
    the same storage stops at once instead of racing the first (the kernel lets go of
    the lock when the process ends, kill -9 included)."""
    f = open(path + ".lock", "a+")  # held open on purpose: the lock lives as long as it
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


class SQLiteStore:
    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL",
                 writer: Literal["thread", "process"] = "thread") -> None:
        self.path = str(path)
        self.synchronous = synchronous
        #: An in-memory database lives in its one connection: no lock file, no writer
        #: process, no checkpoints.
        self._on_disk = self.path != ":memory:"
        self._child = _ChildWriter(self.path, synchronous) if writer == "process" and self._on_disk else None
        self._checkpointer: asyncio.Task[None] | None = None
        self._written = asyncio.Event()
        self._db: aiosqlite.Connection | None = None
        self._pending: list[tuple[list[_Op], asyncio.Future[None]]] = []
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
            await self._migrate()
            if self._child is not None:
                await self._child.start()
        except BaseException:
            await self._db.close()
            self._db = None
            self._unlock()
            raise
        self._writer = asyncio.create_task(self._write_loop(), name="tocsin-store-writer")
        if self._on_disk:
            self._checkpointer = asyncio.create_task(self._checkpoint_loop(),
                                                     name="tocsin-store-checkpointer")

    async def _migrate(self) -> None:
        assert self._db is not None
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        current = row[0] if row else 0
        if current > len(MIGRATIONS):
            raise StorageError(
                f"{self.path} has schema version {current}, newer than this tocsin knows "
                f"({len(MIGRATIONS)}); upgrade tocsin or use another database"
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            await self._db.executescript(
                "BEGIN;\n" + MIGRATIONS[version - 1] + f"\nPRAGMA user_version={version};\nCOMMIT;"
            )
            log.info("schema migrated", version=version, path=self.path)

    async def close(self) -> None:
        self._closing = True
        self._wakeup.set()
        if self._writer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        if self._child is not None:
            await self._child.close()
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

    async def _write(self, ops: list[_Op]) -> None:
        if self._writer is None or self._closing:
            raise StorageError("the store is closed")
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

    async def _commit(self, batch: list[tuple[list[_Op], asyncio.Future[None]]]) -> None:
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
        except Exception as exc:  # sqlite3.Error, and anything unforeseen: no caller is left waiting
            err = StorageError(f"database write failed: {exc}")
            log.error("database write failed", error=str(exc), path=self.path,
                      exc_info=None if isinstance(exc, sqlite3.Error) else exc)
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(err)
            return
        for _, fut in batch:
            if not fut.done():
                fut.set_result(None)

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
        ops: list[_Op] = []
        if alerts:
            rows = [(a.fingerprint, _alert_enc.encode(a), a.ends_at, a.updated_at) for a in alerts]
            ops.append((
                "INSERT OR REPLACE INTO alerts (fingerprint, body, ends_at, updated_at) VALUES (?,?,?,?)",
                rows, True,
            ))
        if incidents:
            ops.append((_INCIDENT_SQL, [_incident_row(i) for i in incidents], True))
        if history:
            ops.append((_HISTORY_SQL, [_history_row(h) for h in history], True))
        if runs:
            ops.append((_RUN_SQL, [(r.id, r.created_at, r.remediation, r.fingerprint, r.state,
                                    _alert_enc.encode(r)) for r in runs], True))
        if ops:
            await self._write(ops)

    async def delete_alerts(self, fingerprints: Iterable[str]) -> None:
        rows = [(fp,) for fp in fingerprints]
        if rows:
            await self._write([("DELETE FROM alerts WHERE fingerprint = ?", rows, True)])

    async def load_alerts(self) -> list[Alert]:
        assert self._db is not None
        async with self._db.execute("SELECT body FROM alerts") as cur:
            return [_alert_dec.decode(row[0]) for row in await cur.fetchall()]

    # -- notification log -------------------------------------------------------

    async def save_nflog(self, entry: NflogEntry) -> None:
        await self._write([(
            "INSERT OR REPLACE INTO nflog (group_key, receiver, integration, firing, resolved,"
            " sent_at, expires_at) VALUES (?,?,?,?,?,?,?)",
            (entry.group_key, entry.receiver, entry.integration,
             _alert_enc.encode(sorted(entry.firing)), _alert_enc.encode(sorted(entry.resolved)),
             entry.sent_at, entry.expires_at),
            False,
        )])

    async def load_nflog(self, now: float) -> list[NflogEntry]:
        assert self._db is not None
        async with self._db.execute(
            "SELECT group_key, receiver, integration, firing, resolved, sent_at, expires_at"
            " FROM nflog WHERE expires_at > ?", (now,)
        ) as cur:
            rows = await cur.fetchall()
        return [
            NflogEntry(group_key=r[0], receiver=r[1], integration=r[2],
                       firing=frozenset(_list_dec.decode(r[3])),
                       resolved=frozenset(_list_dec.decode(r[4])), sent_at=r[5], expires_at=r[6])
            for r in rows
        ]

    async def expire_nflog(self, now: float) -> int:
        assert self._db is not None
        await self._write([("DELETE FROM nflog WHERE expires_at <= ?", (now,), False)])
        return 0

    # -- silences ---------------------------------------------------------------

    async def save_silences(self, silences: Sequence[Silence]) -> None:
        rows = [(s.id, _alert_enc.encode(s), s.ends_at) for s in silences]
        if rows:
            await self._write([(
                "INSERT OR REPLACE INTO silences (id, body, ends_at) VALUES (?,?,?)", rows, True,
            )])

    async def load_silences(self) -> list[Silence]:
        assert self._db is not None
        async with self._db.execute("SELECT body FROM silences") as cur:
            return [_silence_dec.decode(row[0]) for row in await cur.fetchall()]

    async def delete_silences(self, ids: Iterable[str]) -> None:
        rows = [(i,) for i in ids]
        if rows:
            await self._write([("DELETE FROM silences WHERE id = ?", rows, True)])

    # -- delivery attempts and dead letters -----------------------------------

    async def save_attempt(self, a: Attempt) -> None:
        await self._write([(
            "INSERT INTO attempts (at, receiver, integration, group_key, attempt, status, latency, error)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (a.at, a.receiver, a.integration, a.group_key, a.attempt, a.status, a.latency, a.error),
            False,
        )])

    async def load_attempts(self, limit: int = 100) -> list[Attempt]:
        assert self._db is not None
        async with self._db.execute(
            "SELECT id, at, receiver, integration, group_key, attempt, status, latency, error"
            " FROM attempts ORDER BY id DESC LIMIT ?", (limit,)
        ) as cur:
            rows = await cur.fetchall()
        return [Attempt(id=r[0], at=r[1], receiver=r[2], integration=r[3], group_key=r[4],
                        attempt=r[5], status=r[6], latency=r[7], error=r[8]) for r in rows]

    async def expire_attempts(self, before: float) -> None:
        await self._write([("DELETE FROM attempts WHERE at < ?", (before,), False)])

    async def save_dead_letter(self, d: DeadLetter) -> None:
        await self._write([(
            "INSERT OR REPLACE INTO dead_letters (id, at, receiver, integration, group_key, attempts,"
            " error, notification) VALUES (?,?,?,?,?,?,?,?)",
            (d.id, d.at, d.receiver, d.integration, d.group_key, d.attempts, d.error,
             _alert_enc.encode(d.notification)),
            False,
        )])

    async def load_dead_letters(self) -> list[DeadLetter]:
        assert self._db is not None
        async with self._db.execute(
            "SELECT id, at, receiver, integration, group_key, attempts, error, notification"
            " FROM dead_letters ORDER BY id"
        ) as cur:
            rows = await cur.fetchall()
        return [DeadLetter(id=r[0], at=r[1], receiver=r[2], integration=r[3], group_key=r[4],
                           attempts=r[5], error=r[6], notification=_notification_dec.decode(r[7]))
                for r in rows]

    async def delete_dead_letters(self, dead_letter_ids: Iterable[int]) -> None:
        rows = [(i,) for i in dead_letter_ids]
        if rows:
            await self._write([("DELETE FROM dead_letters WHERE id = ?", rows, True)])

    # -- incidents and history ---------------------------------------------------

    async def load_open_incidents(self) -> list[Incident]:
        assert self._db is not None
        async with self._db.execute("SELECT body FROM incidents WHERE state != 'resolved'") as cur:
            return [_incident_dec.decode(row[0]) for row in await cur.fetchall()]

    async def get_incident(self, incident_id: str) -> Incident | None:
        assert self._db is not None
        async with self._db.execute("SELECT body FROM incidents WHERE id = ?", (incident_id,)) as cur:
            row = await cur.fetchone()
        return _incident_dec.decode(row[0]) if row else None

    async def latest_incident(self, fingerprint: str) -> Incident | None:
        assert self._db is not None
        async with self._db.execute(
            "SELECT body FROM incidents WHERE fingerprint = ? ORDER BY fired_at DESC LIMIT 1",
            (fingerprint,),
        ) as cur:
            row = await cur.fetchone()
        return _incident_dec.decode(row[0]) if row else None

    async def query_incidents(self, q: IncidentQuery) -> list[Incident]:
        assert self._db is not None
        where, params = ["1=1"], []
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
        async with self._db.execute(sql, params) as cur:
            return [_incident_dec.decode(row[0]) for row in await cur.fetchall()]

    async def load_history(self, alert_id: str) -> list[HistoryEvent]:
        assert self._db is not None
        async with self._db.execute(
            "SELECT id, at, alert_id, fingerprint, kind, actor, detail FROM history"
            " WHERE alert_id = ? ORDER BY id", (alert_id,)
        ) as cur:
            rows = await cur.fetchall()
        return [HistoryEvent(id=r[0], at=r[1], alert_id=r[2], fingerprint=r[3], kind=r[4], actor=r[5],
                             detail=_detail_dec.decode(r[6])) for r in rows]

    async def history_between(
        self, since: float, until: float, kinds: Sequence[str] = ()
    ) -> list[HistoryEvent]:
        assert self._db is not None
        sql = ("SELECT id, at, alert_id, fingerprint, kind, actor, detail FROM history"
               " WHERE at >= ? AND at < ?")
        params: list[Any] = [since, until]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        async with self._db.execute(sql + " ORDER BY id", params) as cur:
            rows = await cur.fetchall()
        return [HistoryEvent(id=r[0], at=r[1], alert_id=r[2], fingerprint=r[3], kind=r[4], actor=r[5],
                             detail=_detail_dec.decode(r[6])) for r in rows]

    async def attempt_counts(self, since: float, until: float) -> list[AttemptCount]:
        assert self._db is not None
        async with self._db.execute(
            "SELECT receiver, integration, SUM(error = ''), SUM(error != '') FROM attempts"
            " WHERE at >= ? AND at < ? GROUP BY receiver, integration ORDER BY receiver, integration",
            (since, until),
        ) as cur:
            rows = await cur.fetchall()
        return [AttemptCount(receiver=r[0], integration=r[1], sent=r[2] or 0, failed=r[3] or 0)
                for r in rows]

    async def load_runs(self, since: float) -> list[RemediationRun]:
        """Runs created since ``since``, and every run still waiting for approval."""
        assert self._db is not None
        async with self._db.execute(
            "SELECT body FROM remediation_runs WHERE created_at >= ? OR state = 'pending_approval'",
            (since,),
        ) as cur:
            return [_run_dec.decode(row[0]) for row in await cur.fetchall()]

    async def get_run(self, run_id: str) -> RemediationRun | None:
        assert self._db is not None
        async with self._db.execute("SELECT body FROM remediation_runs WHERE id = ?", (run_id,)) as cur:
            row = await cur.fetchone()
        return _run_dec.decode(row[0]) if row else None

    async def query_runs(self, *, states: Sequence[str] = (), limit: int = 100,
                         offset: int = 0) -> list[RemediationRun]:
        assert self._db is not None
        sql, params = "SELECT body FROM remediation_runs", []
        if states:
            sql += f" WHERE state IN ({','.join('?' * len(states))})"
            params.extend(states)
        sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
        params.extend((limit, offset))
        async with self._db.execute(sql, params) as cur:
            return [_run_dec.decode(row[0]) for row in await cur.fetchall()]

    async def expire_history(self, before: float) -> None:
        await self._write([
            ("DELETE FROM remediation_runs WHERE created_at < ? AND state != 'pending_approval'",
             (before,), False),
            ("DELETE FROM history WHERE at < ?", (before,), False),
            ("DELETE FROM incidents WHERE state = 'resolved' AND resolved_at < ?", (before,), False),
        ])
