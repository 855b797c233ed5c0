"""What the Slack and PagerDuty callback tests share: one receiver with both channels
(Slack's interactive buttons, PagerDuty), their callbacks' secrets, two DiskFull alerts
(one group) and another, and reading the alerts back through the HTTP API."""

from __future__ import annotations

from typing import Any

from tocsin.core.labels import fingerprint
from tocsin.testing import RecordingServer, advance, post, wait_until

T0 = 1_700_000_000.0
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PD_OLD, PD_NEW = "pd-old-secret", "pd-new-secret"
CONFIG = """
global:
  resolve_timeout: 1h
route:
  receiver: chat
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
server:
  external_url: http://tocsin.example:9095
receivers:
  - name: chat
    slack_configs:
      - api_url: "{url}/slack"
        actions: interactive
    pagerduty_configs:
      - url: "{url}/pagerduty"
        routing_key: rk
{integrations}
"""

INTEGRATIONS = f"""
integrations:
  slack:
    signing_secret: {SLACK_SECRET}
  pagerduty:
    webhook_secrets: [{PD_OLD}, {PD_NEW}]
"""

DISK1 = {"alertname": "DiskFull", "instance": "db1", "severity": "critical"}
DISK2 = {"alertname": "DiskFull", "instance": "db2", "severity": "critical"}
OTHER = {"alertname": "Other", "instance": "web1"}
FP1, FP2, FP_OTHER = fingerprint(DISK1), fingerprint(DISK2), fingerprint(OTHER)


def config(url: str, integrations: str = INTEGRATIONS) -> str:
    return CONFIG.format(url=url, integrations=integrations)



async def to(server: RecordingServer, path: str, count: int = 1) -> list[Any]:
    """The JSON bodies POSTed to ``path``, once there are ``count`` of them."""
    await wait_until(lambda: len([r for r in server.requests if r.path == path]) >= count,
                     message=lambda: f"{count} request(s) to {path}: {[r.path for r in server.requests]}")
    return [r.json() for r in server.requests if r.path == path]


async def firing_group(rt, server: RecordingServer) -> dict[str, Any]:
    """Two DiskFull alerts (one group) and an Other alert, flushed: DiskFull's Slack message."""
    await post(rt, {"labels": DISK1}, {"labels": DISK2}, {"labels": OTHER})
    await advance(rt, 30)
    messages = await to(server, "/slack", 2)
    return next(m for m in messages if "DiskFull" in m["text"])


async def alert(client, ref: str) -> dict[str, Any]:
    resp = await client.get(f"/api/tocsin/v1/alerts/{ref}")
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def states(client) -> dict[str, str]:
    return {fp: (await alert(client, fp))["state"] for fp in (FP1, FP2, FP_OTHER)}


async def history(client, ref: str) -> list[tuple[str, str, str | None]]:
    resp = await client.get(f"/api/tocsin/v1/alerts/{ref}/history")
    assert resp.status == 200
    return [(h["kind"], h["actor"], h["detail"].get("source")) for h in (await resp.json())["history"]]
