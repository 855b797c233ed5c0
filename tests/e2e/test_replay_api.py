"""``POST /api/tocsin/v1/replay`` answers what ``tocsin replay -o json`` reports, on the
daemon's own database; a config that does not load is a 400 naming the problem."""

from __future__ import annotations

import pytest

from tocsin.core.clock import FakeClock
from tocsin.testing import RecordingServer, advance, api_client, post

pytestmark = pytest.mark.e2e

START = 1_700_002_800.0

CONFIG = """
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 30s
  group_interval: 1m
  routes:
    - matchers: [{db}]
      receiver: db
receivers:
  - name: ops
    webhook_configs: [{{url: "{url}/ops"}}]
  - name: db
    webhook_configs: [{{url: "{url}/db"}}]
"""


@pytest.fixture
async def server():
    s = RecordingServer()
    await s.start()
    yield s
    await s.stop()


async def test_the_api_replays_through_a_changed_config(tmp_path, server):
    old = CONFIG.format(url=server.url, db="'team=\"db\"'")
    new = CONFIG.format(url=server.url, db="'team=\"db\"', 'env=\"prod\"'")
    async with api_client(old, tmp_path, clock=FakeClock(start=START)) as (client, rt):
        await post(rt, {"labels": {"alertname": "SlowQuery", "team": "db", "env": "staging"}},
                   {"labels": {"alertname": "DiskFull", "team": "db", "env": "prod"}})
        await advance(rt, 60)
        window = {"since": f"{START - 1:.0f}", "until": f"{START + 600:.0f}"}

        r = await client.post("/api/tocsin/v1/replay", json={"config": new, **window})
        assert r.status == 200, await r.text()
        report = await r.json()
        assert report["differs"] is True
        assert [(p["alertname"], p["receivers_old"], p["receivers_new"]) for p in report["paging_changed"]] \
            == [("SlowQuery", ["db"], ["ops"])]

        r = await client.post("/api/tocsin/v1/replay", data="route: {receiver: nobody}\n",
                              headers={"Content-Type": "application/yaml"})
        assert r.status == 400
        body = await r.json()
        assert body["field"] == "config"
        assert "undefined receiver 'nobody'" in body["error"]


async def test_a_body_that_is_not_utf8_is_a_400_naming_the_config(tmp_path, server):
    """Found by the OpenAPI fuzz test: bytes that are not UTF-8 were a 500."""
    async with api_client(CONFIG.format(url=server.url, db="'team=\"db\"'"), tmp_path,
                          clock=FakeClock(start=START)) as (client, _rt):
        for content_type in ("application/json", "application/yaml"):
            r = await client.post("/api/tocsin/v1/replay", data=b"\x1aE\x04N\x93\xff\xfeHu%",
                                  headers={"Content-Type": content_type})
            assert r.status == 400, await r.text()
            assert (await r.json())["field"] == "config"


async def test_a_window_holding_a_nul_is_a_400_naming_its_field(tmp_path, server):
    """Found by the OpenAPI fuzz test: a NUL in ``since`` made the replay's process
    unstartable, and the request a 500."""
    async with api_client(CONFIG.format(url=server.url, db="'team=\"db\"'"), tmp_path,
                          clock=FakeClock(start=START)) as (client, _rt):
        for key in ("since", "until"):
            r = await client.post("/api/tocsin/v1/replay",
                                  json={"config": CONFIG.format(url=server.url, db="'team=\"db\"'"),
                                        key: "7d\u0000"})
            assert r.status == 400, await r.text()
            body = await r.json()
            assert body["field"] == key
            assert "NUL" in body["error"]
