"""``tocsin storage copy``: a single host's SQLite state into PostgreSQL and back, every row of
every table equal; a target with records refused unless --force; the tables copied are all
the schemas hold."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
from contextlib import closing

import pytest

from tests.unit.store.test_store import make_alert, nflog_entry
from tests.unit.store.test_store_records import attempt, dead_letter, event, incident, run
from tocsin.cli.common import CLIError
from tocsin.cli.storage import storage_copy
from tocsin.core.records import HistoryEvent, Silence, SilenceMatcher
from tocsin.store import ConfigLoad, HeartbeatSeen
from tocsin.store.postgres import PostgresStore
from tocsin.store.rows import TABLES
from tocsin.store.sql import SQLStore
from tocsin.store.sqlite import SQLiteStore

#: An incident id as tocsin makes them (time, fingerprint, random): its notice is a row.
NOTIFIED_ID = "018f00000000" + "0123456789abcdef" + "00aa"


async def fill(store: SQLStore) -> None:
    """One or more rows in every table."""
    await store.open()
    try:
        await store.save(alerts=[make_alert(i) for i in range(3)],
                         incidents=[incident("i1", 10.0),
                                    incident("i2", 20.0, state="resolved", resolved_at=30.0)],
                         history=[event("i1", 10.0, "fired", source="api"), event("i2", 20.0, "fired"),
                                  event("i2", 30.0, "resolved", actor="ana")],
                         runs=[run("r1", 10.0), run("r2", 20.0, state="pending_approval")])
        await store.save_nflog(nflog_entry("g1", 5000.0))
        notified = {"receiver": "team", "integration": "webhook[0]"}
        await store.save_delivery(nflog_entry("g2", 6000.0), [
            HistoryEvent(at=40.0, alert_id=NOTIFIED_ID, fingerprint=NOTIFIED_ID[12:28], kind="notified",
                         actor="team", detail={**notified, "status": "firing"})])
        await store.save_silences([Silence(id="s1", matchers=(SilenceMatcher("alertname", "A"),),
                                           starts_at=1.0, ends_at=9.0, created_by="ana", comment="c")])
        for n in range(4):
            await store.save_attempt(attempt(10.0 + n, error="" if n else "timeout",
                                             status=200 if n else None))
        for i in (1, 2):
            await store.save_dead_letter(dead_letter(i))
        await store.save_callback_id("slack", "abc", 100.0)
        await store.save_callback_id("pagerduty", "E1", 200.0)
        await store.save_heartbeats([
            HeartbeatSeen(name="w", key='{"p":"a"}', labels={"p": "a"}, last_seen=5.0),
            HeartbeatSeen(name="cron", key="", missing=True)])
        await store.save_config_load(ConfigLoad(hash="0123abcd", loaded_at=1.0, reason="start", routing="{}"))
    finally:
        await store.close()


async def rows_of(store: SQLStore) -> dict[str, list[tuple]]:
    await store.open()
    try:
        out = {}
        for table in TABLES:
            found = [tuple(r) for chunk in [c async for c in store.export_rows(table)] for r in chunk]
            out[table] = sorted(found, key=repr)
        return out
    finally:
        await store.close()


def test_sqlite_into_postgresql_and_back_every_row_equal(tmp_path, tocsin_postgres_url):
    db = tmp_path / "tocsin.db"
    asyncio.run(fill(SQLiteStore(db)))
    before = asyncio.run(rows_of(SQLiteStore(db)))
    assert all(before.values()), before  # every table has rows to copy

    printed = io.StringIO()
    assert storage_copy(f"sqlite:{db}", tocsin_postgres_url, out=printed) == 0
    out = printed.getvalue()
    assert f"copied {db} into {tocsin_postgres_url}" in out
    assert "history           3\n" in out  # the table of counts
    assert f"total             {sum(len(r) for r in before.values())}" in out
    assert asyncio.run(rows_of(PostgresStore(tocsin_postgres_url))) == before

    back = tmp_path / "back.db"
    back.touch()
    printed = io.StringIO()
    assert storage_copy(tocsin_postgres_url, str(back), output="json", out=printed) == 0
    copied = json.loads(printed.getvalue())
    assert copied["copied"] == {table: len(found) for table, found in before.items()}
    assert asyncio.run(rows_of(SQLiteStore(back))) == before


def test_records_read_back_the_same_and_new_ids_come_after_the_copied(tmp_path, tocsin_postgres_url):
    db = tmp_path / "tocsin.db"
    asyncio.run(fill(SQLiteStore(db)))
    assert storage_copy(str(db), tocsin_postgres_url, out=io.StringIO()) == 0

    async def read(store: SQLStore) -> tuple:
        await store.open()
        try:
            return (sorted(await store.load_alerts(), key=lambda a: a.fingerprint),
                    await store.load_history("i2"), await store.load_attempts(),
                    await store.load_dead_letters(),
                    await store.load_silences(), await store.load_nflog(0.0), await store.query_runs(),
                    await store.callback_seen("slack", "abc"), await store.load_open_incidents())
        finally:
            await store.close()

    assert asyncio.run(read(PostgresStore(tocsin_postgres_url))) == asyncio.run(read(SQLiteStore(db)))

    async def add_more() -> tuple[list[int], list[int]]:
        store = PostgresStore(tocsin_postgres_url)
        await store.open()
        try:
            await store.save(history=[event("i2", 40.0, "note")])
            await store.save_attempt(attempt(50.0))
            return [h.id for h in await store.load_history("i2")], [a.id for a in await store.load_attempts()]
        finally:
            await store.close()

    history_ids, attempt_ids = asyncio.run(add_more())
    assert history_ids[-1] > max(history_ids[:-1])
    assert attempt_ids[0] > max(attempt_ids[1:])


def test_a_target_with_records_is_refused_unless_forced(tmp_path, tocsin_postgres_url):
    db = tmp_path / "tocsin.db"
    asyncio.run(fill(SQLiteStore(db)))
    assert storage_copy(str(db), tocsin_postgres_url, out=io.StringIO()) == 0
    with pytest.raises(CLIError) as exc:
        storage_copy(str(db), tocsin_postgres_url, out=io.StringIO())
    assert str(exc.value).startswith("the target holds records already (3 alerts, 2 nflog,")
    assert str(exc.value).endswith("--force deletes them first")
    assert storage_copy(str(db), tocsin_postgres_url, force=True, out=io.StringIO()) == 0
    assert asyncio.run(rows_of(PostgresStore(tocsin_postgres_url))) == asyncio.run(rows_of(SQLiteStore(db)))


def test_what_cannot_be_copied_says_why(tmp_path, capsys):
    with pytest.raises(CLIError, match="no SQLite database at"):
        storage_copy(str(tmp_path / "missing.db"), "postgresql://u@127.0.0.1:1/x")
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(CLIError, match="the same database"):
        storage_copy(f"sqlite:{tmp_path}/a.db", str(tmp_path / "a.db"))
    with pytest.raises(CLIError, match="unknown storage scheme"):
        storage_copy("mysql://x/y", str(tmp_path / "a.db"))
    (tmp_path / "a.db").touch()
    with pytest.raises(CLIError, match=r"cannot connect to postgresql://u:\*\*\*@127.0.0.1:1/x"):
        storage_copy(str(tmp_path / "a.db"), "postgresql://u:pw@127.0.0.1:1/x")


def test_the_tables_copied_are_every_table_of_both_schemas(tmp_path, tocsin_postgres, tocsin_postgres_url):
    db = tmp_path / "t.db"
    asyncio.run(fill(SQLiteStore(db)))
    with closing(sqlite3.connect(db)) as conn:
        # journal_mark: the database's own, as the journal is (a copy gets a mark of its own)
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'journal_mark'")]
        sqlite_tables = {n: tuple(c[1] for c in conn.execute(f"PRAGMA table_info({n})")) for n in names}
    assert sqlite_tables == TABLES

    asyncio.run(fill(PostgresStore(tocsin_postgres_url)))
    listed = tocsin_postgres.sql(
        "SELECT table_name, string_agg(column_name, ',' ORDER BY ordinal_position)"
        " FROM information_schema.columns WHERE table_schema = 'public'"
        " AND table_name NOT IN ('schema_version', 'leader_lease', 'replicas')"  # the cluster's, not state
        " AND table_name NOT IN (SELECT table_name FROM information_schema.views)"  # incidents: a view
        " GROUP BY table_name",
        tocsin_postgres_url.rsplit("/", 1)[1])
    pg_tables = dict(line.split("|") for line in listed.split())
    assert {t: tuple(c.split(",")) for t, c in pg_tables.items()} == TABLES
