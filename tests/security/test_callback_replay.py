"""Replaying signed callbacks to a running daemon: a PagerDuty webhook sent again after a
restart, a PagerDuty event from long ago, a Slack button click sent again within its
five minutes. Each is correctly signed; none may change anything."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from tests.peers import Daemon, WebhookReceiver
from tocsin.core.labels import fingerprint
from tocsin.core.timefmt import format_ts

pytestmark = pytest.mark.e2e

PD_SECRET = "pd-webhook-secret"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
LABELS = {"alertname": "DiskFull", "instance": "db1", "severity": "critical"}
FP = fingerprint(LABELS)
PD_PATH = "/api/tocsin/v1/integrations/pagerduty/webhook"
SLACK_PATH = "/api/tocsin/v1/integrations/slack/actions"

CONFIG = """
route:
  receiver: pager
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: pager
    pagerduty_configs:
      - url: "{url}"
        routing_key: rk
integrations:
  slack:
    signing_secret: {slack}
  pagerduty:
    webhook_secrets: [{pd}]
"""


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    r = WebhookReceiver()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
async def daemon(tmp_path, receiver: WebhookReceiver) -> AsyncIterator[Daemon]:
    cfg = tmp_path / "tocsin.yml"
    cfg.write_text(CONFIG.format(url=receiver.url, slack=SLACK_SECRET, pd=PD_SECRET))
    d = Daemon(cfg, tmp_path / "db" / "tocsin.db", tmp_path / "tocsin.log")
    await d.start()
    yield d
    d.stop()


async def restart(d: Daemon) -> None:
    """Stop the daemon and start it again on the same database."""
    assert d.stop() == 0
    await d.start()


async def post(d: Daemon, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.post(f"{d.url}{path}", data=body, headers=headers) as r:
        text = await r.text()
        return r.status, json.loads(text) if text else None


async def incident(d: Daemon) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(f"{d.url}/api/tocsin/v1/alerts/{FP}") as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def fire(d: Daemon) -> dict[str, Any]:
    status, text = await d.post_alerts([{"labels": LABELS}])
    assert status == 200, text
    return await incident(d)


async def pd_key(d: Daemon, receiver: WebhookReceiver) -> str:
    """The dedup key of the DiskFull group, as tocsin sent it to PagerDuty."""
    await fire(d)
    [event, *_] = await receiver.wait_for(1)
    return event["dedup_key"]


def pd_webhook(key: str, event_type: str, event_id: str, occurred_at: float) -> tuple[bytes, dict[str, str]]:
    """A PagerDuty v3 webhook, signed as PagerDuty signs it."""
    body = json.dumps({"event": {
        "id": event_id, "event_type": event_type, "resource_type": "incident",
        "occurred_at": format_ts(occurred_at), "agent": {"summary": "Tenex Engineer"},
        "data": {"id": "PGR0VU2", "type": "incident", "incident_key": key},
    }}).encode()
    signature = "v1=" + hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-PagerDuty-Signature": signature}


def slack_click(action_id: str, value: str, response_url: str) -> tuple[bytes, dict[str, str]]:
    """A Slack button click, signed now as Slack signs it."""
    payload = {"type": "block_actions", "user": {"id": "U1", "username": "alice"},
               "trigger_id": "123.456.abc", "response_url": response_url,
               "actions": [{"type": "button", "action_id": action_id, "value": value,
                            "action_ts": f"{time.time():.6f}"}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(time.time()))
    mac = hmac.new(SLACK_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return body, {"Content-Type": "application/x-www-form-urlencoded",
                  "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + mac.hexdigest()}


async def test_a_pagerduty_webhook_replayed_after_a_restart_changes_nothing(daemon, receiver):
    key = await pd_key(daemon, receiver)
    first = await incident(daemon)
    webhook = pd_webhook(key, "incident.resolved", "Q1REPLAY", time.time())
    assert await post(daemon, PD_PATH, *webhook) == (200, {"matched": 1, "changed": 1})
    assert (await incident(daemon))["state"] == "resolved"

    await restart(daemon)
    again = await fire(daemon)  # the alert fires again: a new incident
    assert (again["state"], again["id"] != first["id"]) == ("firing", True)

    status, answer = await post(daemon, PD_PATH, *webhook)  # the same signed bytes
    print(f"replayed after a restart: {status} {answer}")
    assert (status, answer) == (200, {"matched": 0, "changed": 0, "duplicate": True})
    now = await incident(daemon)
    assert (now["id"], now["state"], now["resolved_by"]) == (again["id"], "firing", None)
    assert "pagerduty event delivered again; ignored" in daemon.logs()


async def test_a_pagerduty_event_from_long_ago_or_ahead_is_refused(daemon, receiver):
    key = await pd_key(daemon, receiver)
    for event_id, occurred_at, why in [
        ("Q2OLD", time.time() - 2 * 3600,
         "older than integrations.pagerduty.max_event_age (1h); refused as a replay"),
        ("Q3AHEAD", time.time() + 3600, "more than 5m ahead of tocsin's clock; refused"),
    ]:
        status, answer = await post(daemon, PD_PATH, *pd_webhook(key, "incident.acknowledged", event_id,
                                                                 occurred_at))
        print(f"occurred_at {occurred_at - time.time():+.0f}s: {status} {answer}")
        assert (status, answer) == (400, {"error": f"event.occurred_at: {why}", "field": "event.occurred_at"})
        assert (await incident(daemon))["state"] == "firing"
    # A recent event is taken.
    webhook = pd_webhook(key, "incident.acknowledged", "Q4NOW", time.time() - 60)
    assert await post(daemon, PD_PATH, *webhook) == (200, {"matched": 1, "changed": 1})
    assert (await incident(daemon))["state"] == "acknowledged"


async def test_a_slack_ack_replayed_after_an_unack_changes_nothing(daemon, receiver):
    await fire(daemon)
    click = slack_click("tocsin_ack", FP, f"{receiver.url}/response")
    assert await post(daemon, SLACK_PATH, *click) == (200, None)
    got = await incident(daemon)
    assert (got["state"], got["acknowledged_by"]) == ("acknowledged", "alice")
    async with aiohttp.ClientSession() as s, s.post(f"{daemon.url}/api/tocsin/v1/alerts/{FP}/unack",
                                                    json={"who": "carol"}) as r:
        assert r.status == 200
    assert (await incident(daemon))["state"] == "firing"

    # The same signed bytes, seconds later: well within Slack's five minutes.
    assert await post(daemon, SLACK_PATH, *click) == (200, None)
    assert (await incident(daemon))["state"] == "firing"
    await restart(daemon)
    assert await post(daemon, SLACK_PATH, *click) == (200, None)
    got = await incident(daemon)
    print(f"after two replays: {got['state']}, acknowledged_by={got['acknowledged_by']}")
    assert got["state"] == "firing"
    assert daemon.logs().count("slack action delivered again; ignored") == 2
