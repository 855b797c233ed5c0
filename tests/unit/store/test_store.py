"""The stores: migrations, group commit, write failures, alerts and nflog rows.

Every test that takes ``backend`` runs on SQLite with both writers (commits in
aiosqlite's thread, and in the writer process, the daemon's default) and on
PostgreSQL (tests/backends.py)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import pytest
import structlog

from tocsin.core.models import Alert
from tocsin.core.records import HistoryEvent
from tocsin.store import Attempt, NflogEntry, StorageError
from tocsin.store.sqlite import MIGRATIONS, SQLiteStore


def make_alert(i: int, **kw) -> Alert:
    return Alert(
        fingerprint=f"{i:016x}", labels={"alertname": "A", "n": str(i)},
        annotations={"summary": f"alert {i}"}, starts_at=1000.0 + i, ends_at=2000.0 + i,
        generator_url=f"http://g/{i}", updated_at=1500.0 + i, **kw,
    )


def nflog_entry(key: str, expires_at: float) -> NflogEntry:
    return NflogEntry(group_key=key, receiver="r", integration="webhook[0]",
                      firing=frozenset({"b", "a"}), resolved=frozenset({"c"}),
                      sent_at=expires_at - 1000, expires_at=expires_at)


@contextlib.asynccontextmanager
async def opened(path):
    store = SQLiteStore(path)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def user_version(path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


# -- migrations ------------------------------------------------------------------------------


async def test_migrations_are_recorded_and_run_once(backend):
    with structlog.testing.capture_logs() as logs:
        async with backend.opened() as store:
            await store.save_alerts([make_alert(1)])
    assert backend.schema_version() == backend.migrations
    assert [e["version"] for e in logs if e["event"] == "schema migrated"] == list(
        range(1, backend.migrations + 1))

    with structlog.testing.capture_logs() as logs:
        async with backend.opened() as store:
            assert await store.load_alerts() == [make_alert(1)]
    assert [e for e in logs if e["event"] == "schema migrated"] == []
    assert backend.schema_version() == backend.migrations


async def test_newer_schema_is_refused(backend):
    async with backend.opened():
        pass
    backend.set_schema_version(backend.migrations + 1)
    store = backend.store()
    with pytest.raises(StorageError, match=f"schema version {backend.migrations + 1}, newer"):
        await store.open()
    await store.close()
    assert backend.schema_version() == backend.migrations + 1


async def test_the_sqlite_directory_is_created(tmp_path):
    path = tmp_path / "sub" / "t.db"
    async with opened(path) as store:
        await store.save_alerts([make_alert(1)])
    assert user_version(path) == len(MIGRATIONS)


# -- alerts ---------------------------------------------------------------------------------


async def test_alert_round_trip_and_replace(backend):
    async with backend.opened() as store:
        await store.save_alerts([make_alert(1), make_alert(2, timeout=True)])
        changed = make_alert(1)
        changed.annotations = {"summary": "changed"}
        changed.ends_at = 3000.0
        await store.save_alerts([changed])
        await store.save_alerts([])  # nothing to write: no commit
        commits = store.commits
    assert commits == 2
    async with backend.opened() as store:
        got = sorted(await store.load_alerts(), key=lambda a: a.fingerprint)
    assert got == [changed, make_alert(2, timeout=True)]


async def test_concurrent_saves_are_durable_in_fewer_commits(backend):
    alerts = [make_alert(i) for i in range(50)]
    async with backend.opened() as store:
        before = store.commits
        await asyncio.gather(*(store.save_alerts([a]) for a in alerts))
        commits = store.commits - before
        assert 1 <= commits < 50
    async with backend.opened() as store:
        got = sorted(await store.load_alerts(), key=lambda a: a.fingerprint)
    assert got == alerts


async def test_a_cancelled_caller_still_gets_its_write(backend):
    async with backend.opened() as store:
        task = asyncio.create_task(store.save_alerts([make_alert(1)]))
        await asyncio.sleep(0)  # queued
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.save_alerts([make_alert(2)])
    async with backend.opened() as store:
        assert sorted(a.fingerprint for a in await store.load_alerts()) == [
            make_alert(1).fingerprint, make_alert(2).fingerprint,
        ]


async def test_write_failure_reaches_every_waiter_and_the_store_recovers(backend):
    async with backend.opened() as store:
        await store.save_alerts([make_alert(0)])
        backend.refuse_writes(True)
        results = await asyncio.gather(
            *(store.save_alerts([make_alert(i)]) for i in range(1, 6)),
            store.save_nflog(nflog_entry("g", 5000.0)),
            return_exceptions=True,
        )
        assert len(results) == 6
        assert all(isinstance(r, StorageError) for r in results), results
        assert all(str(r) == "database write failed: writes refused by the test" for r in results)

        assert store.failure is None  # one failed write is no failure of the store
        backend.refuse_writes(False)
        await store.save_alerts([make_alert(7)])
        await store.save_nflog(nflog_entry("g", 5000.0))
        assert sorted(a.fingerprint for a in await store.load_alerts()) == [
            make_alert(0).fingerprint, make_alert(7).fingerprint,
        ]
        assert [e.group_key for e in await store.load_nflog(0.0)] == ["g"]


async def test_delete_alerts(backend):
    async with backend.opened() as store:
        await store.save_alerts([make_alert(i) for i in range(3)])
        commits = store.commits
        await store.delete_alerts([])
        assert store.commits == commits
        await store.delete_alerts([make_alert(0).fingerprint, make_alert(2).fingerprint, "unknown"])
    async with backend.opened() as store:
        assert await store.load_alerts() == [make_alert(1)]


async def test_writes_queued_when_the_store_closes_are_committed(backend):
    store = backend.store()
    await store.open()
    saves = [asyncio.create_task(store.save_alerts([make_alert(i)])) for i in range(5)]
    await asyncio.sleep(0)  # queued, not yet committed
    await asyncio.wait_for(store.close(), 10)
    assert [t.result() for t in saves] == [None] * 5
    async with backend.opened() as store:
        assert len(await store.load_alerts()) == 5


async def test_writes_after_close_are_refused(backend):
    store = backend.store()
    await store.open()
    await store.close()
    with pytest.raises(StorageError, match="closed"):
        await store.save_alerts([make_alert(1)])


# -- notification log ------------------------------------------------------------------------


async def test_nflog_round_trip_and_expiry(backend):
    async with backend.opened() as store:
        await store.save_nflog(nflog_entry("early", 100.0))
        await store.save_nflog(nflog_entry("late", 200.0))
        await store.save_nflog(nflog_entry("late", 300.0))  # replaces
    async with backend.opened() as store:
        got = {e.group_key: e for e in await store.load_nflog(0.0)}
        assert got == {"early": nflog_entry("early", 100.0), "late": nflog_entry("late", 300.0)}
        assert sorted(e.group_key for e in await store.load_nflog(99.9)) == ["early", "late"]
        # expires_at > now: an entry expiring exactly now is gone.
        assert [e.group_key for e in await store.load_nflog(100.0)] == ["late"]
        assert await store.load_nflog(300.0) == []

        await store.expire_nflog(100.0)
        assert [e.group_key for e in await store.load_nflog(0.0)] == ["late"]


async def test_a_delivery_is_its_log_entry_history_and_attempt_in_one_write(backend):
    entry = nflog_entry("g", 5000.0)
    detail = {"receiver": "r", "integration": "webhook[0]", "status": "firing"}
    notified = [HistoryEvent(at=4000.0 + i, alert_id=f"inc-{i}", fingerprint=f"{i:016x}", kind="notified",
                             actor="r", detail=detail) for i in range(2)]
    attempt = Attempt(at=4000.0, receiver="r", integration="webhook[0]", group_key="g", attempt=2,
                      status=None, latency=0.25, error="")
    async with backend.opened() as store:
        await store.save_delivery(entry, notified, attempt)
        await store.save_delivery(nflog_entry("h", 6000.0), [])  # no incidents, no attempt kept
    async with backend.opened() as store:
        assert {e.group_key: e for e in await store.load_nflog(0.0)} == {
            "g": entry, "h": nflog_entry("h", 6000.0)}
        assert [(a.group_key, a.attempt, a.latency) for a in await store.load_attempts()] == [("g", 2, 0.25)]
        for i, row in enumerate(notified):
            [got] = await store.load_history(row.alert_id)
            assert (got.kind, got.at, got.detail) == ("notified", 4000.0 + i, row.detail)


# -- callbacks handled -----------------------------------------------------------------------


async def test_callback_ids_survive_a_restart_by_source_and_id(backend):
    async with backend.opened() as store:
        assert await store.callback_seen("pagerduty", "E1") is None
        await store.save_callback_id("pagerduty", "E1", 100.0)
        await store.save_callback_id("pagerduty", "E1", 150.0)  # recorded already: the first time stays
        await store.save_callback_id("slack", "abc", 120.0)
    async with backend.opened() as store:
        assert await store.callback_seen("pagerduty", "E1") == 100.0
        assert await store.callback_seen("slack", "abc") == 120.0
        # The same id from another source is another callback.
        assert await store.callback_seen("slack", "E1") is None
        await store.forget_callback_id("pagerduty", "E1")
        assert await store.callback_seen("pagerduty", "E1") is None
        assert await store.callback_seen("slack", "abc") == 120.0


async def test_callback_ids_are_pruned_by_when_they_were_seen(backend):
    async with backend.opened() as store:
        for i, at in enumerate((100.0, 200.0, 300.0)):
            await store.save_callback_id("pagerduty", f"E{i}", at)
        await store.expire_callback_ids(200.0)  # before 200: only the first goes
        assert [await store.callback_seen("pagerduty", f"E{i}") for i in range(3)] == [None, 200.0, 300.0]
        await store.expire_callback_ids(1000.0)
        assert [await store.callback_seen("pagerduty", f"E{i}") for i in range(3)] == [None, None, None]


async def test_a_database_of_the_previous_schema_gets_the_callback_table(tmp_path):
    path = tmp_path / "t.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.executescript("BEGIN;" + "".join(MIGRATIONS[:6]) + "PRAGMA user_version=6; COMMIT;")
        db.execute("INSERT INTO silences (id, body, ends_at) VALUES ('s', x'00', 1.0)")
    async with opened(path) as store:
        await store.save_callback_id("slack", "abc", 1.0)
        assert await store.callback_seen("slack", "abc") == 1.0
    assert user_version(path) == len(MIGRATIONS)
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT id FROM silences").fetchall() == [("s",)]


async def test_an_upgraded_database_keeps_its_notification_log_in_key_order(tmp_path):
    """Migration 12: the notification log written before is read back whole, from a table
    that is its key's order (no second copy of the key in an index)."""
    from contextlib import closing

    from tocsin.store import rows
    from tocsin.store.schema import MIGRATIONS

    path = tmp_path / "t.db"
    entries = [nflog_entry("g1", 5000.0), nflog_entry("g2", 6000.0)]
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.executescript("BEGIN;" + "".join(MIGRATIONS[:11]) + "PRAGMA user_version=11; COMMIT;")
        db.executemany(rows.NFLOG_SQL, [rows.nflog_row(e) for e in entries])
    store = SQLiteStore(path)
    await store.open()
    try:
        assert sorted(await store.load_nflog(0.0), key=lambda e: e.group_key) == entries
        await store.save_nflog(nflog_entry("g1", 7000.0))  # replaces its row, by its key
        assert sorted(e.expires_at for e in await store.load_nflog(0.0)) == [6000.0, 7000.0]
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
        (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'nflog'").fetchone()
        assert "WITHOUT ROWID" in sql
        assert db.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'nflog' AND type = 'index'"
                          ).fetchall() == []
