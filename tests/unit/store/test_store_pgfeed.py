"""The change feed of replicas on one PostgreSQL database (LISTEN/NOTIFY): what one replica
commits to alerts, incidents and silences reaches the others' feeds, row by row; its own
writes, and writes of a tocsin that is not a replica, do not."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
import pytest

from tests.unit.store.test_store import make_alert
from tests.unit.store.test_store_records import incident
from tocsin.core.records import Silence, SilenceMatcher
from tocsin.store.pgfeed import Changes, Feed, parse
from tocsin.store.postgres import PostgresStore
from tocsin.testing import wait_until


def test_a_payload_is_table_origin_and_key():
    assert parse("alerts\ttocsin 1@h\tabc") == ("alerts", "tocsin 1@h", "abc")
    assert parse("silences\t\tid\twith\ttabs") == ("silences", "", "id\twith\ttabs")
    assert parse("nonsense") is None


@pytest.fixture
async def replicas(tocsin_postgres_url):
    """Stores of two replicas, ``a`` and ``b``, and ``b``'s feed: the changes it read, and
    how many times it read everything."""
    a = PostgresStore(tocsin_postgres_url, replicas=True, name="a")
    b = PostgresStore(tocsin_postgres_url, replicas=True, name="b")
    await a.open()
    await b.open()
    feed = b.feed()
    assert isinstance(feed, Feed)
    seen: list[Changes] = []
    resyncs: list[int] = []

    async def resync() -> None:
        resyncs.append(1)

    task = asyncio.create_task(feed.run(resync, seen.append))
    await wait_until(lambda: bool(resyncs), 5.0, 0.02, message="the feed listens")
    yield a, b, seen, resyncs
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await a.close()
    await b.close()


def _alerts(seen: list[Changes]) -> list[str]:
    return [x.fingerprint for c in seen for x in c.alerts]


async def test_what_another_replica_commits_reaches_the_feed(replicas):
    a, b, seen, _ = replicas
    await b.save(alerts=[make_alert(9)])  # its own: not read back
    await a.save(alerts=[make_alert(1), make_alert(2)])
    await wait_until(lambda: len(_alerts(seen)) >= 2, 5.0, 0.01, message="a's alerts on b's feed")
    assert sorted(_alerts(seen)) == [make_alert(1).fingerprint, make_alert(2).fingerprint]
    await a.save(incidents=[incident("i1", 10.0)])
    await wait_until(lambda: any(c.incidents for c in seen), 5.0, 0.01, message="the incident")
    assert [i.id for c in seen for i in c.incidents] == ["i1"]
    silence = Silence(id="s1", matchers=(SilenceMatcher("alertname", "A"),), starts_at=1.0,
                      ends_at=9.0, created_by="ana", comment="c")
    await a.save_silences([silence])
    await wait_until(lambda: any(c.silences for c in seen), 5.0, 0.01, message="the silences")
    assert [s.id for c in seen for s in c.silences or ()] == ["s1"]
    await a.delete_alerts([make_alert(1).fingerprint])
    await wait_until(lambda: any(c.gone for c in seen), 5.0, 0.01, message="the deleted alert")
    assert [fp for c in seen for fp in c.gone] == [make_alert(1).fingerprint]
    assert make_alert(9).fingerprint not in _alerts(seen)
    # Changed again: read again, as it is now.
    changed = msgspec.structs.replace(make_alert(2), ends_at=5000.0)
    await a.save(alerts=[changed])
    await wait_until(lambda: changed in [x for c in seen for x in c.alerts], 5.0, 0.01,
                     message="the changed alert")


async def test_a_tocsin_that_is_no_replica_notifies_nothing(replicas, tocsin_postgres_url):
    a, _, seen, _ = replicas
    await a.close()  # one at a time
    single = PostgresStore(tocsin_postgres_url)  # no replicas: no origin, no notification
    await single.open()
    try:
        await single.save(alerts=[make_alert(3)])
    finally:
        await single.close()
    await a.open()
    await a.save(alerts=[make_alert(4)])  # after it, in order
    await wait_until(lambda: bool(_alerts(seen)), 5.0, 0.01, message="a's alert")
    assert _alerts(seen) == [make_alert(4).fingerprint]


async def test_a_lost_session_is_opened_again_and_everything_read_once_more(replicas, tocsin_postgres_url):
    a, _, seen, resyncs = replicas
    import asyncpg

    conn = await asyncpg.connect(tocsin_postgres_url)
    try:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE application_name = 'b (feed)'")
    finally:
        await conn.close()
    await wait_until(lambda: len(resyncs) >= 2, 10.0, 0.05, message="the feed listens again")
    await a.save(alerts=[make_alert(5)])
    await wait_until(lambda: bool(_alerts(seen)), 5.0, 0.01, message="a's alert after")


async def test_an_incident_its_alerts_row_implies_reaches_the_feed_with_the_alert(replicas):
    """A fresh alert's incident has no row: a follower takes it from the alert's row; once
    acknowledged it is a row, and reaches the feed as one."""
    from tests.unit.store.test_store_implied import alert, opened
    from tocsin.core.records import ACKNOWLEDGED

    a, _, seen, _ = replicas
    fresh = alert()
    inc = opened(fresh)
    await a.save(alerts=[fresh], incidents=[inc])
    await wait_until(lambda: any(c.incidents for c in seen), 5.0, 0.01, message="the implied incident")
    assert [i for c in seen for i in c.incidents] == [inc]
    assert [x for c in seen for x in c.alerts] == [fresh]
    seen.clear()
    acked = msgspec.structs.replace(inc, state=ACKNOWLEDGED, acknowledged_at=120.0, acknowledged_by="ann")
    await a.save(incidents=[acked])
    await wait_until(lambda: acked in [i for c in seen for i in c.incidents], 5.0, 0.01,
                     message="the acknowledged incident, a row now")
    assert inc not in [i for c in seen for i in c.incidents]  # the alert row, read again, implies none
