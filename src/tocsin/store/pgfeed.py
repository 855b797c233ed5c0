"""The change feed of replicas sharing one PostgreSQL database: LISTEN/NOTIFY.

A trigger on ``alerts``, ``silences`` and ``incident_rows`` (PostgreSQL migration 4; the
table was ``incidents`` until migration 6, and the trigger names it as it is now) sends a
notification on the channel :data:`CHANNEL` for each row written or deleted, at its
commit: the table, the replica that wrote it (its ``tocsin.replica`` setting, which each
replica's connections carry: :data:`ORIGIN`) and the row's key. Each replica listens on a
session of its own (:class:`Feed`) and reads the rows others changed as soon as they are
committed; what it wrote itself it already holds.

A notification sent while the listening session was down is lost: each time the session
is (re)opened, before the first change is read, the whole state is read once
(``resync``), so nothing committed in between is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from tocsin.core.models import Alert
from tocsin.core.records import Incident, Silence
from tocsin.store import rows

__all__ = ["CHANNEL", "ORIGIN", "Changes", "Feed", "parse"]

log = structlog.get_logger("tocsin.feed")

#: The channel the trigger notifies on.
CHANNEL = "tocsin_changes"
#: The setting that names the replica a connection writes for (in the notification).
ORIGIN = "tocsin.replica"
#: Seconds between checks that the listening session is still open.
CHECK_INTERVAL = 1.0
#: Seconds to wait before opening the session again after it was lost.
RETRY_INTERVAL = 1.0
#: Keys read in one statement, at most.
CHUNK = 1000


@dataclass
class Changes:
    """What other replicas committed since the last read."""

    #: Alerts written (as the database has them now).
    alerts: list[Alert] = field(default_factory=list)
    #: Fingerprints of alerts deleted.
    gone: list[str] = field(default_factory=list)
    #: Incidents written.
    incidents: list[Incident] = field(default_factory=list)
    #: Every silence, when any changed; else None.
    silences: list[Silence] | None = None


def parse(payload: str) -> tuple[str, str, str] | None:
    """``(table, origin, key)`` of a notification's payload, or None if it is not one."""
    parts = payload.split("\t", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


class Feed:
    """Listens for the changes other replicas commit, on a session of its own."""

    def __init__(self, url: str, *, name: str, connect_timeout: float, command_timeout: float) -> None:
        self.url = url
        #: This replica's name: its own changes are not read back.
        self.name = name
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        #: Keys notified and not read yet, by the table the trigger names.
        self._pending: dict[str, set[str]] = {"alerts": set(), "incident_rows": set(), "silences": set()}
        self._wake = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._failing = False  # the session was lost, and not opened again yet (logged once)
        self._synced = False  # the session is open, and the whole state was read since it opened

    @property
    def live(self) -> bool:
        """The listening session is open and the state was read whole since it opened: what
        others commit is being taken in, and nothing committed before was missed."""
        return self._synced and self._conn is not None and not self._conn.is_closed()

    def _notified(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        found = parse(payload)
        if found is None:
            return
        table, origin, key = found
        if origin != self.name and table in self._pending:
            self._pending[table].add(key)
            self._wake.set()

    def _closed(self, conn: Any) -> None:
        self._wake.set()

    async def run(self, resync: Callable[[], Awaitable[None]],
                  apply: Callable[[Changes], Awaitable[None] | None]) -> None:
        """Listen, and hand each batch of changes to ``apply``; ``resync`` reads everything
        when the session (re)opens. Runs until cancelled; a lost session is opened again."""
        while True:
            try:
                await self._listen(resync, apply)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._failing:
                    log.warning("the change feed was lost; listening again every second",
                                error=str(exc) or type(exc).__name__)
                self._failing = True
            finally:
                self._drop()
            await asyncio.sleep(RETRY_INTERVAL)

    async def _listen(self, resync: Callable[[], Awaitable[None]],
                      apply: Callable[[Changes], Awaitable[None] | None]) -> None:
        conn = self._conn = await asyncpg.connect(
            self.url, timeout=self.connect_timeout,
            server_settings={"application_name": f"{self.name} (feed)"[:63]})
        conn.add_termination_listener(self._closed)
        await conn.add_listener(CHANNEL, self._notified)
        for keys in self._pending.values():
            keys.clear()
        await resync()  # what was committed before the LISTEN, or while the session was down
        self._synced = True
        if self._failing:
            log.info("the change feed listens again")
            self._failing = False
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), CHECK_INTERVAL)
            self._wake.clear()
            if conn.is_closed():
                raise ConnectionError("the listening session closed")
            if not any(self._pending.values()):
                await conn.execute("SELECT 1", timeout=self.command_timeout)  # still there?
                continue
            done = apply(await self.read(conn))
            if done is not None:
                await done

    async def read(self, conn: asyncpg.Connection) -> Changes:
        """The rows of the keys notified so far (taken from the pending ones)."""
        alerts, incidents, silences = (self._take(t) for t in ("alerts", "incident_rows", "silences"))
        out = Changes()
        found: set[str] = set()
        for chunk in _chunks(alerts):
            for r in await conn.fetch(
                    f"SELECT {rows.IMPLIED_COLUMNS} FROM alerts WHERE fingerprint = ANY($1::text[])", chunk,
                    timeout=self.command_timeout):
                alert = rows.alert(r[1], r[2])
                out.alerts.append(alert)
                found.add(alert.fingerprint)
                if r[4] is not None:  # the incident its row implies
                    out.incidents.append(rows.implied(r[0], r[3], r[4], alert))
        out.gone = [fp for fp in alerts if fp not in found]
        for chunk in _chunks(incidents):  # the rows written: one gone is implied by its alert's row
            out.incidents += rows.incidents(await conn.fetch(
                f"SELECT {rows.ROW_COLUMNS} FROM incident_rows WHERE id = ANY($1::text[])", chunk,
                timeout=self.command_timeout))
        if silences:
            out.silences = rows.silences(await conn.fetch("SELECT body FROM silences",
                                                          timeout=self.command_timeout))
        return out

    def _take(self, table: str) -> list[str]:
        keys = sorted(self._pending[table])
        self._pending[table].clear()
        return keys

    def _drop(self) -> None:
        self._synced = False
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None


def _chunks(keys: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(keys), CHUNK):
        yield keys[i:i + CHUNK]
