"""What only the PostgreSQL store has: a server that goes away and comes back, several hosts in
one URL, replicas migrating one database at once, a server turned read-only."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
import structlog

from tests.unit.store.test_store import make_alert
from tocsin.store import StorageError
from tocsin.store.pgschema import MIGRATIONS, migrate, schema_version
from tocsin.store.pgsession import INSTANCE_LOCK, session_name
from tocsin.store.postgres import PostgresStore, numbered
from tocsin.testing import wait_until
from tocsin.testing.process import free_port


async def fingerprints(store: PostgresStore) -> list[str]:
    return sorted(a.fingerprint for a in await store.load_alerts())


def test_placeholders_are_numbered():
    assert numbered("SELECT a FROM t WHERE b = ? AND c IN (?,?)") == (
        "SELECT a FROM t WHERE b = $1 AND c IN ($2,$3)")
    assert numbered("DELETE FROM t") == "DELETE FROM t"


async def test_a_server_gone_refuses_writes_and_they_resume_when_it_is_back(own_postgres):
    store = PostgresStore(own_postgres.create_database())
    await store.open()
    try:
        await store.save_alerts([make_alert(1)])
        own_postgres.pause()
        with pytest.raises(StorageError, match="cannot be reached"):
            await store.save_alerts([make_alert(2)])
        assert "cannot be reached" in (store.failure or "")
        assert store.needs_restart is False
        with pytest.raises(StorageError, match="cannot be reached"):  # refused at once meanwhile
            await store.save_alerts([make_alert(3)])

        own_postgres.resume()
        await wait_until(lambda: store.failure is None, 15, message="the store to find the server back")
        await store.save_alerts([make_alert(4)])
        assert await fingerprints(store) == [make_alert(1).fingerprint, make_alert(4).fingerprint]
    finally:
        await store.close()


async def test_an_outage_shows_with_nothing_written_and_its_end_too(own_postgres):
    store = PostgresStore(own_postgres.create_database())
    await store.open()
    try:
        own_postgres.pause("immediate")  # as a crash
        await wait_until(lambda: store.failure is not None, 15, message="the probe to see the server gone")
        own_postgres.resume()
        await wait_until(lambda: store.failure is None, 15, message="the probe to see the server back")
        # The pool's connections from before were replaced: the first write goes through.
        await store.save_alerts([make_alert(1)])
        assert await fingerprints(store) == [make_alert(1).fingerprint]
    finally:
        await store.close()


async def test_a_server_turned_read_only_is_an_outage_until_a_writable_one_answers(own_postgres):
    url = own_postgres.create_database() + "?target_session_attrs=read-write"
    store = PostgresStore(url)
    await store.open()
    try:
        await store.save_alerts([make_alert(1)])
        # What a primary demoted to a standby looks like to its clients.
        own_postgres.sql("ALTER SYSTEM SET default_transaction_read_only = on")
        own_postgres.sql("SELECT pg_reload_conf()")
        await wait_until(lambda: store.failure is not None, 15,
                         message="the store to refuse a read-only server")
        with pytest.raises(StorageError, match="cannot be reached"):
            await store.save_alerts([make_alert(2)])

        own_postgres.sql("ALTER SYSTEM RESET default_transaction_read_only")
        own_postgres.sql("SELECT pg_reload_conf()")
        await wait_until(lambda: store.failure is None, 15, message="the store to find a writable server")
        await store.save_alerts([make_alert(3)])
        assert await fingerprints(store) == [make_alert(1).fingerprint, make_alert(3).fingerprint]
    finally:
        await store.close()


async def test_a_url_listing_a_dead_host_first_reaches_the_live_one(tocsin_postgres, tocsin_postgres_url):
    live = f"127.0.0.1:{tocsin_postgres.port}"
    url = tocsin_postgres_url.replace(live, f"127.0.0.1:{free_port()},{live}")
    url += "?target_session_attrs=read-write"
    store = PostgresStore(url)
    await store.open()
    try:
        await store.save_alerts([make_alert(1)])
        await asyncio.sleep(1.5)  # the probe ran, on a connection of its own, through the same URL
        assert store.failure is None
    finally:
        await store.close()
    again = PostgresStore(tocsin_postgres_url)
    await again.open()
    try:
        assert await fingerprints(again) == [make_alert(1).fingerprint]
    finally:
        await again.close()


async def test_migrations_started_together_on_one_new_database_run_once(tocsin_postgres_url):
    """What replicas starting together do: the advisory lock puts them one after the other."""
    conns = [await asyncpg.connect(tocsin_postgres_url) for _ in range(3)]
    try:
        with structlog.testing.capture_logs() as logs:
            await asyncio.gather(*(migrate(c, "db") for c in conns))
        assert [e["version"] for e in logs if e["event"] == "schema migrated"] == list(
            range(1, len(MIGRATIONS) + 1))
        assert await schema_version(conns[2]) == len(MIGRATIONS)
    finally:
        for c in conns:
            await c.close()


async def test_a_second_tocsin_on_the_same_database_stops_at_once(tocsin_postgres_url):
    """As on the same SQLite file: two would both notify. It names the first, writes nothing,
    and the first goes on; once the first has closed, the database is free."""
    first, second = PostgresStore(tocsin_postgres_url), PostgresStore(tocsin_postgres_url)
    await first.open()
    try:
        with pytest.raises(StorageError) as exc:
            await second.open()
        assert str(exc.value) == (
            f"{tocsin_postgres_url} is in use by another tocsin ({session_name()} from 127.0.0.1); "
            "each instance needs its own database")
        await second.close()
        await first.save_alerts([make_alert(1)])
    finally:
        await first.close()
    await second.open()
    try:
        assert await fingerprints(second) == [make_alert(1).fingerprint]
    finally:
        await second.close()


async def test_a_server_that_cannot_be_reached_at_open_is_a_storage_error_without_the_password():
    store = PostgresStore(f"postgresql://tocsin:sekrit@127.0.0.1:{free_port()}/tocsin")
    with pytest.raises(StorageError) as exc:
        await store.open()
    assert "cannot connect to postgresql://tocsin:***@127.0.0.1:" in str(exc.value)
    assert "sekrit" not in str(exc.value)
    await store.close()


async def test_a_tocsin_whose_lock_went_to_another_refuses_writes_until_it_is_free(
        tocsin_postgres, tocsin_postgres_url, monkeypatch):
    """Its session cut (a network cut the server noticed), and another tocsin started
    meanwhile: rather than both notifying, the first refuses writes, naming the other."""
    # Room to cut in between probes: on a loaded machine, terminating the session and taking the
    # lock took over 2 s, and the first had retaken its own lock by then.
    monkeypatch.setattr("tocsin.store.postgres.CHECK_INTERVAL", 6.0)
    first = PostgresStore(tocsin_postgres_url)
    await first.open()
    other = None
    try:
        database = tocsin_postgres_url.rsplit("/", 1)[1]
        tocsin_postgres.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname ="
                            f" '{database}' AND application_name = '{session_name()}'")
        other = await asyncpg.connect(tocsin_postgres_url,
                                      server_settings={"application_name": "tocsin 1@other"})
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", INSTANCE_LOCK)
        await wait_until(lambda: "in use" in (first.failure or ""), 20,
                         message="the first to find its lock taken")
        assert "is in use by another tocsin (tocsin 1@other from 127.0.0.1)" in (first.failure or "")
        with pytest.raises(StorageError, match="in use by another tocsin"):
            await first.save_alerts([make_alert(1)])

        await other.close()
        other = None
        await wait_until(lambda: first.failure is None, 20, message="the first to take its lock back")
        await first.save_alerts([make_alert(2)])
    finally:
        if other is not None:
            await other.close()
        await first.close()


async def test_a_tocsin_started_right_after_another_stopped_finds_the_lock_free(tocsin_postgres_url):
    """A stop lets go of the instance lock before it returns: the server frees a lock only
    once it has noticed its session ended, so a restart could find its own last run's lock
    still held ("in use by another tocsin") when the stop only closed the socket."""
    for i in range(20):
        store = PostgresStore(tocsin_postgres_url)
        await store.open()
        try:
            await store.save_alerts([make_alert(i)])
        finally:
            await store.close()
