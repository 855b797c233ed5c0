"""Runs a kind's safety rule refuses: recorded ``refused`` with the reason, announced,
never run; they count for the alert's cooldown, not for ``max_per_hour``. Through the
HTTP API on the fake clock, with a small real kind that refuses an instance starting
with ``-`` when it renders, and ``late`` when it runs."""

from __future__ import annotations

from typing import Any

from tests.unit.remediation.test_remediate import T0, config, fire, notices, runs
from tocsin import hookimpl
from tocsin.core.clock import FakeClock
from tocsin.remediation import (
    ExecContext,
    Outcome,
    RemediationConfig,
    RemediationKind,
    RemediationRefused,
    Rendered,
)
from tocsin.testing import advance, api_client

RAN: list[str] = []


class Guarded:
    def __init__(self, config: RemediationConfig, templates: Any) -> None:
        self.config = config

    def render(self, data: dict[str, Any]) -> Rendered:
        instance = data["labels"]["instance"]
        rendered = Rendered(summary=f"fix {instance}", detail={"instance": instance})
        if instance.startswith("-"):
            raise RemediationRefused(f"instance {instance!r} starts with '-'", rendered)
        return rendered

    async def execute(self, rendered: Rendered, ctx: ExecContext) -> Outcome:
        if rendered.detail["instance"] == "late":
            raise RemediationRefused("late is refused when it runs")
        RAN.append(rendered.detail["instance"])
        return Outcome(ok=True, exit_code=0)


class Kinds:
    @hookimpl
    def tocsin_remediation_kinds(self) -> list[RemediationKind]:
        return [RemediationKind("fix", RemediationConfig, Guarded)]


async def test_a_refused_render_is_recorded_announced_and_runs_nothing(tmp_path, server):
    RAN.clear()
    clock = FakeClock(T0)
    cfg = config(server.url, "    cooldown: 10m\n    max_per_hour: 1")
    async with api_client(cfg, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client, "--evil")
        await advance(rt, 30)
        [run] = await runs(client)
        assert RAN == []
        assert run["state"] == "refused"
        assert run["reason"] == "instance '--evil' starts with '-'"
        assert run["rendered"] == {"instance": "--evil"}  # what was refused is on record
        assert run["started_at"] is None
        assert run["exit_code"] is None
        assert notices(server) == [
            "Remediation restart refused: instance '--evil' starts with '-' · fix --evil"]
        assert [r["id"] for r in await runs(client, "?state=refused")] == [run["id"]]
        hist = (await (await client.get(f"/api/tocsin/v1/alerts/{run['fingerprint']}/history")).json())
        assert [h["detail"] for h in hist["history"] if h["kind"] == "remediation"] == [
            {"run": run["id"], "remediation": "restart", "state": "refused",
             "reason": "instance '--evil' starts with '-'"}]
        assert b'tocsin_remediation_runs_total{remediation="restart",state="refused"} 1.0' in (
            await (await client.get("/metrics")).read())

        for _ in range(3):  # later flushes of the same alert, within its cooldown: no new record
            await advance(rt, 60)
        assert len(await runs(client)) == 1
        # The refused run used none of max_per_hour (1): another alert's run still happens.
        await fire(client, "db1")
        await advance(rt, 30)
        assert RAN == ["db1"]


async def test_a_refusal_when_it_runs_is_recorded_refused(tmp_path, server):
    RAN.clear()
    clock = FakeClock(T0)
    async with api_client(config(server.url, ""), tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client, "late")
        await advance(rt, 30)
        [run] = await runs(client)
        assert RAN == []
        assert (run["state"], run["reason"]) == ("refused", "late is refused when it runs")
        assert run["started_at"] is not None
        assert run["finished_at"] is not None
        assert run["exit_code"] is None
        assert run["error"] is None
        assert notices(server) == ["Remediation restart refused: late is refused when it runs · fix late"]
