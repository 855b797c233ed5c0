"""Acknowledgements that run out (``"for": "2h"``, a policy's ``ack_timeout``): while the
alert still fires it is unacknowledged, escalation resumes from the level it had reached,
and the history says why; a restart keeps the deadline. ``unack_on: [severity]`` clears
an acknowledgement when a worse form of the alert opens."""

from __future__ import annotations

import pytest

from tocsin.config.validate import ConfigError
from tocsin.core.clock import FakeClock
from tocsin.testing import advance, api_client, make_config

T0 = 1_700_000_000.0

CONFIG = """
global:
  resolve_timeout: 24h
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 24h
  routes:
    - matchers: ['team="db"']
      receiver: team
      escalation_policy: db-oncall
    - matchers: ['team="web"']
      receiver: team
      escalation_policy: web-oncall
    - matchers: ['team="api"']
      receiver: team
      escalation_policy: api-oncall
receivers:
  - name: team
    webhook_configs: [{{url: "{url}/team"}}]
  - name: lead
    webhook_configs: [{{url: "{url}/lead"}}]
  - name: pager
    webhook_configs: [{{url: "{url}/pager"}}]
escalation_policies:
  - name: db-oncall
    levels:
      - {{after: 0m, receivers: [team]}}
      - {{after: 5m, receivers: [lead]}}
      - {{after: 15m, receivers: [pager]}}
  - name: web-oncall
    ack_timeout: 30m
    levels:
      - {{after: 0m, receivers: [team]}}
      - {{after: 10m, receivers: [pager]}}
  - name: api-oncall
    unack_on: [severity]
    levels:
      - {{after: 0m, receivers: [team]}}
"""


def paths(server) -> list[str]:
    """Where notifications and escalations went (not the notices of (un)acknowledgements)."""
    return [r.path for r in server.requests
            if (r.json().get("notice") or {}).get("event") not in ("acknowledged", "unacknowledged")]


def notices(server, event: str) -> list[dict]:
    found = [r.json().get("notice") or {} for r in server.requests]
    return [n for n in found if n.get("event") == event]


async def fire(client, team: str) -> str:
    resp = await client.post("/api/v2/alerts", json=[{"labels": {"alertname": f"Down-{team}", "team": team}}])
    assert resp.status == 200
    listed = await (await client.get("/api/tocsin/v1/alerts")).json()
    return next(a["id"] for a in listed["alerts"] if a["labels"]["team"] == team)


async def state(client, ref: str) -> dict:
    return await (await client.get(f"/api/tocsin/v1/alerts/{ref}")).json()


async def test_an_ack_for_runs_out_and_escalation_resumes_where_it_was(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, rt):
        ref = await fire(client, "db")
        await advance(rt, 30)
        await advance(rt, 5 * 60)
        assert paths(server) == ["/team", "/lead"]
        resp = await client.post(f"/api/tocsin/v1/alerts/{ref}/ack", json={"who": "ana", "for": "1h"})
        assert resp.status == 200, await resp.text()
        acked = await resp.json()
        assert acked["ack_until"] is not None
        await advance(rt, 30 * 60)  # the pager level falls due while acknowledged: paused
        assert paths(server) == ["/team", "/lead"]
        assert (await state(client, ref))["state"] == "acknowledged"
        await advance(rt, 30 * 60)
        await advance(rt, 0)
        assert (await state(client, ref))["state"] == "firing"
        assert paths(server) == ["/team", "/lead", "/pager"]  # resumed at the level it had reached
        hist = (await (await client.get(f"/api/tocsin/v1/alerts/{ref}/history")).json())["history"]
        unack = next(h for h in hist if h["kind"] == "unacknowledged")
        assert unack["actor"] == "tocsin"
        assert unack["detail"]["source"] == "ack_timeout"
        assert "ran out after 1h" in unack["detail"]["note"]
        told = notices(server, "unacknowledged")
        assert told
        assert told[0]["actor"] == "tocsin"


async def test_a_policy_ack_timeout_is_the_default_and_survives_a_restart(tmp_path, server):
    clock = FakeClock(T0)
    config = CONFIG.format(url=server.url)
    async with api_client(config, tmp_path, clock=clock) as (client, rt):
        ref = await fire(client, "web")
        await advance(rt, 30)
        resp = await client.post(f"/api/tocsin/v1/alerts/{ref}/ack", json={"who": "bo"})
        assert (await resp.json())["ack_until"] is not None
        await advance(rt, 20 * 60)
    async with api_client(config, tmp_path, clock=clock) as (client, rt):
        assert (await state(client, ref))["state"] == "acknowledged"
        await advance(rt, 9 * 60)
        assert (await state(client, ref))["state"] == "acknowledged"
        await advance(rt, 2 * 60)
        await advance(rt, 0)
        assert (await state(client, ref))["state"] == "firing"
        assert paths(server)[-1] == "/pager"


async def test_an_ack_that_runs_out_after_the_alert_resolved_changes_nothing(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, rt):
        ref = await fire(client, "db")
        await advance(rt, 30)
        await client.post(f"/api/tocsin/v1/alerts/{ref}/ack", json={"for": "10m"})
        await client.post(f"/api/tocsin/v1/alerts/{ref}/resolve", json={})
        await advance(rt, 11 * 60)
        assert (await state(client, ref))["state"] == "resolved"
        hist = (await (await client.get(f"/api/tocsin/v1/alerts/{ref}/history")).json())["history"]
        assert "unacknowledged" not in [h["kind"] for h in hist]


async def test_for_is_checked(tmp_path, server):
    async with api_client(CONFIG.format(url=server.url), tmp_path) as (client, _):
        ref = await fire(client, "db")
        for body in ({"for": "soon"}, {"for": "0s"}):
            resp = await client.post(f"/api/tocsin/v1/alerts/{ref}/ack", json=body)
            assert resp.status == 400
            assert (await resp.json())["field"] == "for"
        resp = await client.post(f"/api/tocsin/v1/alerts/{ref}/resolve", json={"for": "1h"})
        assert resp.status == 400
        assert (await resp.json())["field"] == "for"
        assert (await state(client, ref))["state"] == "firing"


async def post_api(client, severity: str) -> str:
    labels = {"alertname": "Slow", "team": "api", "severity": severity}
    assert (await client.post("/api/v2/alerts", json=[{"labels": labels}])).status == 200
    listed = await (await client.get("/api/tocsin/v1/alerts")).json()
    return next(a["id"] for a in listed["alerts"] if a["labels"] == labels)


async def test_unack_on_severity_reopens_an_acked_alert_that_gets_worse(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, rt):
        warning = await post_api(client, "warning")
        await advance(rt, 30)
        assert (await client.post(f"/api/tocsin/v1/alerts/{warning}/ack", json={"who": "ana"})).status == 200
        await post_api(client, "info")  # not worse: the acknowledgement holds
        await advance(rt, 1)
        assert (await state(client, warning))["state"] == "acknowledged"
        await post_api(client, "critical")
        await advance(rt, 1)
        assert (await state(client, warning))["state"] == "firing"
        hist = (await (await client.get(f"/api/tocsin/v1/alerts/{warning}/history")).json())["history"]
        unack = next(h for h in hist if h["kind"] == "unacknowledged")
        assert unack["detail"]["source"] == "unack_on"
        assert "severity rose from warning to critical" in unack["detail"]["note"]


@pytest.mark.parametrize(("policy", "field"), [
    ("ack_timeout: 0s", "escalation_policies[0].ack_timeout"),
    ("unack_on: [colour]", "escalation_policies[0].unack_on[0]"),
])
def test_policy_fields_are_checked(policy, field):
    text = ("route: {receiver: r}\nreceivers: [{name: r}]\nescalation_policies:\n"
            f"  - {{name: p, levels: [{{receivers: [r]}}], {policy}}}\n")
    with pytest.raises(ConfigError) as err:
        make_config(text)
    assert field in str(err.value)
