"""The remediation engine's guards, approval flow, records and announcements,
end to end through the HTTP API on the fake clock. The kind here is a small
real one that records what it was asked to run; the built-in kinds have their
own tests."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tocsin import hookimpl
from tocsin.core.clock import FakeClock
from tocsin.remediation import ExecContext, Outcome, RemediationConfig, RemediationKind, Rendered
from tocsin.testing import RecordingServer, advance, api_client, wait_until

T0 = 1_700_000_000.0
RUNS: list[dict[str, Any]] = []
#: While set, a run hangs until it is cancelled (tocsin stopping under it).
HANG: list[bool] = []


class FixConfig(RemediationConfig, kw_only=True):
    succeed: bool = True


class Fix:
    def __init__(self, config: FixConfig, templates: Any) -> None:
        self.config = config

    def render(self, data: dict[str, Any]) -> Rendered:
        instance = data["labels"].get("instance", "")
        return Rendered(summary=f"fix {instance}", detail={"instance": instance})

    async def execute(self, rendered: Rendered, ctx: ExecContext) -> Outcome:
        RUNS.append({**rendered.detail, "fingerprint": ctx.fingerprint})
        if HANG:
            await asyncio.Event().wait()
        if self.config.succeed:
            return Outcome(ok=True, exit_code=0, output="fixed")
        return Outcome(ok=False, exit_code=3, output="still broken")


class Kinds:
    @hookimpl
    def tocsin_remediation_kinds(self) -> list[RemediationKind]:
        return [RemediationKind("fix", FixConfig, Fix)]


@pytest.fixture(autouse=True)
def _clear():
    RUNS.clear()
    HANG.clear()


def config(url: str, remediation: str, *, extra_route: str = "") -> str:
    return f"""
global: {{resolve_timeout: 24h}}
route:
  receiver: ops
  group_by: [alertname, instance]
  group_wait: 30s
  group_interval: 1m
  routes:
    - matchers: ['alertname="AppDown"']
      receiver: ops
      remediations: [restart]
{extra_route}
receivers:
  - name: ops
    webhook_configs: [{{url: "{url}/ops"}}]
  - name: pd
    pagerduty_configs: [{{routing_key: "0123456789abcdef0123456789abcdef", url: "{url}/v2/enqueue"}}]
remediations:
  - name: restart
    kind: fix
{remediation}
"""


async def fire(client, instance: str = "db1", name: str = "AppDown") -> dict:
    resp = await client.post("/api/v2/alerts", json=[{"labels": {"alertname": name, "instance": instance}}])
    assert resp.status == 200
    return {"alertname": name, "instance": instance}


async def runs(client, query: str = "") -> list[dict]:
    resp = await client.get(f"/api/tocsin/v1/remediations{query}")
    assert resp.status == 200
    return await resp.json()


def notices(server: RecordingServer) -> list[str]:
    return [r.json()["notice"]["text"] for r in server.requests
            if r.path == "/ops" and "notice" in r.json()]


async def test_a_firing_alert_is_remediated_recorded_and_announced(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url, ""), tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client)
        await advance(rt, 30)
        assert [r["instance"] for r in RUNS] == ["db1"]
        [run] = await runs(client)
        assert run["state"] == "succeeded"
        assert run["remediation"] == "restart"
        assert run["kind"] == "fix"
        assert run["trigger"].startswith("route ")
        assert run["alertname"] == "AppDown"
        assert run["summary"] == "fix db1"
        assert run["rendered"] == {"instance": "db1"}
        assert (run["exit_code"], run["output"]) == (0, "fixed")
        assert run["duration_seconds"] is not None
        assert run["finished_at"] is not None
        assert notices(server) == ["Remediation restart succeeded (exit 0) · fix db1"]
        fp = run["fingerprint"]
        hist = (await (await client.get(f"/api/tocsin/v1/alerts/{fp}/history")).json())["history"]
        assert [(h["kind"], h["detail"].get("state")) for h in hist if h["kind"] == "remediation"] == [
            ("remediation", "running"), ("remediation", "succeeded")]
        assert b'tocsin_remediation_runs_total{remediation="restart",state="succeeded"} 1.0' in (
            await (await client.get("/metrics")).read())

        # Other alerts, and alerts on routes that name no remediation, are left alone.
        await fire(client, name="Other")
        await advance(rt, 30)
        assert len(RUNS) == 1


async def test_a_failed_run_says_so(tmp_path, server):
    clock = FakeClock(T0)
    cfg = config(server.url, "    succeed: false")
    async with api_client(cfg, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client)
        await advance(rt, 30)
        [run] = await runs(client)
        assert (run["state"], run["exit_code"], run["output"]) == ("failed", 3, "still broken")
        assert notices(server)[0].startswith("Remediation restart failed (exit 3")


async def test_for_waits_until_the_alert_has_fired_long_enough(tmp_path, server):
    clock = FakeClock(T0)
    cfg = config(server.url, "    for: 2m")
    async with api_client(cfg, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client)
        await advance(rt, 30)  # flushed, but firing for 30s only
        assert RUNS == []
        assert await runs(client) == []
        await advance(rt, 89)
        assert RUNS == []
        await advance(rt, 1)  # exactly 2m after it started: looked at again, not at the next flush
        assert len(RUNS) == 1


async def test_for_is_not_met_by_an_alert_that_resolves_first(tmp_path, server):
    clock = FakeClock(T0)
    cfg = config(server.url, "    for: 2m")
    async with api_client(cfg, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client)
        await advance(rt, 30)
        resp = await client.post("/api/v2/alerts", json=[{
            "labels": {"alertname": "AppDown", "instance": "db1"}, "endsAt": "2023-11-14T22:14:00Z"}])
        assert resp.status == 200
        await advance(rt, 120)
        assert RUNS == []


async def test_cooldown_per_alert_and_max_per_hour_per_remediation(tmp_path, server):
    clock = FakeClock(T0)
    cfg = config(server.url, "    cooldown: 10m\n    max_per_hour: 2")
    async with api_client(cfg, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client, "db1")
        await advance(rt, 30)
        for _ in range(5):  # five more flushes within the cooldown
            await advance(rt, 60)
        assert [r["instance"] for r in RUNS] == ["db1"]

        await fire(client, "db2")
        await fire(client, "db3")
        await advance(rt, 30)
        assert sorted(r["instance"] for r in RUNS) == ["db1", "db2"]
        states = sorted((r["labels"]["instance"], r["state"]) for r in await runs(client))
        assert states == [("db1", "succeeded"), ("db2", "succeeded"), ("db3", "skipped")]
        skipped = next(r for r in await runs(client) if r["state"] == "skipped")
        assert skipped["reason"] == "max_per_hour (2) reached"

        # Past db1's cooldown, still within the hour: the limit holds.
        await advance(rt, 10 * 60)
        assert len(RUNS) == 2
        # db1's run leaves the hour: one more may run (db1 or db3, whichever flushes
        # first); db2's still counts, so the other is skipped.
        await advance(rt, 30 + 3600 + 1 - clock.now() + T0)  # db1's run is 1s past the hour
        assert len(RUNS) == 3
        assert RUNS[-1]["instance"] in ("db1", "db3")


async def test_dry_run_records_and_announces_but_runs_nothing(tmp_path, server):
    clock = FakeClock(T0)
    cfg = config(server.url, "    dry_run: true")
    async with api_client(cfg, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client)
        await advance(rt, 30)
        assert RUNS == []
        [run] = await runs(client)
        assert run["state"] == "dry_run"
        assert run["dry_run"] is True
        assert run["summary"] == "fix db1"
        assert notices(server) == ["Remediation restart (dry run) would run fix db1"]


async def test_muted_alerts_are_not_remediated(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(config(server.url, ""), tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        resp = await client.post("/api/v2/silences", json={
            "matchers": [{"name": "instance", "value": "db1", "isRegex": False}],
            "startsAt": "2023-11-14T22:13:20Z", "endsAt": "2023-11-14T23:13:20Z",
            "createdBy": "ops", "comment": "maintenance"})
        assert resp.status == 200
        await fire(client, "db1")
        await fire(client, "db2")
        await advance(rt, 30)
        assert [r["instance"] for r in RUNS] == ["db2"]


async def test_approval_flow(tmp_path, server):
    clock = FakeClock(T0)
    cfg = config(server.url, "    require_approval: true\n    confidence: medium\n"
                             "    description: restart the app server")
    async with api_client(cfg, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client, "db1")
        await fire(client, "db2")
        await fire(client, "db3")
        await advance(rt, 30)
        assert RUNS == []
        pending = await runs(client, "?state=pending_approval")
        assert len(pending) == 3
        assert {r["confidence"] for r in pending} == {"medium"}
        assert {r["description"] for r in pending} == {"restart the app server"}
        by = {r["labels"]["instance"]: r["id"] for r in pending}
        assert any("restart (restart the app server) awaits approval" in t and "confidence medium" in t
                   for t in notices(server))
        # Still pending at the next flushes: no second request for approval.
        await advance(rt, 120)
        assert len(await runs(client)) == 3

        resp = await client.post(f"/api/tocsin/v1/remediations/{by['db1']}/approve",
                                 json={"who": "alice", "note": "go"})
        assert resp.status == 202
        await advance(rt, 0)
        assert [r["instance"] for r in RUNS] == ["db1"]
        done = await (await client.get(f"/api/tocsin/v1/remediations/{by['db1']}")).json()
        assert (done["state"], done["trigger"], done["decided_by"], done["note"]) == (
            "succeeded", "approved by alice", "alice", "go")

        resp = await client.post(f"/api/tocsin/v1/remediations/{by['db2']}/reject", json={"who": "bob"})
        assert resp.status == 200
        assert (await resp.json())["state"] == "rejected"
        # Deciding twice is a conflict.
        resp = await client.post(f"/api/tocsin/v1/remediations/{by['db2']}/approve", json={"who": "x"})
        assert resp.status == 409

        # db3 resolves; an approval that comes afterwards runs nothing.
        resp = await client.post("/api/v2/alerts", json=[{
            "labels": {"alertname": "AppDown", "instance": "db3"}, "endsAt": "2023-11-14T22:15:00Z"}])
        assert resp.status == 200
        resp = await client.post(f"/api/tocsin/v1/remediations/{by['db3']}/approve", json={"who": "alice"})
        assert resp.status == 409
        body = await resp.json()
        assert body["run"]["state"] == "cancelled"
        assert "resolved" in body["error"]
        await advance(rt, 0)
        assert [r["instance"] for r in RUNS] == ["db1"]
        resp = await client.post("/api/tocsin/v1/remediations/nope/approve", json={"who": "x"})
        assert resp.status == 404


async def test_a_pending_approval_survives_a_restart(tmp_path, server):
    clock = FakeClock(T0)
    cfg = config(server.url, "    require_approval: true")
    async with api_client(cfg, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client)
        await advance(rt, 30)
        [pending] = await runs(client)
    async with api_client(cfg, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await advance(rt, 60)  # flushes again: still one pending run, not a second
        assert [r["id"] for r in await runs(client)] == [pending["id"]]
        resp = await client.post(f"/api/tocsin/v1/remediations/{pending['id']}/approve", json={"who": "a"})
        assert resp.status == 202
        await advance(rt, 0)
        assert len(RUNS) == 1


async def test_pagerduty_receivers_get_a_change_event(tmp_path, server):
    clock = FakeClock(T0)
    route = """    - matchers: ['alertname="Disk"']
      receiver: pd
      remediations: [restart]"""
    async with api_client(config(server.url, "", extra_route=route), tmp_path, clock=clock,
                          plugins=[Kinds()]) as (client, rt):
        await fire(client, "db9", name="Disk")
        await advance(rt, 30)
        change = [r for r in server.requests if r.path == "/v2/change/enqueue"]
        assert len(change) == 1
        body = change[0].json()
        assert body["routing_key"] == "0123456789abcdef0123456789abcdef"
        assert body["payload"]["summary"].startswith("Remediation restart succeeded")
        assert body["payload"]["source"] == "tocsin"
        assert 'instance="db9"' in body["payload"]["custom_details"]["alerts"]


async def test_remediation_config_errors_name_the_field(tmp_path):
    from tocsin.config.document import ConfigError
    from tocsin.testing import make_config, make_plugins

    pm = make_plugins([Kinds()])
    bad = """
route:
  receiver: a
  routes: [{receiver: a, remediations: [nope]}]
receivers: [{name: a}]
remediations:
  - {name: r1, kind: fix, max_per_hour: 0}
  - {name: r2, kind: teleport}
  - {name: r3, kind: fix, succeed: maybe}
"""
    with pytest.raises(ConfigError) as err:
        make_config(bad, pm)
    text = str(err.value)
    assert "route.routes[0].remediations[0]: undefined remediation 'nope'" in text
    assert "remediations[0].max_per_hour: must be at least 1" in text
    assert "remediations[1].kind: unknown remediation kind 'teleport'" in text
    assert "remediations[2].succeed" in text


async def test_a_run_cut_off_by_a_stop_is_recorded_interrupted_and_does_not_block(tmp_path, server):
    """tocsin stops (past its shutdown deadline) while a run is running: the run is
    recorded ``interrupted``, not left ``running``, so after a restart the alert's
    next flush may run it again (cooldown 0s) and the record says what happened."""
    clock = FakeClock(T0)
    cfg = config(server.url, "    cooldown: 0s").replace(
        "global: {resolve_timeout: 24h}", "global: {resolve_timeout: 24h}\nserver: {shutdown_timeout: 200ms}")
    HANG.append(True)
    async with api_client(cfg, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client)
        clock.advance(30)  # not advance(): that waits for the run, which hangs
        rt.scheduler.run_due()
        await wait_until(lambda: RUNS)
        assert len(RUNS) == 1
        [run] = await runs(client)
        assert run["state"] == "running"
    HANG.clear()
    async with api_client(cfg, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        [cut] = await runs(client)
        assert (cut["id"], cut["state"]) == (run["id"], "interrupted")
        assert "stopped while it ran" in cut["reason"]
        await advance(rt, 60)  # the next flush: a new run, not blocked by the old one
        assert len(RUNS) == 2
        assert [r["state"] for r in await runs(client)] == ["succeeded", "interrupted"]


async def test_a_run_left_running_by_a_crash_is_marked_interrupted_at_start(tmp_path, server):
    """A crash (no chance to record anything) leaves ``running`` in the store; the next
    start marks it ``interrupted``."""
    import msgspec

    clock = FakeClock(T0)
    cfg = config(server.url, "    cooldown: 0s")
    async with api_client(cfg, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client)
        await advance(rt, 30)
        [done] = rt.remediator.runs.values()
        # What a kill -9 mid-run leaves behind: the record as it was when the run started.
        left = msgspec.structs.replace(done, state="running", finished_at=0.0, outcome=None)
        await rt.store.save(runs=[left])
    async with api_client(cfg, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        [cut] = await runs(client)
        assert cut["state"] == "interrupted"
        assert cut["finished_at"] is not None


VERIFIED = """
    verify: {within: 10m}
"""
#: A route with a verified remediation and an escalation policy whose second level is an
#: hour away; ``{more}``: lines that end the remediation (``then:``) or add others.
ESCALATED = """
global: {{resolve_timeout: 24h}}
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 30s
  routes:
    - matchers: ['alertname="DbDown"']
      receiver: ops
      remediations: [restart]
      escalation_policy: db
receivers:
  - name: ops
    webhook_configs: [{{url: "{url}/ops"}}]
  - name: pager
    webhook_configs: [{{url: "{url}/pager"}}]
escalation_policies:
  - name: db
    levels:
      - {{after: 0m, receivers: [ops]}}
      - {{after: 1h, receivers: [pager]}}
remediations:
  - name: restart
    kind: fix
    cooldown: 1h
    verify: {{within: 10m}}
{more}"""


async def test_a_run_that_does_not_resolve_its_alert_is_ineffective_and_escalates(tmp_path, server):
    clock = FakeClock(T0)
    text = ESCALATED.format(url=server.url, more="")
    async with api_client(text, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client, name="DbDown")
        await advance(rt, 30)
        [run] = await runs(client)
        assert run["state"] == "succeeded"
        assert run["verdict"] is None
        assert not any(r.path == "/pager" for r in server.requests)
        await advance(rt, 10 * 60)
        await advance(rt, 0)
        [run] = await runs(client)
        assert run["verdict"] == "ineffective"
        assert "still fired 10m" in run["reason"]
        # Escalation moved to its next level at once, not an hour after the alert fired.
        assert any(r.path == "/pager" for r in server.requests)
        assert any("restart ineffective" in t for t in notices(server))
        listed = await (await client.get("/api/tocsin/v1/alerts")).json()
        ref = listed["alerts"][0]["id"]
        hist = await (await client.get(f"/api/tocsin/v1/alerts/{ref}/history")).json()
        states = [h["detail"]["state"] for h in hist["history"] if h["kind"] == "remediation"]
        assert states[-1] == "ineffective"


async def test_a_run_whose_alert_resolves_in_time_is_verified(tmp_path, server):
    clock = FakeClock(T0)
    text = config(server.url, VERIFIED)
    async with api_client(text, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client)
        await advance(rt, 30)
        ended = {"labels": {"alertname": "AppDown", "instance": "db1"}, "endsAt": "2023-11-14T22:13:45Z"}
        resp = await client.post("/api/v2/alerts", json=[ended])  # ended just before now
        assert resp.status == 200
        await advance(rt, 10 * 60)
        [run] = await runs(client)
        assert run["verdict"] == "resolved"
        assert not any("ineffective" in t for t in notices(server))
