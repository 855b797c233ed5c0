"""On a real daemon: ``tocsin alerts ack --for`` pauses escalation, and when the
acknowledgement runs out while the alert fires, escalation resumes at the level it had
reached (the one that fell due meanwhile runs at once)."""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import pytest

from tocsin.testing import RecordingServer, wait_until
from tocsin.testing.process import serving

pytestmark = pytest.mark.e2e

CONFIG = """
global:
  resolve_timeout: 1h
route:
  receiver: team
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['team="db"']
      receiver: team
      escalation_policy: db
receivers:
  - name: team
    webhook_configs: [{{url: "{url}/team"}}]
  - name: lead
    webhook_configs: [{{url: "{url}/lead"}}]
  - name: pager
    webhook_configs: [{{url: "{url}/pager"}}]
escalation_policies:
  - name: db
    levels:
      - {{after: 0s, receivers: [team]}}
      - {{after: 1s, receivers: [lead]}}
      - {{after: 6s, receivers: [pager]}}
"""


@pytest.fixture
async def server():
    s = RecordingServer()
    await s.start()
    yield s
    await s.stop()


def reached(server: RecordingServer, path: str) -> bool:
    return any(r.path == path and not (r.json().get("notice") or {}).get("event", "").endswith("acknowledged")
               for r in server.requests)


async def test_an_ack_for_runs_out_and_escalation_resumes(tmp_path, server):
    async with serving(CONFIG.format(url=server.url), tmp_path) as url, aiohttp.ClientSession() as s:
        db_down = [{"labels": {"alertname": "DbDown", "team": "db"}}]
        async with s.post(f"{url}/api/v2/alerts", json=db_down) as r:
            assert r.status == 200
        await wait_until(lambda: reached(server, "/lead"), timeout=10.0, interval=0.05,
                         message="the lead level")
        async with s.get(f"{url}/api/tocsin/v1/alerts") as r:
            [alert] = (await r.json())["alerts"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tocsin", "alerts", "ack", alert["id"], "--for", "8s", "--who", "ana",
            "--url", url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out.decode()
        assert "acknowledged" in out.decode()

        await asyncio.sleep(6.0)  # the pager level (6s) fell due while acknowledged: paused
        assert not reached(server, "/pager")
        await wait_until(lambda: reached(server, "/pager"), timeout=10.0, interval=0.05,
                         message="the pager level once the acknowledgement ran out")
        async with s.get(f"{url}/api/tocsin/v1/alerts/{alert['id']}/history") as r:
            history = (await r.json())["history"]
        unack = next(h for h in history if h["kind"] == "unacknowledged")
        assert unack["actor"] == "tocsin"
        assert unack["detail"]["source"] == "ack_timeout"
        assert "ran out after 8s" in unack["detail"]["note"]
