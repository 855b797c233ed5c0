"""``verify`` and ``then:`` chains on the fake clock: an ineffective run runs the next
remediation of its chain (with every guard), the chain's end moves escalation on at
once, and a verification under way survives a restart."""

from __future__ import annotations

import pytest

from tests.unit.remediation.test_remediate import ESCALATED, RUNS, Kinds, _clear, notices, runs  # noqa: F401
from tocsin.core.clock import FakeClock
from tocsin.testing import RecordingServer, advance, api_client

T0 = 1_700_000_000.0

def chained(url: str, then: str, failover: str) -> str:
    """:data:`ESCALATED` with ``restart``'s ``then`` line and a ``failover`` remediation
    (``failover``: its lines)."""
    return ESCALATED.format(url=url, more=f"{then}\n  - name: failover\n    kind: fix\n{failover}\n")


@pytest.fixture
async def server():
    s = RecordingServer()
    await s.start()
    yield s
    await s.stop()


def paged(server: RecordingServer) -> bool:
    return any(r.path == "/pager" for r in server.requests)


async def fire(client) -> None:
    resp = await client.post("/api/v2/alerts", json=[{"labels": {"alertname": "DbDown"}}])
    assert resp.status == 200


async def fire_and_judge(client, rt) -> None:
    """DbDown fires, ``restart`` runs after group_wait, and its verdict falls due (10m)
    with what it sets off."""
    await fire(client)
    await advance(rt, 30)
    await advance(rt, 10 * 60)
    await advance(rt, 0)


async def by_name(client) -> dict[str, dict]:
    return {r["remediation"]: r for r in await runs(client)}


async def history_states(client) -> list[tuple[str, str]]:
    [alert] = (await (await client.get("/api/tocsin/v1/alerts")).json())["alerts"]
    hist = (await (await client.get(f"/api/tocsin/v1/alerts/{alert['id']}/history")).json())["history"]
    return [(h["detail"]["remediation"], h["detail"]["state"]) for h in hist if h["kind"] == "remediation"]


async def test_an_ineffective_run_runs_the_next_step_of_its_chain_then_escalates(tmp_path, server):
    text = chained(server.url, "    then: failover", "    verify: {within: 10m}")
    clock = FakeClock(T0)
    async with api_client(text, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client)
        await advance(rt, 30)
        assert list(await by_name(client)) == ["restart"]
        await advance(rt, 10 * 60)
        await advance(rt, 0)
        done = await by_name(client)
        assert done["restart"]["verdict"] == "ineffective"
        assert "next: failover" in done["restart"]["reason"]
        step = done["failover"]
        assert step["state"] == "succeeded"
        assert step["after"] == done["restart"]["id"]
        assert step["trigger"] == f"then: of restart (run {done['restart']['id']}, ineffective)"
        assert step["verify_by"] is not None
        assert not paged(server)  # the chain goes on: no escalation yet
        assert any(t.startswith("Remediation restart ineffective") for t in notices(server))

        await advance(rt, 10 * 60)
        await advance(rt, 0)
        assert (await by_name(client))["failover"]["verdict"] == "ineffective"
        assert paged(server)  # the chain's end: the next level at once, not 2h after firing
        assert await history_states(client) == [
            ("restart", "running"), ("restart", "succeeded"), ("restart", "ineffective"),
            ("failover", "running"), ("failover", "succeeded"), ("failover", "ineffective")]
        stats = await (await client.get("/api/tocsin/v1/stats?days=1")).json()
        assert [(r["remediation"], r["runs"], r["succeeded"], r["resolved_in_window"], r["ineffective"])
                for r in stats["remediations"]] == [("failover", 1, 1, 0, 1), ("restart", 1, 1, 0, 1)]


async def test_a_chain_step_that_fails_escalates_at_once(tmp_path, server):
    text = chained(server.url, "    then: failover", "    succeed: false")
    clock = FakeClock(T0)
    async with api_client(text, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire_and_judge(client, rt)
        assert (await by_name(client))["failover"]["state"] == "failed"
        assert paged(server)


async def test_a_chain_step_waits_for_approval_and_a_rejection_escalates(tmp_path, server):
    text = chained(server.url, "    then: failover", "    require_approval: true")
    clock = FakeClock(T0)
    async with api_client(text, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire_and_judge(client, rt)
        step = (await by_name(client))["failover"]
        assert step["state"] == "pending_approval"
        assert len(RUNS) == 1  # only restart ran: the step's guard holds it for a person
        assert not paged(server)
        resp = await client.post(f"/api/tocsin/v1/remediations/{step['id']}/reject", json={"who": "ana"})
        assert resp.status == 200
        await advance(rt, 0)
        assert paged(server)


async def test_a_chain_step_held_back_by_its_cooldown_escalates(tmp_path, server):
    # failover ran for this alert a minute ago (the route names it too): its cooldown holds it.
    text = chained(server.url, "    then: failover", "").replace(
        "remediations: [restart]", "remediations: [restart, failover]")
    clock = FakeClock(T0)
    async with api_client(text, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client)
        await advance(rt, 30)
        assert sorted(await by_name(client)) == ["failover", "restart"]
        await advance(rt, 10 * 60)
        await advance(rt, 0)
        assert [r["remediation"] for r in await runs(client)].count("failover") == 1
        assert paged(server)


async def test_without_then_an_ineffective_run_escalates(tmp_path, server):
    text = chained(server.url, "", "")
    clock = FakeClock(T0)
    async with api_client(text, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire_and_judge(client, rt)
        assert list(await by_name(client)) == ["restart"]
        assert "escalation moves on" in (await by_name(client))["restart"]["reason"]
        assert paged(server)


@pytest.mark.parametrize("down", [5 * 60, 30 * 60], ids=["back-before-the-deadline", "back-after-it"])
async def test_a_verification_under_way_survives_a_restart(tmp_path, server, down):
    text = chained(server.url, "", "")
    clock = FakeClock(T0)
    async with api_client(text, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client)
        await advance(rt, 30)
        [run] = await runs(client)
        assert run["verify_by"] is not None
        assert run["verdict"] is None
    clock.advance(down)
    async with api_client(text, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await advance(rt, 0)
        await advance(rt, 10 * 60 - down if down < 10 * 60 else 0)
        await advance(rt, 0)
        [run] = await runs(client)
        assert run["verdict"] == "ineffective"
        assert paged(server)


async def test_a_verification_under_way_is_judged_resolved_after_a_restart(tmp_path, server):
    text = chained(server.url, "", "")
    clock = FakeClock(T0)
    async with api_client(text, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await fire(client)
        await advance(rt, 30)
    async with api_client(text, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        ended = {"labels": {"alertname": "DbDown"}, "endsAt": "2023-11-14T22:13:45Z"}
        assert (await client.post("/api/v2/alerts", json=[ended])).status == 200
        await advance(rt, 10 * 60)
        await advance(rt, 0)
        [run] = await runs(client)
        assert run["verdict"] == "resolved"
        assert not paged(server)
        stats = await (await client.get("/api/tocsin/v1/stats?days=1")).json()
        [restart] = stats["remediations"]
        assert (restart["resolved_in_window"], restart["resolved_after"]) == (1, 1)
        assert restart["median_time_to_resolve"] is not None


def test_then_errors_name_the_field():
    from tocsin.config.document import ConfigError
    from tocsin.testing import make_config, make_plugins

    bad = """
route: {receiver: a}
receivers: [{name: a}]
remediations:
  - {name: r1, kind: fix, verify: {within: 1m}, then: nope}
  - {name: r2, kind: fix, then: r1}
  - {name: r3, kind: fix, verify: {within: 1m}, then: r4}
  - {name: r4, kind: fix, verify: {within: 1m}, then: r5}
  - {name: r5, kind: fix, verify: {within: 1m}, then: r3}
  - {name: r6, kind: fix, verify: {within: 1m}, then: r6}
  - {name: r7, kind: fix, verify: {within: 25h}}
"""
    with pytest.raises(ConfigError) as err:
        make_config(bad, make_plugins([Kinds()]))
    text = str(err.value)
    assert "remediations[0].then: undefined remediation 'nope'" in text
    assert "remediations[1].then: needs verify" in text
    assert "remediations[2].then: then: chain comes back on itself: r3 -> r4 -> r5 -> r3" in text
    assert "remediations[5].then: then: chain comes back on itself: r6 -> r6" in text
    assert "remediations[6].verify.within: must be at most 24h" in text
    assert text.count("comes back on itself") == 2
