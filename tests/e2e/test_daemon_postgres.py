"""The daemon on PostgreSQL as a user runs it: ``tocsin serve --storage postgresql://...``,
a webhook receiver, a stop, kill -9, a second daemon on the same database, and moving a
SQLite host's state in with ``tocsin storage copy``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import aiohttp
import pytest

from tests.e2e.test_cli_delivery import tocsin
from tests.e2e.test_daemon import CONFIG, alert, quiet_period
from tests.peers import Daemon, free_port, wait_http
from tocsin.testing.postgres import PostgresServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def pg_daemon(tmp_path, tocsin_postgres_url):
    """Makes a daemon on the test's PostgreSQL database; stops it after."""
    daemons: list[Daemon] = []

    def make(config_text: str, storage: str = tocsin_postgres_url) -> Daemon:
        cfg = tmp_path / "tocsin.yml"
        cfg.write_text(config_text)
        d = Daemon(cfg, storage, tmp_path / "tocsin.log")
        daemons.append(d)
        return d

    yield make
    for d in daemons:
        d.stop()


async def silences(url: str) -> list[dict]:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/api/v2/silences") as r:
        assert r.status == 200
        return await r.json()


async def test_notified_stopped_restarted_and_everything_is_there(pg_daemon, receiver, tocsin_postgres_url):
    d = pg_daemon(CONFIG.format(group_wait="1s", url=receiver.url))
    await d.start()
    assert '"storage":"postgresql://postgres@127.0.0.1:' in d.logs()
    status, body = await d.post_alerts([alert("DiskFull", f"host{i}") for i in range(3)])
    assert status == 200, body
    [msg] = await receiver.wait_for(1)
    assert [a["labels"]["instance"] for a in msg["alerts"]] == ["host0", "host1", "host2"]
    async with aiohttp.ClientSession() as s, s.post(f"{d.url}/api/v2/silences", json={
            "matchers": [{"name": "alertname", "value": "Quiet", "isRegex": False}],
            "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
            "createdBy": "ana", "comment": "maintenance"}) as r:
        assert r.status == 200, await r.text()
        silence_id = (await r.json())["silenceID"]
    assert d.stop() == 0
    assert "runtime stopped" in d.logs()

    await d.start()
    assert sorted(a["labels"]["instance"] for a in await d.get_alerts()) == ["host0", "host1", "host2"]
    assert [s["id"] for s in await silences(d.url)] == [silence_id]
    # The notification log came back too: the restarted group sends nothing again.
    await quiet_period(receiver, 1, 2.5)
    status, _ = await d.post_alerts([alert("DiskFull", "host3"), alert("Quiet", "x")])
    assert status == 200
    msgs = await receiver.wait_for(2)
    assert [a["labels"]["instance"] for a in msgs[1]["alerts"]] == ["host0", "host1", "host2", "host3"]
    await quiet_period(receiver, 2, 2.0)  # Quiet is silenced


async def test_kill9_after_notification_no_duplicate_no_loss(pg_daemon, receiver):
    d = pg_daemon(CONFIG.format(group_wait="0s", url=receiver.url))
    await d.start()
    status, _ = await d.post_alerts([alert("Down", "a"), alert("Down", "b")])
    assert status == 200
    await receiver.wait_for(1)
    await d.wait_log("notification sent")
    d.kill9()

    await d.start()  # the killed daemon's session is gone, and its lock with it
    assert {a["labels"]["instance"] for a in await d.get_alerts()} == {"a", "b"}
    await quiet_period(receiver, 1, 3.0)
    status, _ = await d.post_alerts([alert("Down", "c")])
    assert status == 200
    msgs = await receiver.wait_for(2)
    assert [a["labels"]["instance"] for a in msgs[1]["alerts"]] == ["a", "b", "c"]


async def test_a_second_daemon_on_the_same_database_stops_at_once(pg_daemon, receiver, tocsin_postgres_url):
    d = pg_daemon(CONFIG.format(group_wait="0s", url=receiver.url))
    await d.start()
    assert d.proc is not None
    second = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tocsin", "serve", "--config", str(d.config),
         "--listen", f"127.0.0.1:{free_port()}", "--storage", tocsin_postgres_url],
        capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    holder = f"tocsin {d.proc.pid}@"
    assert f"storage: {tocsin_postgres_url} is in use by another tocsin ({holder}" in second.stderr
    assert "Traceback" not in second.stderr
    status, _ = await d.post_alerts([alert("StillHere", "a")])
    assert status == 200
    await receiver.wait_for(1)


async def test_moving_a_sqlite_host_into_postgresql(pg_daemon, receiver, tmp_path, tocsin_postgres_url):
    """What docs/postgresql.md tells a user: stop tocsin, copy, start it on PostgreSQL."""
    db = tmp_path / "sqlite" / "tocsin.db"
    before = pg_daemon(CONFIG.format(group_wait="0s", url=receiver.url), storage=str(db))
    await before.start()
    status, _ = await before.post_alerts([alert("Moved", "a"), alert("Moved", "b")])
    assert status == 200
    await receiver.wait_for(1)
    await before.wait_log("notification sent")
    assert before.stop() == 0

    done = await tocsin("storage", "copy", "--from", f"sqlite:{db}", "--to", tocsin_postgres_url,
                        "-o", "json")
    assert done.returncode == 0, done.stderr
    copied = json.loads(done.stdout)["copied"]
    assert copied["alerts"] == 2
    assert copied["nflog"] == 1
    assert copied["incident_rows"] == 0  # both incidents are as they opened: their alerts' rows imply them
    again = await tocsin("storage", "copy", "--from", str(db), "--to", tocsin_postgres_url)
    assert again.returncode == 1
    assert "tocsin: error: the target holds records already (2 alerts," in again.stderr

    after = pg_daemon(CONFIG.format(group_wait="0s", url=receiver.url))
    await after.start()
    assert {a["labels"]["instance"] for a in await after.get_alerts()} == {"a", "b"}
    async with aiohttp.ClientSession() as s, s.get(f"{after.url}/api/tocsin/v1/alerts") as r:
        listed = (await r.json())["alerts"]
    assert sorted((a["labels"]["instance"], a["state"]) for a in listed) == [("a", "firing"), ("b", "firing")]
    await quiet_period(receiver, 1, 2.5)  # notified on SQLite: not again on PostgreSQL


async def test_a_postgresql_outage_is_503_then_everything_resumes_without_a_restart(tmp_path, receiver):
    """PostgreSQL stopped under a running daemon: ingest answers 503 (never 2xx without a
    commit), /-/ready says why, the daemon stays up; once PostgreSQL is back, it is ready
    again within seconds, and everything accepted is there and notified."""
    server = PostgresServer.start()
    try:
        cfg = tmp_path / "tocsin.yml"
        cfg.write_text(CONFIG.format(group_wait="0s", url=receiver.url))
        d = Daemon(cfg, server.create_database(), tmp_path / "tocsin.log")
        await d.start()
        try:
            assert (await d.post_alerts([alert("Before", "a")]))[0] == 200
            await receiver.wait_for(1)
            await asyncio.to_thread(server.pause)
            status, body = await d.post_alerts([alert("During", "a")])
            assert status == 503, body
            assert "cannot be reached" in body
            async with aiohttp.ClientSession() as s, s.get(f"{d.url}/-/ready") as r:
                assert r.status == 503
                assert "cannot be reached" in await r.text()
            assert d.proc is not None
            assert d.proc.poll() is None  # still running

            await asyncio.to_thread(server.resume)
            back = time.monotonic()
            await wait_http(f"{d.url}/-/ready", timeout=15)
            print(f"ready again {time.monotonic() - back:.2f}s after PostgreSQL accepted connections")
            assert (await d.post_alerts([alert("After", "a")]))[0] == 200
            msgs = await receiver.wait_for(2)
            assert {m["groupLabels"]["alertname"] for m in msgs} == {"Before", "After"}
            assert d.stop() == 0
            await d.start()
            assert sorted(a["labels"]["alertname"] for a in await d.get_alerts()) == ["After", "Before"]
        finally:
            d.stop()
    finally:
        server.stop()
