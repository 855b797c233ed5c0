"""PagerDuty v3 webhooks end to end through the HTTP API, on the fake clock: signatures,
secret rotation, what each event does to the group's alerts, redeliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from tests.unit.channels.twoway import (
    FP1,
    FP2,
    FP_OTHER,
    PD_NEW,
    PD_OLD,
    T0,
    alert,
    config,
    firing_group,
    history,
    states,
    to,
)
from tocsin.channels.pagerduty import dedup_key
from tocsin.core.clock import FakeClock
from tocsin.core.timefmt import format_ts
from tocsin.store import StorageError
from tocsin.testing import RecordingServer, api_client

PD_PATH = "/api/tocsin/v1/integrations/pagerduty/webhook"


def pd_event(key: str, event_type: str = "incident.acknowledged", event_id: str = "01EVT1",
             agent: dict[str, str] | None = None, occurred_at: str = "2023-11-14T22:14:00.169Z",
             ) -> dict[str, Any]:
    """A v3 webhook payload as PagerDuty documents it (developer-docs, webhooks/01-Overview);
    it occurred 40 seconds after T0 by default."""
    return {"event": {
        "id": event_id,
        "event_type": event_type,
        "resource_type": "incident",
        "occurred_at": occurred_at,
        "agent": agent if agent is not None else {
            "html_url": "https://acme.pagerduty.com/users/PLH1HKV", "id": "PLH1HKV",
            "self": "https://api.pagerduty.com/users/PLH1HKV", "summary": "Tenex Engineer",
            "type": "user_reference"},
        "client": {"name": "PagerDuty"},
        "data": {
            "id": "PGR0VU2", "type": "incident", "self": "https://api.pagerduty.com/incidents/PGR0VU2",
            "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2", "number": 2,
            "status": event_type.rpartition(".")[2], "incident_key": key,
            "created_at": "2023-11-14T22:13:51Z", "title": "[FIRING:2] DiskFull",
            "urgency": "high", "resolve_reason": None,
        },
    }}


def pd_signature(body: bytes, *secrets: str) -> str:
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


async def send_pd(client, payload: dict[str, Any], *secrets: str, signature: str | None = None):
    body = json.dumps(payload).encode()
    sig = signature if signature is not None else pd_signature(body, *(secrets or (PD_NEW,)))
    return await client.post(PD_PATH, data=body, headers={
        "Content-Type": "application/json", "X-PagerDuty-Signature": sig, "X-Webhook-Id": "w1"})


async def disk_key(rt, server: RecordingServer) -> str:
    """The dedup key tocsin sent PagerDuty for the DiskFull group."""
    await firing_group(rt, server)
    events = await to(server, "/pagerduty", 2)
    [group] = [g for g in rt.dispatcher.groups.values() if g.labels == {"alertname": "DiskFull"}]
    key = dedup_key(group.key)
    assert key in [e["dedup_key"] for e in events]
    return key


async def test_pagerduty_acknowledged_acknowledges_the_group(tmp_path, server):
    async with api_client(config(server.url), tmp_path, clock=FakeClock(T0)) as (client, rt):
        key = await disk_key(rt, server)
        resp = await send_pd(client, pd_event(key))
        assert resp.status == 200
        assert await resp.json() == {"matched": 2, "changed": 2}
        assert await states(client) == {FP1: "acknowledged", FP2: "acknowledged", FP_OTHER: "firing"}
        for fp in (FP1, FP2):
            assert (await alert(client, fp))["acknowledged_by"] == "Tenex Engineer"
            assert ("acknowledged", "Tenex Engineer", "pagerduty") in await history(client, fp)

        # Another event saying the same: nothing more to do.
        resp = await send_pd(client, pd_event(key, event_id="01EVT2"))
        assert await resp.json() == {"matched": 2, "changed": 0}

        resp = await send_pd(client, pd_event(key, "incident.unacknowledged", "01EVT3"))
        assert await resp.json() == {"matched": 2, "changed": 2}
        assert await states(client) == {FP1: "firing", FP2: "firing", FP_OTHER: "firing"}
        assert ("unacknowledged", "Tenex Engineer", "pagerduty") in await history(client, FP1)


async def test_pagerduty_resolved_resolves_the_group(tmp_path, server):
    async with api_client(config(server.url), tmp_path, clock=FakeClock(T0)) as (client, rt):
        key = await disk_key(rt, server)
        resp = await send_pd(client, pd_event(key, "incident.resolved", agent={}))
        assert resp.status == 200
        assert await resp.json() == {"matched": 2, "changed": 2}
        assert await states(client) == {FP1: "resolved", FP2: "resolved", FP_OTHER: "firing"}
        got = await alert(client, FP1)
        assert (got["resolved_by"], got["resolution"]) == ("pagerduty", "manual")
        assert ("resolved", "pagerduty", "pagerduty") in await history(client, FP2)
        # Resolved already: nothing open is left to match.
        resp = await send_pd(client, pd_event(key, "incident.resolved", "01EVT9"))
        assert await resp.json() == {"matched": 0, "changed": 0}


async def test_pagerduty_refuses_a_bad_signature(tmp_path, server):
    async with api_client(config(server.url), tmp_path, clock=FakeClock(T0)) as (client, rt):
        key = await disk_key(rt, server)
        for sig in ("", "v1=00", "v0=abc", None):
            kw = {"signature": sig} if sig is not None else {}
            resp = await send_pd(client, pd_event(key), *(() if kw else ("wrong",)), **kw)
            assert resp.status == 401
            assert await resp.json() == {"error": "invalid signature"}
        # Signed for another body.
        body = json.dumps(pd_event(key)).encode()
        resp = await client.post(PD_PATH, data=body + b" ", headers={
            "X-PagerDuty-Signature": pd_signature(body, PD_NEW)})
        assert resp.status == 401
        assert await states(client) == {FP1: "firing", FP2: "firing", FP_OTHER: "firing"}
        # After refusals, the same event id is still taken.
        resp = await send_pd(client, pd_event(key))
        assert await resp.json() == {"matched": 2, "changed": 2}


async def test_pagerduty_rotation_accepts_either_secret(tmp_path, server):
    async with api_client(config(server.url), tmp_path, clock=FakeClock(T0)) as (client, rt):
        key = await disk_key(rt, server)
        resp = await send_pd(client, pd_event(key, event_id="E1"), PD_OLD)
        assert await resp.json() == {"matched": 2, "changed": 2}
        resp = await send_pd(client, pd_event(key, "incident.unacknowledged", "E2"), "unknown", PD_NEW)
        assert await resp.json() == {"matched": 2, "changed": 2}
        assert await states(client) == {FP1: "firing", FP2: "firing", FP_OTHER: "firing"}


async def test_pagerduty_redelivery_does_nothing(tmp_path, server):
    async with api_client(config(server.url), tmp_path, clock=FakeClock(T0)) as (client, rt):
        key = await disk_key(rt, server)
        event = pd_event(key)
        assert await (await send_pd(client, event)).json() == {"matched": 2, "changed": 2}
        resp = await client.post(f"/api/tocsin/v1/alerts/{FP1}/unack", json={"who": "carol"})
        assert resp.status == 200
        resp = await send_pd(client, event)
        assert resp.status == 200
        assert await resp.json() == {"matched": 0, "changed": 0, "duplicate": True}
        assert await states(client) == {FP1: "firing", FP2: "acknowledged", FP_OTHER: "firing"}

        # Without an event id, the SHA-256 of the signed body stands in (not the unsigned
        # X-Webhook-Id header, which whoever replays the body may change).
        anonymous = pd_event(key, "incident.resolved")
        anonymous["event"]["id"] = ""
        assert await (await send_pd(client, anonymous)).json() == {"matched": 2, "changed": 2}
        assert await states(client) == {FP1: "resolved", FP2: "resolved", FP_OTHER: "firing"}
        assert await (await send_pd(client, anonymous)).json() == {"matched": 0, "changed": 0,
                                                                   "duplicate": True}
        body = json.dumps(anonymous).encode()
        resp = await client.post(PD_PATH, data=body, headers={
            "X-PagerDuty-Signature": pd_signature(body, PD_NEW), "X-Webhook-Id": "another"})
        assert await resp.json() == {"matched": 0, "changed": 0, "duplicate": True}


async def test_pagerduty_unknown_key_and_other_events(tmp_path, server):
    async with api_client(config(server.url), tmp_path, clock=FakeClock(T0)) as (client, rt):
        key = await disk_key(rt, server)
        resp = await send_pd(client, pd_event("0" * 64))
        assert (resp.status, await resp.json()) == (200, {"matched": 0, "changed": 0})
        resp = await send_pd(client, pd_event(key, "incident.priority_updated", "E2"))
        assert (resp.status, await resp.json()) == (
            200, {"matched": 0, "changed": 0, "ignored": "incident.priority_updated"})
        no_key = pd_event(key, event_id="E3")
        del no_key["event"]["data"]["incident_key"]
        assert await (await send_pd(client, no_key)).json() == {"matched": 0, "changed": 0}
        resp = await send_pd(client, {"not": "a webhook"})
        assert resp.status == 400
        assert await states(client) == {FP1: "firing", FP2: "firing", FP_OTHER: "firing"}


async def test_pagerduty_not_configured(tmp_path, server):
    async with api_client(config(server.url, ""), tmp_path, clock=FakeClock(T0)) as (client, rt):
        key = await disk_key(rt, server)
        resp = await send_pd(client, pd_event(key))
        assert (resp.status, await resp.json()) == (403, {"error": "PagerDuty webhooks are not configured"})
        assert await states(client) == {FP1: "firing", FP2: "firing", FP_OTHER: "firing"}


async def test_pagerduty_webhook_secret_file(tmp_path, server):
    secret_file = tmp_path / "pd-secrets"
    secret_file.write_text(f"{PD_OLD}\n\n  {PD_NEW}  \n")
    integrations = f"integrations:\n  pagerduty:\n    webhook_secret_file: {secret_file}\n"
    async with api_client(config(server.url, integrations), tmp_path, clock=FakeClock(T0)) as (client, rt):
        key = await disk_key(rt, server)
        assert await (await send_pd(client, pd_event(key, event_id="E1"), PD_NEW)).json() == {
            "matched": 2, "changed": 2}
        secret_file.write_text("only-this\n")
        resp = await send_pd(client, pd_event(key, "incident.resolved", "E2"), PD_NEW)
        assert resp.status == 401
        secret_file.unlink()
        resp = await send_pd(client, pd_event(key, "incident.resolved", "E3"), PD_NEW)
        assert resp.status == 500
        assert await states(client) == {FP1: "acknowledged", FP2: "acknowledged", FP_OTHER: "firing"}


async def test_pagerduty_refuses_an_event_too_old_or_too_far_ahead(tmp_path, server):
    integrations = f"integrations:\n  pagerduty:\n    webhook_secrets: [{PD_NEW}]\n    max_event_age: 10m\n"
    clock = FakeClock(T0)
    async with api_client(config(server.url, integrations), tmp_path, clock=clock) as (client, rt):
        key = await disk_key(rt, server)
        now = clock.now()
        for occurred_at, why in [
            (format_ts(now - 601),
             "older than integrations.pagerduty.max_event_age (10m); refused as a replay"),
            (format_ts(now + 301), "more than 5m ahead of tocsin's clock; refused"),
            ("yesterday", "expected an ISO 8601 time"),
            (None, "expected an ISO 8601 time"),
        ]:
            event = pd_event(key, occurred_at=occurred_at or "")
            if occurred_at is None:
                del event["event"]["occurred_at"]
            resp = await send_pd(client, event)
            assert (resp.status, await resp.json()) == (
                400, {"error": f"event.occurred_at: {why}", "field": "event.occurred_at"})
        assert await states(client) == {FP1: "firing", FP2: "firing", FP_OTHER: "firing"}
        # A refused event was not recorded: the same id, in its window (either way), is taken.
        for occurred_at in (format_ts(now - 599), format_ts(now + 299), "2023-11-14T22:14:00+00:00"):
            event = pd_event(key, "incident.unacknowledged", occurred_at, occurred_at=occurred_at)
            resp = await send_pd(client, event)
            assert resp.status == 200, await resp.text()
        resp = await send_pd(client, pd_event(key, occurred_at=format_ts(now - 599)))
        assert await resp.json() == {"matched": 2, "changed": 2}


async def test_pagerduty_event_not_recorded_is_refused_for_a_retry(tmp_path, server):
    async with api_client(config(server.url), tmp_path, clock=FakeClock(T0)) as (client, rt):
        key = await disk_key(rt, server)
        real = rt.store.save_callback_id

        async def failing(*args: Any) -> None:
            raise StorageError("disk full")

        rt.store.save_callback_id = failing  # type: ignore[method-assign]
        resp = await send_pd(client, pd_event(key))
        assert (resp.status, await resp.json()) == (503, {"error": "not stored; PagerDuty will retry"})
        assert await states(client) == {FP1: "firing", FP2: "firing", FP_OTHER: "firing"}
        rt.store.save_callback_id = real  # type: ignore[method-assign]
        assert await (await send_pd(client, pd_event(key))).json() == {"matched": 2, "changed": 2}


async def test_pagerduty_event_whose_change_failed_is_taken_again(tmp_path, server):
    async with api_client(config(server.url), tmp_path, clock=FakeClock(T0)) as (client, rt):
        key = await disk_key(rt, server)
        real = rt.store.save

        async def failing(**kw: Any) -> None:
            raise StorageError("disk full")

        rt.store.save = failing  # type: ignore[method-assign]
        resp = await send_pd(client, pd_event(key, "incident.resolved"))
        assert resp.status == 503
        assert (await resp.json())["error"] == "not stored; PagerDuty will retry"
        rt.store.save = real  # type: ignore[method-assign]
        assert await rt.store.callback_seen("pagerduty", "01EVT1") is None  # forgotten for the retry
        assert await (await send_pd(client, pd_event(key, "incident.resolved"))).json() == {
            "matched": 2, "changed": 2}
        assert await states(client) == {FP1: "resolved", FP2: "resolved", FP_OTHER: "firing"}


async def test_pagerduty_event_ids_outlive_a_restart(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        key = await disk_key(rt, server)
        assert await (await send_pd(client, pd_event(key, "incident.resolved"))).json() == {
            "matched": 2, "changed": 2}
    async with api_client(config(server.url), tmp_path, clock=clock) as (client, rt):
        await firing_group(rt, server)  # fired again: new incidents of the same group
        assert await states(client) == {FP1: "firing", FP2: "firing", FP_OTHER: "firing"}
        resp = await send_pd(client, pd_event(key, "incident.resolved"))
        assert await resp.json() == {"matched": 0, "changed": 0, "duplicate": True}
        assert await states(client) == {FP1: "firing", FP2: "firing", FP_OTHER: "firing"}
