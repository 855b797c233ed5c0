"""The leader lease of replicas on one PostgreSQL database: one leader at a time, an epoch
that only grows, fencing of a stale leader's notification log writes, the replicas seen."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from tests.unit.store.test_store import nflog_entry
from tocsin.config.server import StorageConfig
from tocsin.store import Attempt
from tocsin.store.factory import make_store
from tocsin.store.pglease import REJOIN_GRACE, Fenced, Lease, keepalives, sure_for
from tocsin.store.postgres import PostgresStore
from tocsin.testing import wait_until


async def _kill_session_of(url: str, name: str) -> None:
    """What a kill -9 of the replica does to its lease session, seen from the server."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE application_name = $1", f"{name} (lease)")
    finally:
        await conn.close()


async def test_one_replica_leads_and_the_next_takes_a_larger_epoch(tocsin_postgres_url):
    store = PostgresStore(tocsin_postgres_url)
    await store.open()  # the schema
    await store.close()
    a, b = Lease(tocsin_postgres_url, name="a"), Lease(tocsin_postgres_url, name="b")
    try:
        assert await a.try_lead() is True
        assert await b.try_lead() is False
        assert await b.try_lead() is False  # followers retry; still taken
        assert await a.try_lead() is True   # the leader goes on leading
        first = a.epoch
        assert first is not None
        assert first >= 1
        assert (await b.current())[:2] == (first, "a")
        a.drop()  # a stop, or the process gone
        await wait_until(b.try_lead, 5.0, 0.05, message="b leads")  # once the server let go
        assert b.epoch is not None
        assert b.epoch > first
        assert (await b.current())[1] == "b"
    finally:
        a.drop()
        b.drop()


async def test_a_leader_whose_session_died_finds_out_and_follows(tocsin_postgres_url):
    store = PostgresStore(tocsin_postgres_url)
    await store.open()
    await store.close()
    a, b = Lease(tocsin_postgres_url, name="a"), Lease(tocsin_postgres_url, name="b")
    try:
        assert await a.try_lead()
        await _kill_session_of(tocsin_postgres_url, "a")
        assert await b.try_lead()
        assert await a.check() is False
        assert a.leading is False
        assert await a.try_lead() is False  # b leads now
    finally:
        a.drop()
        b.drop()


async def test_a_leader_whose_session_was_lost_leads_on_if_nobody_took_over(tocsin_postgres_url):
    """The server restarted (every session ended): the leader takes the lock back with its
    epoch; a follower that lost its session too waits REJOIN_GRACE before it tries."""
    store = PostgresStore(tocsin_postgres_url)
    await store.open()
    await store.close()
    a, b = Lease(tocsin_postgres_url, name="a"), Lease(tocsin_postgres_url, name="b")
    try:
        assert await a.try_lead()
        assert await b.try_lead() is False
        epoch = a.epoch
        await _kill_session_of(tocsin_postgres_url, "a")
        await _kill_session_of(tocsin_postgres_url, "b")
        await wait_until(lambda: all(x._conn is None or x._conn.is_closed() for x in (a, b)), 5.0, 0.01,
                         message="both sessions ended")
        assert await b.try_lead() is False  # back, but holding off: the lock is free
        assert await a.try_lead() is True
        assert a.epoch == epoch
        assert (await b.current())[:2] == (epoch, "a")
        await asyncio.sleep(REJOIN_GRACE)
        assert await b.try_lead() is False  # a holds it again
    finally:
        a.drop()
        b.drop()


async def test_a_stale_leader_cannot_record_a_notification(tocsin_postgres_url):
    old = PostgresStore(tocsin_postgres_url)
    await old.open()
    a, b = Lease(tocsin_postgres_url, name="a"), Lease(tocsin_postgres_url, name="b")
    try:
        assert await a.try_lead()
        old.epoch = a.epoch
        refused: list[bool] = []
        old.on_fenced = lambda: refused.append(True)
        await old.save_nflog(nflog_entry("g1", time.time() + 3600))  # the leader records
        # a is paused (its session lost) and b takes over, before a notices:
        await _kill_session_of(tocsin_postgres_url, "a")
        assert await b.try_lead()
        with pytest.raises(Fenced, match="fenced: epoch"):
            await old.save_nflog(nflog_entry("g2", time.time() + 3600))
        with pytest.raises(Fenced, match="fenced: epoch"):  # a delivery's write is fenced whole
            await old.save_delivery(nflog_entry("g3", time.time() + 3600), [], Attempt(
                at=time.time(), receiver="r", integration="webhook[0]", group_key="g3", attempt=1,
                status=None, latency=0.1, error=""))
        assert not [a for a in await old.load_attempts() if a.group_key == "g3"]
        assert refused == [True, True]  # the replica is told, and steps down
        assert old.failure is None  # the database is fine: this replica is not the leader
        keys = sorted(e.group_key for e in await old.load_nflog(time.time()))
        assert keys == ["g1"]
        old.epoch = b.epoch  # the new leader's epoch passes
        await old.save_nflog(nflog_entry("g2", time.time() + 3600))
        assert sorted(e.group_key for e in await old.load_nflog(time.time())) == ["g1", "g2"]
    finally:
        a.drop()
        b.drop()
        await old.close()


async def test_replicas_register_and_are_listed_while_seen(tocsin_postgres_url):
    store = PostgresStore(tocsin_postgres_url)
    await store.open()
    await store.close()
    a, b = Lease(tocsin_postgres_url, name="a"), Lease(tocsin_postgres_url, name="b")
    try:
        await a.register("10.0.0.1:9093", "hash-a", 100.0)
        await b.register("10.0.0.2:9093", "hash-b", 200.0)
        await a.register("10.0.0.1:9094", "hash-a2", 100.0)  # seen again, moved
        seen = await b.replicas(60.0)
        assert [(r.name, r.address, r.config_hash, r.started_at) for r in seen] == [
            ("a", "10.0.0.1:9094", "hash-a2", 100.0), ("b", "10.0.0.2:9093", "hash-b", 200.0)]
        assert await b.replicas(-60.0) == []  # none seen in the future
    finally:
        a.drop()
        b.drop()


def test_the_lease_timeout_sets_the_keepalives_that_end_a_vanished_leader():
    assert keepalives(10) == {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "1",
                              "tcp_keepalives_count": "3"}
    assert keepalives(60) == {"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10",
                              "tcp_keepalives_count": "3"}


def test_storage_replicas_and_lease_timeout_in_the_config(tocsin_postgres_url):
    store = make_store(StorageConfig(url=tocsin_postgres_url, replicas=True, lease_timeout=30))
    lease = store.lease()
    assert lease is not None
    assert lease.keepalives["tcp_keepalives_idle"] == "15"
    assert make_store(StorageConfig(url=tocsin_postgres_url)).lease() is None
    with pytest.raises(ValueError, match="lease_timeout"):
        StorageConfig(url=tocsin_postgres_url, replicas=True, lease_timeout=1)


async def test_the_lease_session_carries_the_keepalives(tocsin_postgres_url):
    store = PostgresStore(tocsin_postgres_url)
    await store.open()
    await store.close()
    lease = Lease(tocsin_postgres_url, name="a", timeout=20)
    try:
        assert await lease._fetchval("SHOW tcp_keepalives_idle") == "10"
        assert await lease._fetchval("SHOW tcp_keepalives_interval") == "3"
    finally:
        lease.drop()


def test_a_leader_is_sure_for_less_than_the_server_takes_to_end_its_session():
    """The server cannot end a silent session before its keepalives' idle time and three
    probes have passed; a leader holds its sends sooner, and not before two checks."""
    for timeout in (3, 4, 5, 7, 10, 30, 61, 3600):
        ka = keepalives(timeout)
        ended = int(ka["tcp_keepalives_idle"]) + 3 * int(ka["tcp_keepalives_interval"])
        assert 2.0 <= sure_for(timeout) < ended, timeout
    assert sure_for(10) == 5.0


async def test_a_leader_is_sure_while_its_session_holds_the_lock_and_was_checked_lately(tocsin_postgres_url):
    store = PostgresStore(tocsin_postgres_url)
    await store.open()
    await store.close()
    a, b = Lease(tocsin_postgres_url, name="a", timeout=10), Lease(tocsin_postgres_url, name="b")
    try:
        assert a.sure() is False  # follows
        assert await a.try_lead()
        assert a.sure() is True
        assert b.sure() is False
        a.confirmed -= a.sure_for  # its last check as long ago as the server's silence
        assert a.sure() is False
        assert await a.check()
        assert a.sure() is True
        # Its session ended by the server: not sure from the moment it sees that.
        await _kill_session_of(tocsin_postgres_url, "a")
        await wait_until(lambda: not a.sure(), 5.0, 0.02, message="a is unsure")
        assert a.leading  # in doubt, not deposed: nobody else took the lease
        assert await a.check()  # a new session takes the lock again
        assert a.sure() is True
    finally:
        a.drop()
        b.drop()
