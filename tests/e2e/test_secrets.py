"""Secrets planted in every kind of secret field never come back out: not in the
daemon's logs, its API answers, dead letters, metrics, nor `tocsin check-config`."""

from __future__ import annotations

import secrets as _secrets

import aiohttp
import pytest

from tests.e2e.test_cli_delivery import tocsin
from tests.peers import free_port
from tocsin.testing import wait_until

pytestmark = pytest.mark.e2e


def planted(tag: str) -> str:
    return f"PLANTED{tag}{_secrets.token_hex(12)}"


async def test_planted_secrets_appear_nowhere(make_daemon, receiver, tmp_path, monkeypatch):
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: every delivery fails
    s = {name: planted(name) for name in (
        "smtp", "slack", "hook", "bearer", "pd", "signing", "pdhook", "admin", "remfile", "basic")}
    s["pd"] = s["pd"][:32].ljust(32, "x")
    monkeypatch.setenv("TEST_SMTP_PASSWORD", s["smtp"])
    monkeypatch.setenv("TEST_SLACK_TOKEN", s["slack"])
    monkeypatch.setenv("TEST_ADMIN_TOKEN", s["admin"])
    token_file = tmp_path / "remediation.token"
    token_file.write_text(s["remfile"] + "\n")
    cfg = f"""
global:
  smtp_auth_password: ${{TEST_SMTP_PASSWORD}}
  smtp_from: tocsin@example.org
  smtp_smarthost: 127.0.0.1:{free_port()}
route:
  receiver: everything
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  routes:
    - matchers: ['alertname="Fix"']
      receiver: everything
      remediations: [rollback]
receivers:
  - name: everything
    slack_configs:
      - api_url: "{closed}/services/T0/B0/${{TEST_SLACK_TOKEN}}"
        timeout: 1s
    webhook_configs:
      - url: "{closed}/hook?token={s['hook']}"
        hmac_secret: {s['hook']}
        http_config: {{bearer_token: {s['bearer']}}}
        timeout: 1s
    pagerduty_configs:
      - routing_key: {s['pd']}
        url: "{closed}/v2/enqueue"
        timeout: 1s
    email_configs:
      - to: oncall@example.org
        require_tls: false
        timeout: 1s
remediations:
  - name: rollback
    kind: webhook
    url: "{closed}/rollback"
    bearer_token_file: {token_file}
    hmac_secret: {s['basic']}
integrations:
  slack: {{signing_secret: {s['signing']}}}
  pagerduty: {{webhook_secrets: [{s['pdhook']}]}}
server:
  auth:
    tokens:
      - {{name: ops, role: admin, token: "${{TEST_ADMIN_TOKEN}}"}}
"""
    d = make_daemon(cfg)
    await d.start()
    headers = {"Authorization": f"Bearer {s['admin']}"}
    outputs: list[str] = []
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{d.url}/api/v2/alerts", json=[
                {"labels": {"alertname": "Fix"}}, {"labels": {"alertname": "Other"}}]) as resp:
            assert resp.status == 200
        # Every integration fails (nothing listens) and ends in the dead-letter table.
        await d.wait_log("dead-letter table", count=4, timeout=30)
        async def failed_run() -> bool:
            async with http.get(f"{d.url}/api/tocsin/v1/remediations") as resp:
                runs = await resp.json()
            return bool(runs) and runs[0]["state"] == "failed"

        await wait_until(failed_run, timeout=10.0, interval=0.1)
        for path in ("/api/v2/status", "/api/v2/receivers", "/api/v2/alerts", "/api/v2/alerts/groups",
                     "/api/tocsin/v1/dead-letters", "/api/tocsin/v1/notifications/attempts",
                     "/api/tocsin/v1/remediations", "/api/tocsin/v1/alerts", "/metrics"):
            async with http.get(f"{d.url}{path}") as resp:
                assert resp.status == 200, path
                outputs.append(await resp.text())
        status = outputs[0]
        assert "<secret>" in status
    checked = await tocsin("check-config", str(d.config))
    assert checked.returncode == 0, checked.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(cfg.replace("group_wait: 0s", "group_wait: soon"))
    failed = await tocsin("check-config", str(broken))
    assert failed.returncode == 1
    assert "group_wait" in failed.stdout
    d.stop()
    everything = "\n".join([*outputs, checked.stdout, checked.stderr, failed.stdout, failed.stderr,
                            d.logs()])
    assert "notification failed" in everything  # the failures were logged...
    for name, value in s.items():
        assert value not in everything, f"the {name} secret leaked"  # ...without any secret
