"""``/-/ready`` and ingest once the database file is gone under the running app: 503 with
the reason on both (the store has failed until a restart), and ``/-/healthy`` stays 200.
The same while a PostgreSQL server cannot be reached, and everything back once it is,
without a restart."""

from __future__ import annotations

import os

from aiohttp.test_utils import TestClient, TestServer

from tocsin.core.clock import FakeClock
from tocsin.runtime import Runtime
from tocsin.store.postgres import PostgresStore
from tocsin.store.sqlite import SQLiteStore
from tocsin.testing import make_config, make_plugins, wait_until
from tocsin.web.app import create_app

CONFIG = """
route: {receiver: default}
receivers: [{name: default}]
"""


async def test_a_removed_database_is_503_on_ingest_and_on_ready(tmp_path):
    pm = make_plugins()
    path = tmp_path / "api.db"
    rt = Runtime(make_config(CONFIG, pm), pm, clock=FakeClock(), store=SQLiteStore(path))
    client = TestClient(TestServer(create_app(rt), host="127.0.0.1"))
    await client.start_server()
    try:
        resp = await client.post("/api/v2/alerts", json=[{"labels": {"alertname": "Before"}}])
        assert resp.status == 200
        os.remove(path)
        resp = await client.post("/api/v2/alerts", json=[{"labels": {"alertname": "After"}}])
        assert resp.status == 503
        error = await resp.json()  # a string, Alertmanager's shape
        assert error.startswith(f"alerts not stored: the database file {path} was removed")
        # Not held either: what is not stored is not announced as taken.
        names = [a["labels"]["alertname"] for a in await (await client.get("/api/v2/alerts")).json()]
        assert names == ["Before"]
        resp = await client.get("/-/ready")
        assert resp.status == 503
        assert f"{path} was removed" in await resp.text()
        assert (await client.get("/-/healthy")).status == 200
    finally:
        await client.close()


async def test_an_unreachable_postgresql_is_503_on_ingest_and_ready_until_it_is_back(own_postgres):
    pm = make_plugins()
    store = PostgresStore(own_postgres.create_database())
    rt = Runtime(make_config(CONFIG, pm), pm, clock=FakeClock(), store=store)
    client = TestClient(TestServer(create_app(rt), host="127.0.0.1"))
    await client.start_server()

    async def post(name: str) -> int:
        return (await client.post("/api/v2/alerts", json=[{"labels": {"alertname": name}}])).status

    async def ready() -> bool:
        return (await client.get("/-/ready")).status == 200

    try:
        assert await post("Before") == 200
        own_postgres.pause()
        resp = await client.post("/api/v2/alerts", json=[{"labels": {"alertname": "During"}}])
        assert resp.status == 503
        assert (await resp.json()).startswith("alerts not stored: the database postgresql://")
        # A re-post that would only be counted now (and written later) is refused too.
        assert await post("Before") == 503
        resp = await client.get("/-/ready")
        assert resp.status == 503
        assert "cannot be reached" in await resp.text()
        assert (await client.get("/-/healthy")).status == 200
        # A read that goes to the database says why it cannot answer (it was a 500).
        for path in ("/api/tocsin/v1/alerts", "/api/tocsin/v1/notifications/attempts"):
            resp = await client.get(path)
            assert resp.status == 503, path
            assert "cannot be reached" in (await resp.json())["error"]

        own_postgres.resume()
        await wait_until(ready, 15, 0.1, message="/-/ready once PostgreSQL is back")
        assert await post("After") == 200
        names = sorted(a["labels"]["alertname"] for a in await (await client.get("/api/v2/alerts")).json())
        assert names == ["After", "Before"]
    finally:
        await client.close()
    again = PostgresStore(store.url)
    await again.open()
    try:
        assert sorted(a.labels["alertname"] for a in await again.load_alerts()) == ["After", "Before"]
    finally:
        await again.close()
