"""Replicas: ``Lifecycle.adopt`` takes in the incidents other replicas committed, and
follows their resolutions, so that a replica that leads later (or leads now) does not
escalate an incident another replica resolved."""

from __future__ import annotations

import msgspec

from tocsin.core.clock import FakeClock
from tocsin.core.records import RESOLVED
from tocsin.incidents.plan import resolved
from tocsin.testing import advance, api_client

from .test_lifecycle import CONFIG, T0, event, paths


async def test_a_resolution_committed_elsewhere_disarms_the_escalation(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, rt):
        created = await event(client, type="DBDown", severity="critical", labels={"team": "db"})
        await advance(rt, 30)
        assert paths(server) == ["/team"]
        held = rt.lifecycle.get(created["fingerprint"])
        assert held is not None
        assert held.open
        assert rt.lifecycle.pending()
        # Another replica resolved it: the row the change feed reads.
        rt.lifecycle.adopt(resolved(held, clock.now(), by="carol", resolution="manual"), armed=True)
        now_held = rt.lifecycle.get(created["fingerprint"])
        assert now_held is not None
        assert now_held.state == RESOLVED
        assert rt.lifecycle.pending() == []
        await advance(rt, 300)  # level 2 was due at 5m
        assert "/lead" not in paths(server)


async def test_a_follower_taking_over_does_not_arm_an_incident_resolved_elsewhere(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, rt):
        created = await event(client, type="DBDown", severity="critical", labels={"team": "db"})
        held = rt.lifecycle.get(created["fingerprint"])
        assert held is not None
        rt.lifecycle.stop()  # as a follower holds it: nothing armed
        rt.lifecycle.adopt(resolved(held, clock.now(), by="carol", resolution="manual"), armed=False)
        rt.lifecycle.start()  # takes over: arms what it holds open
        assert rt.lifecycle.pending() == []
        await advance(rt, 300)  # level 2 would be due at 5m
        assert "/lead" not in paths(server)


async def test_an_older_resolution_or_another_incident_leaves_the_held_one(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, rt):
        created = await event(client, type="DBDown", severity="critical", labels={"team": "db"})
        held = rt.lifecycle.get(created["fingerprint"])
        assert held is not None
        older = resolved(held, clock.now(), by="carol", resolution="manual")
        older = msgspec.structs.replace(older, id="0" * len(held.id), fired_at=held.fired_at - 3600)
        rt.lifecycle.adopt(older, armed=True)
        assert rt.lifecycle.get(created["fingerprint"]) == held
        assert rt.lifecycle.pending()
