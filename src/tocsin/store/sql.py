"""The record methods every SQL store shares: which statements write each record and
which queries read it back, in the SQL both SQLite and PostgreSQL read (see
:mod:`tocsin.store.rows`). A backend provides the three primitives: ``_write``
(operations committed in one transaction, durable when it returns), ``_fetch``
and ``_fetch_one``; and, for ``tocsin storage copy``, ``export_rows``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, TypeVar

from tocsin.core.models import Alert
from tocsin.core.pacing import Pacer
from tocsin.core.records import FIRING, HistoryEvent, Incident, RemediationRun, Silence
from tocsin.store import (
    Attempt,
    AttemptCount,
    ConfigLoad,
    DeadLetter,
    HeartbeatSeen,
    IncidentQuery,
    NflogEntry,
    implied,
    notices,
    rows,
)
from tocsin.store.batching import GroupCommit
from tocsin.store.pages import PageQueries
from tocsin.store.rows import TABLES, Op
from tocsin.store.series import SeriesQueries

__all__ = ["SQLStore"]


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


class SQLStore(SeriesQueries, PageQueries):
    """The :class:`~tocsin.store.Store` methods, on a backend's three primitives and its
    write queue (the bucketed series of :mod:`tocsin.store.series` and the pages replay
    reads, :mod:`tocsin.store.pages`, included)."""

    _queue: GroupCommit

    @property
    def failure(self) -> str | None:
        raise NotImplementedError

    @property
    def needs_restart(self) -> bool:
        raise NotImplementedError

    async def recover(self) -> None:
        """Try now to mend a :attr:`failure` that passes; nothing to try by default."""

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def _write(self, ops: list[Op], *, journal: bool = False) -> None:
        """``journal``: answered once the operations are journaled, where the backend
        keeps a journal as durable as its commit (SQLite, :mod:`tocsin.store.journal`)."""
        raise NotImplementedError

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> Iterable[Sequence[Any]]:
        raise NotImplementedError

    async def _fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any] | None:
        raise NotImplementedError

    async def _fetch_chunks(self, sql: str) -> AsyncIterator[Iterable[Sequence[Any]]]:
        """The rows of ``sql`` a chunk at a time, where the backend can: a big table is
        then not held twice, as rows and as records, while it is read."""
        yield await self._fetch(sql)

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
        journal: bool = False,
    ) -> None:
        ops: list[Op] = []
        pacer = Pacer()  # the rows of thousands of records: other work goes on meanwhile
        # An incident as it opened is implied by its alert's row (implied.split); the alerts'
        # rows go first, for the operations on incidents that follow to find them.
        part = implied.split(alerts, incidents)
        if part.born:
            ops.append((rows.ALERT_BORN_SQL, await _rows(implied.born_rows, part.born, pacer), True))
        if part.plain:
            ops.append((rows.ALERT_SQL, await _rows(rows.alert_rows, part.plain, pacer), True))
        if part.kept or part.imply:
            written = [*part.kept, *part.imply]
            ops.append((rows.INCIDENT_SQL, await _rows(rows.incident_rows, written, pacer), True))
        if part.kept:
            ops.append((implied.UNIMPLY_SQL, implied.unimply_rows(part.kept), True))
        if part.imply:
            ops.append((implied.IMPLY_SQL, implied.imply_rows(part.imply), True))
        if part.imply or part.drop:
            ops.append((implied.DROP_ROW_SQL, implied.drop_rows([*part.imply, *part.drop]), True))
        if history:
            ops += await self._history_ops(history, pacer)
        if runs:
            ops.append((rows.RUN_SQL, rows.run_rows(runs), True))
        if ops:
            await self._write(ops, journal=journal)

    async def delete_alerts(self, fingerprints: Iterable[str], keep: Sequence[Incident] = ()) -> None:
        keys = [(fp,) for fp in fingerprints]
        ops: list[Op] = [(rows.INCIDENT_SQL, rows.incident_rows(keep), True)] if keep else []
        if keys:
            await self._write([*ops, ("DELETE FROM alerts WHERE fingerprint = ?", keys, True)])

    #: The alerts :meth:`load_alerts` read last, by fingerprint, until
    #: :meth:`load_open_incidents` shares their labels (the daemon reads the two in that order).
    _loaded: dict[str, Alert] = {}

    async def load_alerts(self) -> list[Alert]:
        found: list[Alert] = []
        async for chunk in self._fetch_chunks("SELECT fingerprint, body FROM alerts"):
            found += rows.alerts(chunk)
        self._loaded = {a.fingerprint: a for a in found}
        return found

    # -- notification log -------------------------------------------------------

    def _nflog_ops(self, entry: NflogEntry) -> list[Op]:
        """The operations that write a notification-log entry."""
        # Each a one-row executemany: the writer merges those of one commit into one statement.
        return [(rows.NFLOG_SQL, [rows.nflog_row(entry)], True)]

    async def save_nflog(self, entry: NflogEntry) -> None:
        await self._write(self._nflog_ops(entry))

    async def save_delivery(self, entry: NflogEntry, history: Sequence[HistoryEvent],
                            attempt: Attempt | None = None) -> None:
        ops: list[Op] = [] if attempt is None else [(rows.ATTEMPT_SQL, [rows.attempt_row(attempt)], True)]
        ops += self._nflog_ops(entry)
        if history:
            ops += await self._history_ops(history, Pacer())
        await self._write(ops)

    async def _history_ops(self, history: Sequence[HistoryEvent], pacer: Pacer) -> list[Op]:
        """History rows, and a notification's "notified" events as its notice (after the
        rows: what one write holds is one moment, and a notice follows what it tells of)."""
        held, rest = notices.split(history)
        ops: list[Op] = []
        if rest:
            ops.append((rows.HISTORY_SQL, await _rows(rows.history_rows, rest, pacer), True))
        if held:
            ops.append((notices.NOTICE_SQL, held, True))
        return ops

    async def load_nflog(self, now: float) -> list[NflogEntry]:
        return rows.nflog_entries(await self._fetch(
            f"SELECT {rows.NFLOG_COLUMNS} FROM nflog WHERE expires_at > ?", (now,)))

    async def expire_nflog(self, now: float) -> int:
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
        await self._write([(rows.ATTEMPT_SQL, [rows.attempt_row(a)], True)])

    def post_attempt(self, a: Attempt) -> None:
        self._queue.post([(rows.ATTEMPT_SQL, [rows.attempt_row(a)], True)], "delivery attempt")

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
        """The open incidents' rows, then those alert rows imply. Each holds the same labels
        dict as its alert, as after ingest, when the alerts were loaded first (at 100,000
        alerts, some 100 MiB less); an implied one is made from the alert already read."""
        found: list[Incident] = []
        loaded, self._loaded = self._loaded, {}
        async for chunk in self._fetch_chunks(
                f"SELECT {rows.ROW_COLUMNS} FROM incident_rows WHERE state != 'resolved'"):
            found += rows.incidents(chunk, loaded)
        async for chunk in self._fetch_chunks(
                f"SELECT {rows.IMPLIED_COLUMNS} FROM alerts WHERE incident IS NOT NULL"):
            found += rows.incidents(chunk, loaded)
        return found

    async def get_incident(self, incident_id: str) -> Incident | None:
        found = await self._fetch_one(
            f"SELECT {rows.ROW_COLUMNS} FROM incident_rows WHERE id = ?", (incident_id,))
        if found is None and (fp := implied.fingerprint_in(incident_id)):  # implied by its alert's row?
            found = await self._fetch_one(
                f"SELECT {rows.IMPLIED_COLUMNS} FROM alerts WHERE fingerprint = ? AND incident = ?",
                (fp, incident_id))
        return rows.incident(found)

    async def latest_incident(self, fingerprint: str) -> Incident | None:
        # An implied incident is open: none of its alert's is newer.
        found = await self._fetch_one(
            f"SELECT {rows.IMPLIED_COLUMNS} FROM alerts WHERE fingerprint = ? AND incident IS NOT NULL",
            (fingerprint,))
        return rows.incident(found or await self._fetch_one(
            f"SELECT {rows.ROW_COLUMNS} FROM incident_rows WHERE fingerprint = ?"
            " ORDER BY fired_at DESC LIMIT 1",
            (fingerprint,)))

    #: The queries of short references (:mod:`tocsin.store.rows`), in this backend's SQL.
    NAMED_SQL = rows.NAMED_SQL
    SHARED_SQL = rows.SHARED_SQL

    def _ref_list(self, refs: Sequence[str]) -> Any:
        """``refs`` as :attr:`SHARED_SQL` takes them: a JSON array (SQLite's ``json_each``)."""
        return json.dumps(list(refs))

    async def incidents_named(self, ref: str, limit: int) -> tuple[int, list[Incident]]:
        if not ref or ref.strip("0123456789abcdef"):
            return 0, []  # ids and fingerprints are lowercase hex: nothing else names one
        found = list(await self._fetch(self.NAMED_SQL, (ref, limit)))
        return (found[0][0] if found else 0), rows.incidents(r[1:] for r in found)

    async def shared_refs(self, refs: Sequence[str], length: int) -> set[str]:
        if not refs:
            return set()
        found = await self._fetch(self.SHARED_SQL, (length, self._ref_list(refs)))
        return {r[0] for r in found}

    async def query_incidents(self, q: IncidentQuery) -> list[Incident]:
        # Each of the two parts in the order asked, as far as the page reaches; then merged.
        where: list[str] = ["1=1"]
        params: list[Any] = []
        if q.severities:
            where.append(f"severity IN ({','.join('?' * len(q.severities))})")
            params.extend(q.severities)
        if q.since is not None:
            where.append("fired_at >= ?")
            params.append(q.since)
        if q.until is not None:
            where.append("fired_at < ?")
            params.append(q.until)
        reach = ""
        if q.limit is not None:
            reach = f" LIMIT {int(q.limit) + int(q.offset)}"
        states = f" AND state IN ({','.join('?' * len(q.states))})" if q.states else ""
        parts = [(f"SELECT * FROM (SELECT {rows.ROW_COLUMNS} FROM incident_rows WHERE {' AND '.join(where)}"
                  f"{states} ORDER BY fired_at DESC, id{reach}) r", [*params, *q.states])]
        if not q.states or FIRING in q.states:
            parts.append((f"SELECT * FROM (SELECT {rows.IMPLIED_COLUMNS} FROM alerts"
                          f" WHERE incident IS NOT NULL AND {' AND '.join(where)}"
                          f" ORDER BY fired_at DESC, incident{reach}) a", params))
        sql = " UNION ALL ".join(p for p, _ in parts) + " ORDER BY 4 DESC, 1"
        args = [a for _, ps in parts for a in ps]
        if q.limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args.extend((q.limit, q.offset))
        return rows.incidents(await self._fetch(sql, args))

    #: A notice's ``{col}`` holds the bytes of the parameter (both database read it).
    HOLDS = "instr({col}, ?) > 0"

    async def load_history(self, alert_id: str) -> list[HistoryEvent]:
        events = rows.history_events(await self._fetch(
            f"SELECT {rows.HISTORY_COLUMNS} FROM history WHERE alert_id = ? ORDER BY id", (alert_id,)))
        wanted = notices.key(alert_id)
        if wanted is not None:
            held = await self._fetch(
                f"SELECT {notices.NOTICE_COLUMNS} FROM notices WHERE at >= ? AND"
                f" ({self.HOLDS.format(col='firing')} OR {self.HOLDS.format(col='resolved')}) ORDER BY id",
                (notices.since(alert_id), wanted, wanted))
            events = rows.merged(events, notices.events_of(alert_id, held))
        inc = await self.get_incident(alert_id)
        return rows.with_fired(events, () if inc is None else (inc,))

    async def history_between(
        self, since: float, until: float, kinds: Sequence[str] = ()
    ) -> list[HistoryEvent]:
        sql = f"SELECT {rows.HISTORY_COLUMNS} FROM history WHERE at >= ? AND at < ?"
        params: list[Any] = [since, until]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        events = rows.history_events(await self._fetch(sql + " ORDER BY id", params))
        if not kinds or notices.KIND in kinds:
            events = rows.merged(events, notices.expand(notices.notices(await self._fetch(
                f"SELECT {notices.NOTICE_COLUMNS} FROM notices WHERE at >= ? AND at < ? ORDER BY id",
                (since, until)))))
        if kinds and "fired" not in kinds:
            return events
        return rows.with_fired(events, rows.incidents(await self._fetch(
            f"SELECT {rows.INCIDENT_COLUMNS} FROM incidents WHERE fired_at >= ? AND fired_at < ?"
            " ORDER BY fired_at, id", (since, until))))

    async def attempt_counts(self, since: float, until: float) -> list[AttemptCount]:
        found = await self._fetch(
            "SELECT receiver, integration, SUM(CASE WHEN error = '' THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN error != '' THEN 1 ELSE 0 END) FROM attempts"
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
            ("DELETE FROM notices WHERE at < ?", (before,), False),
            ("DELETE FROM incident_rows WHERE state = 'resolved' AND resolved_at < ?", (before,), False),
            # The configs put in force before, but the one still in force then.
            ("DELETE FROM configs WHERE loaded_at < (SELECT MAX(loaded_at) FROM configs WHERE loaded_at < ?)",
             (before,), False),
        ])

    async def save_config_load(self, load: ConfigLoad) -> None:
        await self._write([(rows.CONFIG_SQL, rows.config_row(load), False)])

    async def config_loads(self, until: float) -> list[ConfigLoad]:
        return rows.config_loads(await self._fetch(
            f"SELECT {rows.CONFIG_COLUMNS} FROM configs WHERE loaded_at < ? ORDER BY loaded_at", (until,)))

    # -- callbacks handled ------------------------------------------------------

    async def save_callback_id(self, source: str, callback_id: str, seen_at: float) -> None:
        await self._write([("INSERT INTO callback_ids (source, id, seen_at) VALUES (?, ?, ?)"
                            " ON CONFLICT (source, id) DO NOTHING",
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

    # -- heartbeats -----------------------------------------------------------------

    async def save_heartbeats(self, seen: Sequence[HeartbeatSeen]) -> None:
        if seen:
            await self._write([(rows.HEARTBEAT_SQL, [
                (h.name, h.key, json.dumps(h.labels, sort_keys=True), h.last_seen, int(h.missing))
                for h in seen], True)])

    async def load_heartbeats(self) -> list[HeartbeatSeen]:
        found = await self._fetch("SELECT name, key, labels, last_seen, missing FROM heartbeats")
        return [HeartbeatSeen(name=r[0], key=r[1], labels=json.loads(r[2]),
                              last_seen=None if r[3] is None else float(r[3]), missing=bool(r[4]))
                for r in found]

    async def delete_heartbeats(self, keys: Iterable[tuple[str, str]]) -> None:
        found = list(keys)
        if found:
            await self._write([("DELETE FROM heartbeats WHERE name = ? AND key = ?", found, True)])


    # -- every row, for copying -----------------------------------------------------

    def export_rows(self, table: str, chunk: int = 1000) -> AsyncIterator[list[Sequence[Any]]]:
        """Every row of ``table``, its :data:`~tocsin.store.rows.TABLES` columns in order,
        ``chunk`` rows at a time."""
        raise NotImplementedError

    async def import_rows(self, table: str, found: Sequence[Sequence[Any]]) -> None:
        """Insert rows of ``table`` (its :data:`~tocsin.store.rows.TABLES` columns in order),
        in one transaction."""
        if found:
            cols = TABLES[table]
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({','.join('?' * len(cols))})"
            await self._write([(sql, list(found), True)])

    async def count_rows(self) -> dict[str, int]:
        """How many rows each table holds."""
        counts = {}
        for table in TABLES:
            row = await self._fetch_one(f"SELECT COUNT(*) FROM {table}")
            counts[table] = int(row[0]) if row else 0
        return counts

    async def clear(self) -> None:
        """Delete every row of every table, in one transaction."""
        await self._write([(f"DELETE FROM {table}", (), False) for table in TABLES])
