"""Replicas on PostgreSQL: a follower that takes the lease starts notifying from the state
the change feed kept warm (alerts, silences, incidents are not read again); it reads only
what the feed does not keep (the notification log among them), so nothing the old leader
sent is sent twice and what is pending is sent."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from tocsin.core.clock import FakeClock
from tocsin.store.pgfeed import Feed
from tocsin.store.postgres import PostgresStore
from tocsin.testing import advance, api_client, wait_until

from .incidents.test_lifecycle import CONFIG, T0, event, paths

WARM = ("load_alerts", "load_open_incidents", "load_silences")
UNFED = ("load_nflog", "load_runs", "load_dead_letters", "load_heartbeats")


def count_loads(store: Any) -> dict[str, int]:
    """How many times each of the store's loads is called from now on."""
    calls = dict.fromkeys(WARM + UNFED, 0)

    def counted(name: str, load: Callable[..., Any]) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return await load(*args, **kwargs)
        return call

    for name in calls:
        setattr(store, name, counted(name, getattr(store, name)))
    return calls


@pytest.mark.parametrize("feed_live", [True, False], ids=["feed-live", "feed-not-live"])
async def test_a_follower_takes_over_warm_and_notifies_once(tmp_path, server, tocsin_postgres_url,
                                                            monkeypatch, feed_live):
    """The leader goes; the follower takes over from what it holds. If its change feed is
    not live at that moment (its session lost, or not caught up since it opened), it reads
    the alerts, silences and incidents again instead."""
    config = CONFIG.format(url=server.url) + f"storage:\n  url: {tocsin_postgres_url}\n  replicas: true\n"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    # Two replicas in one process: named apart (by default, by process).
    store_a, store_b = (PostgresStore(tocsin_postgres_url, replicas=True, name=n) for n in "ab")
    async with contextlib.AsyncExitStack() as stack:
        client_a, a = await stack.enter_async_context(
            api_client(config, tmp_path / "a", clock=FakeClock(T0), store=store_a))
        await wait_until(lambda: a.leading, timeout=15)
        async with api_client(config, tmp_path / "b", clock=FakeClock(T0), store=store_b) as (client_b, b):
            sent = await event(client_a, type="DBDown", severity="critical", labels={"team": "db"})
            await advance(a, 30)
            assert paths(server) == ["/team"]
            await wait_until(lambda: b.lifecycle.get(sent["fingerprint"]) is not None
                             and b.alerts.get(sent["fingerprint"]) is not None, timeout=5)
            calls = count_loads(b.store)
            if not feed_live:
                monkeypatch.setattr(Feed, "live", property(lambda _: False))
            assert a.leadership is not None
            await stack.aclose()  # the leader goes (its loops stopped) ...
            a.leadership.lease.drop()  # ... and its lease session ends: the follower takes the lease
            await wait_until(lambda: b.leading, timeout=15)
            # Held warm, not read again (unless the feed is not live).
            assert {n: calls[n] for n in WARM} == dict.fromkeys(WARM, 0 if feed_live else 1)
            assert {n: calls[n] for n in UNFED} == dict.fromkeys(UNFED, 1)
            await advance(b, 60)
            assert paths(server) == ["/team"]  # recorded by the old leader: not sent again
            later = await event(client_b, type="DiskFull", severity="warning", labels={"team": "ops"})
            await advance(b, 30)
            assert paths(server) == ["/team", "/team"]
            assert b.lifecycle.get(later["fingerprint"]) is not None
            await advance(b, 240)  # level 2 of DBDown's escalation, due at 5m, is the new leader's
            assert paths(server) == ["/team", "/team", "/lead"]


async def test_an_alert_deleted_unheard_leaves_a_follower_at_its_next_whole_read(tmp_path, server,
                                                                                  tocsin_postgres_url):
    """An alert deleted while a follower's feed was down (no notification reached it) leaves
    the follower when the feed's session opens again and reads everything; an alert changed
    a moment ago that the read may have missed is kept."""
    import asyncpg

    config = CONFIG.format(url=server.url) + f"storage:\n  url: {tocsin_postgres_url}\n  replicas: true\n"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    store_a, store_b = (PostgresStore(tocsin_postgres_url, replicas=True, name=n) for n in "ab")
    clock_a, clock_b = FakeClock(T0), FakeClock(T0)
    async with api_client(config, tmp_path / "a", clock=clock_a, store=store_a) as (client_a, a):
        await wait_until(lambda: a.leading, timeout=15)
        async with api_client(config, tmp_path / "b", clock=clock_b, store=store_b) as (_, b):
            old = (await event(client_a, type="Old", severity="warning"))["fingerprint"]
            await wait_until(lambda: b.alerts.get(old) is not None, timeout=5)
            conn = await asyncpg.connect(tocsin_postgres_url)
            try:  # deleted with the feed's trigger off: as if b's feed session were down
                await conn.execute("SET session_replication_role = replica")
                await conn.execute("DELETE FROM alerts WHERE fingerprint = $1", old)
            finally:
                await conn.close()
            assert b.leadership is not None
            await b.leadership.catch_up()
            assert b.alerts.get(old) is not None  # changed a moment ago: the read may have missed it
            clock_b.advance(120)
            await b.leadership.catch_up()
            assert b.alerts.get(old) is None
            clock_a.advance(120)
            assert a.leadership is not None
            await a.leadership.catch_up()
            assert a.alerts.get(old) is not None  # a leader forgets only what it deletes itself
