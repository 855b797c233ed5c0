"""Heartbeats on a real daemon: a Watchdog alert that stops arriving raises
HeartbeatMissing at a webhook receiver, resolved when it comes back; a restart
after a long stop raises no false one before a full ``every + grace``."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tocsin.testing import RecordingServer, wait_until
from tocsin.testing.process import serving

pytestmark = pytest.mark.e2e

CONFIG = """
route:
  receiver: ops
  group_by: [alertname, heartbeat, prometheus]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['alertname="Watchdog"']
      receiver: blackhole
receivers:
  - name: ops
    webhook_configs: [{{url: "{url}/ops", send_resolved: true}}]
  - name: blackhole
heartbeats:
  - name: prometheus
    every: {every}
    grace: 1s
    matchers: ['alertname="Watchdog"']
    per: [prometheus]
    labels: {{severity: critical}}
"""

@pytest.fixture
async def server():
    s = RecordingServer()
    await s.start()
    yield s
    await s.stop()


WATCHDOG = [{"labels": {"alertname": "Watchdog", "prometheus": "a"}}]


def heartbeat_missing(server: RecordingServer, status: str) -> list[dict]:
    return [a["labels"] for r in server.requests if r.path == "/ops"
            for a in r.json()["alerts"] if r.json()["status"] == status
            and a["labels"].get("alertname") == "HeartbeatMissing"]


async def beat(session: aiohttp.ClientSession, url: str) -> None:
    async with session.post(f"{url}/api/v2/alerts", json=WATCHDOG) as resp:
        assert resp.status == 200, await resp.text()


async def beating(session: aiohttp.ClientSession, url: str, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await beat(session, url)
        await asyncio.sleep(0.3)


async def test_a_watchdog_that_stops_raises_heartbeat_missing_and_resolves(tmp_path, server):
    config = CONFIG.format(url=server.url, every="2s")
    async with serving(config, tmp_path) as url, aiohttp.ClientSession() as session:
        await beating(session, url, 4.0)  # past every + grace since the start: beats keep it alive
        assert heartbeat_missing(server, "firing") == []

        await wait_until(lambda: heartbeat_missing(server, "firing"), timeout=15.0, interval=0.1,
                         message="HeartbeatMissing at the receiver")
        assert heartbeat_missing(server, "firing")[0] == {
            "alertname": "HeartbeatMissing", "heartbeat": "prometheus", "prometheus": "a",
            "severity": "critical"}
        async with session.get(f"{url}/api/tocsin/v1/heartbeats") as resp:
            [listed] = await resp.json()
        assert listed["state"] == "missing"
        assert listed["labels"] == {"prometheus": "a"}

        await beat(session, url)
        resolved = await wait_until(lambda: heartbeat_missing(server, "resolved"), timeout=15.0,
                                    interval=0.1, message="HeartbeatMissing resolved at the receiver")
        assert resolved[0]["heartbeat"] == "prometheus"


async def test_a_restart_after_a_long_stop_raises_no_false_heartbeat_missing(tmp_path, server):
    config = CONFIG.format(url=server.url, every="5s")
    async with serving(config, tmp_path) as url, aiohttp.ClientSession() as session:
        await beat(session, url)
    await asyncio.sleep(7.0)  # longer than every + grace since the last beat
    async with serving(config, tmp_path) as url, aiohttp.ClientSession() as session:
        async with session.get(f"{url}/api/tocsin/v1/heartbeats") as resp:
            [listed] = await resp.json()
        assert listed["state"] == "ok"  # the last beat was kept; not yet missing
        assert listed["lastSeen"] is not None
        await asyncio.sleep(3.0)  # well within every + grace (6s) of the restart
        assert heartbeat_missing(server, "firing") == []
        # Without beats it is declared missing once the full period has passed.
        await wait_until(lambda: heartbeat_missing(server, "firing"), timeout=15.0, interval=0.1,
                         message="HeartbeatMissing after the full period")
