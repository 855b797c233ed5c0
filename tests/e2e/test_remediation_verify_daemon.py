"""On a real daemon: a remediation that succeeds but does not resolve its alert is
ineffective, the next remediation of its ``then:`` chain runs, and when that one is
ineffective too the alert's escalation moves to its next level at once. The daemon is
restarted while the first run awaits its verdict: the verdict is not lost."""

from __future__ import annotations

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
    - matchers: ['alertname="DbDown"']
      receiver: team
      remediations: [restart-db]
      escalation_policy: db
receivers:
  - name: team
    webhook_configs: [{{url: "{url}/team"}}]
  - name: pager
    webhook_configs: [{{url: "{url}/pager"}}]
escalation_policies:
  - name: db
    levels:
      - {{after: 0s, receivers: [team]}}
      - {{after: 1h, receivers: [pager]}}
remediations:
  - name: restart-db
    kind: command
    argv: ["{script}", "restart"]
    verify: {{within: 3s}}
    then: fail-over
  - name: fail-over
    kind: command
    argv: ["{script}", "failover"]
    verify: {{within: 3s}}
"""


@pytest.fixture
async def server():
    s = RecordingServer()
    await s.start()
    yield s
    await s.stop()


def notices(server: RecordingServer) -> list[str]:
    return [r.json()["notice"]["text"] for r in server.requests
            if r.path == "/team" and "notice" in r.json()]


def paged(server: RecordingServer) -> bool:
    return any(r.path == "/pager" for r in server.requests)


async def runs(session: aiohttp.ClientSession, url: str) -> dict[str, dict]:
    async with session.get(f"{url}/api/tocsin/v1/remediations") as resp:
        assert resp.status == 200
        return {r["remediation"]: r for r in await resp.json()}


async def test_an_ineffective_remediation_runs_its_chain_then_escalates_across_a_restart(tmp_path, server):
    ran = tmp_path / "ran.txt"
    script = tmp_path / "fix.py"
    script.write_text(f"#!{sys.executable}\nimport sys\nopen({str(ran)!r}, 'a').write(sys.argv[1] + '\\n')\n")
    script.chmod(0o755)
    config = CONFIG.format(url=server.url, script=script)
    async with serving(config, tmp_path) as url, aiohttp.ClientSession() as session:
        async with session.post(f"{url}/api/v2/alerts", json=[{"labels": {"alertname": "DbDown"}}]) as r:
            assert r.status == 200

        async def restarted() -> dict | None:
            run = (await runs(session, url)).get("restart-db")
            return run if run is not None and run["state"] == "succeeded" else None

        first = await wait_until(restarted, timeout=15.0, interval=0.05, message="restart-db to succeed")
        assert first["verdict"] is None
        assert first["verify_by"] is not None
    # Stopped while restart-db awaits its verdict; started again on the same database.
    async with serving(config, tmp_path) as url, aiohttp.ClientSession() as session:

        async def judged() -> dict | None:
            got = await runs(session, url)
            return got if got["restart-db"]["verdict"] and "fail-over" in got else None

        got = await wait_until(judged, timeout=15.0, interval=0.1, message="restart-db's verdict")
        assert got["restart-db"]["id"] == first["id"]
        assert got["restart-db"]["verdict"] == "ineffective"
        assert got["fail-over"]["after"] == first["id"]
        assert not paged(server)  # the chain went on instead

        await wait_until(lambda: paged(server), timeout=15.0, interval=0.1,
                         message="the pager level once fail-over was ineffective too")
        assert (await runs(session, url))["fail-over"]["verdict"] == "ineffective"
        assert ran.read_text().split() == ["restart", "failover"]
        said = notices(server)
        assert any(t.startswith("Remediation restart-db ineffective") for t in said), said
        assert any(t.startswith("Remediation fail-over ineffective") for t in said), said
        async with session.get(f"{url}/api/tocsin/v1/stats?days=1") as r:
            stats = await r.json()
        assert [(s["remediation"], s["runs"], s["ineffective"]) for s in stats["remediations"]] == [
            ("fail-over", 1, 1), ("restart-db", 1, 1)]
