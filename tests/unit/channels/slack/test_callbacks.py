"""Slack interactivity end to end through the HTTP API, on the fake clock: signatures,
timestamps, what each button does to the alerts, the Slack message replaced through
``response_url``."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

import pytest
import structlog

from tests.unit.channels.twoway import (
    FP1,
    FP2,
    FP_OTHER,
    SLACK_SECRET,
    T0,
    alert,
    config,
    firing_group,
    history,
    states,
    to,
)
from tocsin.core.clock import FakeClock
from tocsin.store import StorageError
from tocsin.testing import RecordingServer, api_client, wait_until

BLUE, GREEN, RED = "#3a87f2", "#2eb67d", "#d63232"

SLACK_PATH = "/api/tocsin/v1/integrations/slack/actions"


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {el["action_id"]: el for att in message.get("attachments", []) for block in att["blocks"]
            if block["type"] == "actions" for el in block["elements"]}


def as_slack_returns(message: dict[str, Any]) -> dict[str, Any]:
    """The message as Slack hands it back in a payload: ids added, colours without '#'."""
    out = json.loads(json.dumps(message))
    out.update(type="message", subtype="bot_message", ts="1700000000.000100", bot_id="B1")
    for i, att in enumerate(out.get("attachments", []), 1):
        att["id"] = i
        att["color"] = att["color"].lstrip("#")
        for j, block in enumerate(att["blocks"]):
            block["block_id"] = f"b{i}{j}"
    for j, block in enumerate(out["blocks"]):
        block["block_id"] = f"top{j}"
    return out


def click(message: dict[str, Any], action_id: str, response_url: str, *, value: str | None = None,
          user: dict[str, str] | None = None) -> dict[str, Any]:
    button = buttons(message).get(action_id, {})
    return {
        "type": "block_actions",
        "user": user or {"id": "U0A1", "username": "alice", "name": "alice", "team_id": "T1"},
        "api_app_id": "A1",
        "container": {"type": "message", "message_ts": "1700000000.000100"},
        "channel": {"id": "C1", "name": "alerts"},
        "message": as_slack_returns(message),
        "response_url": response_url,
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b10",
                     "text": button.get("text", {"type": "plain_text", "text": "x"}),
                     "value": value if value is not None else button.get("value", ""),
                     "action_ts": "1700000001.000200"}],
    }


def slack_request(payload: dict[str, Any], timestamp: float | str, secret: str = SLACK_SECRET,
                  ) -> tuple[bytes, dict[str, str]]:
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(timestamp)) if not isinstance(timestamp, str) else timestamp
    sig = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/x-www-form-urlencoded",
                  "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}


async def send_slack(client, payload: dict[str, Any], timestamp: float, **kw: Any):
    body, headers = slack_request(payload, timestamp, **kw)
    return await client.post(SLACK_PATH, data=body, headers=headers)


def context_lines(message: dict[str, Any]) -> list[str]:
    return [el["text"] for block in message["attachments"][-1]["blocks"] if block["type"] == "context"
            for el in block["elements"]]


async def test_the_interactive_message_carries_what_the_buttons_act_on(tmp_path, server):
    async with api_client(config(server.url), tmp_path, clock=FakeClock(T0)) as (_client, rt):
        message = await firing_group(rt, server)
        b = buttons(message)
        assert list(b) == ["tocsin_silence", "tocsin_ack", "tocsin_resolve"]
        assert all("url" not in el for el in b.values())
        assert b["tocsin_silence"]["value"] == '{"alertname":"DiskFull","severity":"critical"}'
        assert sorted(b["tocsin_ack"]["value"].split(",")) == sorted([FP1, FP2])
        assert b["tocsin_resolve"]["value"] == b["tocsin_ack"]["value"]
        assert b["tocsin_ack"]["text"]["text"] == "Acknowledge all 2"


async def test_slack_acknowledge(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)
        clock.advance(5)
        resp = await send_slack(client, click(message, "tocsin_ack", f"{server.url}/response/1"), clock.now())
        assert resp.status == 200
        assert await resp.read() == b""

        for fp in (FP1, FP2):
            got = await alert(client, fp)
            assert (got["state"], got["acknowledged_by"]) == ("acknowledged", "alice")
            assert ("acknowledged", "alice", "slack") in await history(client, fp)
        assert (await alert(client, FP_OTHER))["state"] == "firing"

        [update] = await to(server, "/response/1")
        assert update["replace_original"] is True
        assert update["text"] == message["text"]
        assert update["blocks"] == message["blocks"]  # block ids dropped again
        [att] = update["attachments"]
        assert set(att) == {"color", "fallback", "blocks"}
        assert att["color"] == BLUE
        assert list(buttons(update)) == ["tocsin_silence", "tocsin_resolve"]
        assert context_lines(update)[-1] == "✅ Acknowledged by alice (2 of 2 alerts)"
        # Everything else is the original message, the new context line last.
        fields, actions, ctx = message["attachments"][0]["blocks"]
        assert [b["type"] for b in att["blocks"]] == ["section", "actions", "context", "context"]
        assert (att["blocks"][0], att["blocks"][2]) == (fields, ctx)
        assert att["blocks"][1]["elements"] == [el for el in actions["elements"]
                                                if el["action_id"] != "tocsin_ack"]
        assert att["fallback"] == message["attachments"][0]["fallback"]

        # The group's receiver hears of it once, with both alerts.
        await rt.settle()
        notices = [r.json() for r in server.requests if r.path != "/response/1"
                   and "Acknowledged" in json.dumps(r.json())]
        assert len(notices) == 1
        assert len(notices[0]["attachments"][0]["blocks"]) >= 1
        assert "✅ Acknowledged by alice" in notices[0]["text"]
        assert "2 firing" in json.dumps(notices[0])


async def test_slack_resolve(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)
        user = {"id": "U0B2", "name": "bob"}  # no username: the name
        resp = await send_slack(client, click(message, "tocsin_resolve", f"{server.url}/r", user=user),
                                clock.now())
        assert resp.status == 200
        for fp in (FP1, FP2):
            got = await alert(client, fp)
            assert (got["state"], got["resolved_by"], got["resolution"]) == ("resolved", "bob", "manual")
            assert ("resolved", "bob", "slack") in await history(client, fp)
        [update] = await to(server, "/r")
        assert list(buttons(update)) == ["tocsin_silence"]
        assert update["attachments"][0]["color"] == GREEN
        assert context_lines(update)[-1] == "Resolved by bob (2 of 2 alerts)"

        # The same button again: the message says why nothing happened.
        resp = await send_slack(client, click(message, "tocsin_resolve", f"{server.url}/r2", user=user),
                                clock.now())
        assert resp.status == 200
        [again] = await to(server, "/r2")
        assert context_lines(again)[-1] == "Could not resolve: 2 already resolved"


async def test_slack_silence(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)
        resp = await send_slack(client, click(message, "tocsin_silence", f"{server.url}/r"), clock.now())
        assert resp.status == 200
        silences = await (await client.get("/api/v2/silences")).json()
        assert len(silences) == 1
        [sil] = silences
        assert sil["matchers"] == [
            {"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True},
            {"name": "severity", "value": "critical", "isRegex": False, "isEqual": True},
        ]
        # Now (T0 and the group wait) for an hour.
        assert (sil["startsAt"], sil["endsAt"]) == ("2023-11-14T22:13:50.000Z", "2023-11-14T23:13:50.000Z")
        assert (sil["createdBy"], sil["status"]["state"]) == ("alice", "active")
        [update] = await to(server, "/r")
        assert list(buttons(update)) == ["tocsin_ack", "tocsin_resolve"]
        assert context_lines(update)[-1] == f"🔕 Silenced for 1h by alice (silence {sil['id']})"
        assert update["attachments"][0]["color"] == RED  # still firing: the colour it had
        assert await states(client) == {FP1: "firing", FP2: "firing", FP_OTHER: "firing"}


async def unchanged(client, server: RecordingServer) -> None:
    """Nothing happened: every alert fires, no silence, no message update."""
    assert await states(client) == {FP1: "firing", FP2: "firing", FP_OTHER: "firing"}
    assert await (await client.get("/api/v2/silences")).json() == []
    await asyncio.sleep(0.05)
    assert not [r for r in server.requests if r.path.startswith("/r")]


async def test_slack_refuses_a_bad_signature(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)
        for action in ("tocsin_ack", "tocsin_silence", "tocsin_resolve"):
            resp = await send_slack(client, click(message, action, f"{server.url}/r"), clock.now(),
                                    secret="not-the-secret")
            assert resp.status == 401
            assert await resp.json() == {"error": "invalid signature"}
        # A valid signature of another body.
        body, headers = slack_request(click(message, "tocsin_ack", f"{server.url}/r"), clock.now())
        resp = await client.post(SLACK_PATH, data=body + b"&x=1", headers=headers)
        assert (resp.status, await resp.json()) == (401, {"error": "invalid signature"})
        await unchanged(client, server)


@pytest.mark.parametrize("skew", [-361, 361])
async def test_slack_refuses_a_stale_or_future_timestamp(tmp_path, server, skew):
    clock = FakeClock(T0)
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)
        # Correctly signed, but six minutes away from tocsin's clock.
        resp = await send_slack(client, click(message, "tocsin_ack", f"{server.url}/r"), clock.now() + skew)
        assert resp.status == 401
        assert await resp.json() == {"error": "stale timestamp"}
        await unchanged(client, server)
        # Within five minutes it is taken.
        resp = await send_slack(client, click(message, "tocsin_ack", f"{server.url}/r"),
                                clock.now() + (300 if skew > 0 else -300))
        assert resp.status == 200
        assert (await alert(client, FP1))["state"] == "acknowledged"


@pytest.mark.parametrize("drop", ["X-Slack-Signature", "X-Slack-Request-Timestamp", "both"])
async def test_slack_refuses_missing_headers(tmp_path, server, drop):
    clock = FakeClock(T0)
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)
        body, headers = slack_request(click(message, "tocsin_ack", f"{server.url}/r"), clock.now())
        for name in ("X-Slack-Signature", "X-Slack-Request-Timestamp"):
            if drop in (name, "both"):
                del headers[name]
        resp = await client.post(SLACK_PATH, data=body, headers=headers)
        assert (resp.status, await resp.json()) == (401, {"error": "invalid signature"})
        await unchanged(client, server)


async def test_slack_refuses_a_timestamp_that_is_not_a_number(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)
        ts = f"{int(clock.now())}.5"
        body, headers = slack_request(click(message, "tocsin_ack", f"{server.url}/r"), ts)
        resp = await client.post(SLACK_PATH, data=body, headers=headers)
        assert (resp.status, await resp.json()) == (401, {"error": "invalid signature"})
        await unchanged(client, server)


async def test_slack_actions_not_configured(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url, ""), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)
        resp = await send_slack(client, click(message, "tocsin_ack", f"{server.url}/r"), clock.now())
        assert resp.status == 403
        assert await resp.json() == {"error": "Slack actions are not configured"}
        await unchanged(client, server)


async def test_slack_signing_secret_file_is_read_at_each_request(tmp_path, server):
    clock = FakeClock(T0)
    secret_file = tmp_path / "slack-secret"
    secret_file.write_text(f"  {SLACK_SECRET}\n")
    integrations = f"integrations:\n  slack:\n    signing_secret_file: {secret_file}\n"
    async with api_client(config(server.url, integrations), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)
        resp = await send_slack(client, click(message, "tocsin_silence", f"{server.url}/r"), clock.now())
        assert resp.status == 200
        assert len(await (await client.get("/api/v2/silences")).json()) == 1

        secret_file.write_text("rotated\n")
        resp = await send_slack(client, click(message, "tocsin_ack", f"{server.url}/r"), clock.now())
        assert (resp.status, await resp.json()) == (401, {"error": "invalid signature"})
        resp = await send_slack(client, click(message, "tocsin_ack", f"{server.url}/r2"), clock.now(),
                                secret="rotated")
        assert resp.status == 200
        assert (await alert(client, FP1))["state"] == "acknowledged"

        secret_file.unlink()
        with structlog.testing.capture_logs() as logs:
            resp = await send_slack(client, click(message, "tocsin_resolve", f"{server.url}/r3"), clock.now(),
                                    secret="rotated")
        assert resp.status == 500
        [entry] = [e for e in logs if e["log_level"] == "error"]
        assert entry["event"] == "slack signing secret file cannot be read; refusing callbacks"
        assert (entry["path"], entry["error"]) == (str(secret_file), "No such file or directory")
        assert await resp.json() == {"error": "the Slack signing secret cannot be read (see tocsin's log)"}
        assert (await alert(client, FP1))["state"] == "acknowledged"


async def test_slack_says_when_alerts_are_resolved_or_gone(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)
        resp = await client.post(f"/api/tocsin/v1/alerts/{FP1}/resolve", json={"who": "carol"})
        assert resp.status == 200

        # One of the two is resolved: the other is acknowledged, the message says both.
        resp = await send_slack(client, click(message, "tocsin_ack", f"{server.url}/r1"), clock.now())
        assert resp.status == 200
        [update] = await to(server, "/r1")
        assert context_lines(update)[-1] == "✅ Acknowledged by alice (1 of 2 alerts) · 1 already resolved"
        assert list(buttons(update)) == ["tocsin_silence", "tocsin_resolve"]
        assert (await alert(client, FP2))["state"] == "acknowledged"

        # A single resolved alert, and one tocsin never had.
        resp = await send_slack(client, click(message, "tocsin_ack", f"{server.url}/r2", value=FP1),
                                clock.now())
        assert resp.status == 200
        [update] = await to(server, "/r2")
        assert context_lines(update)[-1] == "Could not acknowledge: already resolved"
        assert list(buttons(update)) == ["tocsin_silence"]  # neither applies to a resolved alert
        assert update["attachments"][0]["color"] == GREEN

        resp = await send_slack(client, click(message, "tocsin_resolve", f"{server.url}/r3",
                                              value="00000000deadbeef"), clock.now())
        assert resp.status == 200
        [update] = await to(server, "/r3")
        assert context_lines(update)[-1] == "Could not resolve: alert no longer exists"
        assert (await alert(client, FP2))["state"] == "acknowledged"


async def test_slack_ignores_other_buttons_and_interactions(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)
        payload = click(message, "tocsin_ack", f"{server.url}/r")
        payload["actions"][0].update(action_id="runbook-0", value="")
        resp = await send_slack(client, payload, clock.now())
        assert (resp.status, await resp.read()) == (200, b"")
        resp = await send_slack(client, {"type": "view_submission", "user": {"id": "U1"}}, clock.now())
        assert (resp.status, await resp.read()) == (200, b"")
        await unchanged(client, server)
        # Signed, but not a form with a payload.
        ts = str(int(clock.now()))
        sig = hmac.new(SLACK_SECRET.encode(), f"v0:{ts}:{{}}".encode(), hashlib.sha256).hexdigest()
        resp = await client.post(SLACK_PATH, data=b"{}", headers={
            "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={sig}"})
        assert resp.status == 400


async def test_slack_silence_with_bad_matchers_says_so(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)
        for i, value in enumerate(['{"bad name":"x"}', "not json", "{}"]):
            payload = click(message, "tocsin_silence", f"{server.url}/r{i}", value=value)
            resp = await send_slack(client, payload, clock.now())
            assert resp.status == 200
            [update] = await to(server, f"/r{i}")
            assert context_lines(update)[-1].startswith("Could not silence: ")
            assert "tocsin_silence" in buttons(update)
        assert await (await client.get("/api/v2/silences")).json() == []


async def test_slack_only_posts_to_http_response_urls(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)
        with structlog.testing.capture_logs() as logs:
            resp = await send_slack(client, click(message, "tocsin_ack", "file:///etc/passwd"), clock.now())
        assert resp.status == 200
        assert (await alert(client, FP1))["state"] == "acknowledged"
        assert "slack action without a usable response_url; the message stays as it was" in [
            e["event"] for e in logs]
        assert not [e for e in logs if e["event"] == "slack message not updated"]
        await rt.settle()  # the acknowledgement's announcement is out

        # A response_url that fails is logged, not raised.
        server.answer_next(404, body=b"expired_url")
        with structlog.testing.capture_logs() as logs:
            resp = await send_slack(client, click(message, "tocsin_resolve", f"{server.url}/r"), clock.now())
            assert resp.status == 200
            await to(server, "/r")
            await rt.bus.drained()
            await wait_until(lambda: any(e["event"] == "slack message not updated" for e in logs))
        [failed] = [e for e in logs if e["event"] == "slack message not updated"]
        assert "HTTP 404" in failed["error"]
        assert "/r" not in failed["error"]


async def test_slack_without_the_original_message_answers_the_user_alone(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)
        payload = click(message, "tocsin_ack", f"{server.url}/r")
        del payload["message"]
        resp = await send_slack(client, payload, clock.now())
        assert resp.status == 200
        assert await to(server, "/r") == [{"replace_original": False, "response_type": "ephemeral",
                                           "text": "✅ Acknowledged by alice (2 of 2 alerts)"}]


async def test_slack_the_same_request_again_changes_nothing(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)
        body, headers = slack_request(click(message, "tocsin_ack", f"{server.url}/r1"), clock.now())
        resp = await client.post(SLACK_PATH, data=body, headers=headers)
        assert resp.status == 200
        assert (await alert(client, FP1))["state"] == "acknowledged"
        await to(server, "/r1")
        for fp in (FP1, FP2):
            resp = await client.post(f"/api/tocsin/v1/alerts/{fp}/unack", json={"who": "carol"})
            assert resp.status == 200

        clock.advance(240)  # still within the five minutes
        with structlog.testing.capture_logs() as logs:
            resp = await client.post(SLACK_PATH, data=body, headers=headers)
        assert (resp.status, await resp.read()) == (200, b"")
        [entry] = [e for e in logs if e["event"] == "slack action delivered again; ignored"]
        assert entry["log_level"] == "warning"
        assert await states(client) == {FP1: "firing", FP2: "firing", FP_OTHER: "firing"}
        await asyncio.sleep(0.05)
        assert len([r for r in server.requests if r.path == "/r1"]) == 1  # the message is left alone

        # The same click signed at another second is another request (Slack never sends one).
        resp = await send_slack(client, click(message, "tocsin_ack", f"{server.url}/r1"), clock.now())
        assert (await alert(client, FP1))["state"] == "acknowledged"


async def test_slack_requests_handled_outlive_a_restart(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)
        body, headers = slack_request(click(message, "tocsin_resolve", f"{server.url}/r1"), clock.now())
        assert (await client.post(SLACK_PATH, data=body, headers=headers)).status == 200
        assert (await alert(client, FP1))["state"] == "resolved"
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        await firing_group(rt, server)  # fired again: new incidents
        assert (await client.post(SLACK_PATH, data=body, headers=headers)).status == 200
        assert await states(client) == {FP1: "firing", FP2: "firing", FP_OTHER: "firing"}


async def test_slack_request_not_recorded_does_nothing(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        message = await firing_group(rt, server)

        async def failing(*args: Any) -> None:
            raise StorageError("disk full")

        rt.store.save_callback_id = failing  # type: ignore[method-assign]
        resp = await send_slack(client, click(message, "tocsin_silence", f"{server.url}/r"), clock.now())
        assert (resp.status, await resp.json()) == (503, {"error": "not recorded (storage error), try again"})
        await unchanged(client, server)
