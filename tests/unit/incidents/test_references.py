"""Short references to alerts on tocsin's own API: a few hex digits that start or end an
alert's id, or start its fingerprint, name it when they name no other; one that names
several answers 409 with the candidates; every answer gives each alert's ``ref``."""

from __future__ import annotations

import pytest

from tocsin.core.clock import FakeClock
from tocsin.incidents import plan
from tocsin.testing import api_client

T0 = 1_700_000_000.0
CONFIG = "route: {receiver: r, group_wait: 1h}\nreceivers: [{name: r}]\n"


async def event(client, **body):
    resp = await client.post("/api/tocsin/v1/events", json=body)
    assert resp.status in (200, 201), await resp.text()
    return await resp.json()


async def get(client, ref, suffix=""):
    resp = await client.get(f"/api/tocsin/v1/alerts/{ref}{suffix}")
    return resp.status, await resp.json()


async def listing(client, query=""):
    resp = await client.get(f"/api/tocsin/v1/alerts?{query}")
    assert resp.status == 200, await resp.text()
    return (await resp.json())["alerts"]


async def test_alerts_of_one_moment_are_told_apart_by_the_end_of_their_id(tmp_path):
    """Ids start with their creation time: alerts raised together share every short
    prefix (the first report: ``alerts show 01a2`` said "no alert")."""
    clock = FakeClock(T0)
    async with api_client(CONFIG, tmp_path, clock=clock) as (client, _):
        made = [await event(client, type=name, severity="warning") for name in ("A", "B", "C")]
        ids = [m["id"] for m in made]
        assert len({i[:12] for i in ids}) == 1  # one millisecond: one prefix

        status, body = await get(client, ids[0][:4])
        assert status == 409
        assert body["error"].startswith(f"ambiguous: 3 alerts match '{ids[0][:4]}'")
        assert body["field"] == "id"
        assert body["count"] == 3
        assert sorted(c["id"] for c in body["candidates"]) == sorted(ids)
        assert all(c["id"].endswith(c["ref"]) for c in body["candidates"])

        listed = await listing(client)
        refs = {a["id"]: a["ref"] for a in listed}
        assert set(refs) == set(ids)
        for i in ids:
            assert len(refs[i]) == 8
            assert i.endswith(refs[i])
            status, body = await get(client, refs[i])
            assert (status, body["id"], body["ref"]) == (200, i, refs[i])
            status, body = await get(client, refs[i].upper())
            assert (status, body["id"]) == (200, i)
            status, body = await get(client, refs[i], "/history")
            assert (status, body["id"]) == (200, i)
        # a prefix that no other id starts with, as git takes one
        clock.advance(1)
        later = await event(client, type="D", severity="warning")
        status, body = await get(client, later["id"][:12])
        assert (status, body["id"]) == (200, later["id"])
        fp = made[2]["fingerprint"]
        status, body = await get(client, fp[:6])
        assert (status, body["id"]) == (200, ids[2])

        resp = await client.post(f"/api/tocsin/v1/alerts/{refs[ids[0]]}/ack", json={"who": "alice"})
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["id"] == ids[0]
        resp = await client.post(f"/api/tocsin/v1/alerts/{ids[0][:12]}/resolve", json={"who": "alice"})
        assert resp.status == 409
        assert (await resp.json())["count"] == 3
        assert (await get(client, ids[0]))[1]["state"] == "acknowledged"  # nothing was resolved


async def test_a_reference_that_names_nothing_says_so(tmp_path, backend):
    clock = FakeClock(T0)
    async with api_client(CONFIG, tmp_path, clock=clock, store=backend.store()) as (client, rt):
        made = await event(client, type="A", severity="warning")
        assert (await rt.store.incidents_named(made["id"][:2], 10))[0] == 1
        for pattern in ("*", "?", "[0-9]", "", "0*", "0%"):  # patterns match nothing
            assert await rt.store.incidents_named(pattern, 10) == (0, []), pattern
        for ref in ("fffffffe", "ab", "not-hex!"):
            status, body = await get(client, ref)
            assert status == 404, ref
            assert body["error"].startswith(f"no alert with id or fingerprint '{ref}'")
        assert "at least 4 characters" in (await get(client, "ab"))[1]["error"]
        resp = await client.post("/api/tocsin/v1/alerts/fffffffe/ack", json={"who": "a"})
        assert resp.status == 404


class Repeating:
    """Random bits that repeat: ids whose ends are the same."""

    def getrandbits(self, k: int) -> int:
        return 0x1234_5678_9ABC_DEF0_1234 & ((1 << k) - 1)


async def test_ids_that_end_alike_get_longer_references(tmp_path, monkeypatch):
    monkeypatch.setattr(plan, "_random", Repeating())
    clock = FakeClock(T0)
    async with api_client(CONFIG, tmp_path, clock=clock) as (client, _):
        # Ids hold their alert's fingerprint before their random end: the same alert, twice.
        first = await event(client, type="A", severity="warning")
        resp = await client.post(f"/api/tocsin/v1/alerts/{first['id']}/resolve", json={"who": "a"})
        assert resp.status == 200
        clock.advance(1.5)
        second = await event(client, type="A", severity="warning")
        assert first["id"][-20:] == second["id"][-20:]

        status, body = await get(client, first["id"][-8:])
        assert (status, body["count"]) == (409, 2)
        refs = {a["id"]: a["ref"] for a in await listing(client)}
        for made in (first, second):
            ref = refs[made["id"]]
            assert len(ref) > 20
            assert made["id"].endswith(ref)
            assert (await get(client, ref))[1]["id"] == made["id"]


async def test_a_fingerprint_names_its_latest_alert_and_an_older_one_keeps_its_reference(tmp_path):
    clock = FakeClock(T0)
    async with api_client(CONFIG, tmp_path, clock=clock) as (client, _):
        old = await event(client, type="A", severity="warning")
        resp = await client.post(f"/api/tocsin/v1/alerts/{old['id']}/resolve", json={"who": "a"})
        assert resp.status == 200
        clock.advance(60)
        new = await event(client, type="A", severity="warning")
        assert (new["fingerprint"], new["id"] != old["id"]) == (old["fingerprint"], True)

        assert (await get(client, old["fingerprint"][:5]))[1]["id"] == new["id"]
        refs = {a["id"]: a["ref"] for a in await listing(client)}
        status, body = await get(client, refs[old["id"]])
        assert (status, body["id"], body["state"]) == (200, old["id"], "resolved")


async def test_starts_at_is_the_senders_and_is_kept_with_the_alert(tmp_path):
    """``starts_at`` is the alert's startsAt (``fired_at``, when tocsin received it), also
    for an older alert of the fingerprint, which tocsin no longer holds in memory."""
    clock = FakeClock(T0)
    async with api_client(CONFIG, tmp_path, clock=clock) as (client, rt):
        resp = await client.post("/api/v2/alerts", json=[
            {"labels": {"alertname": "Old"}, "startsAt": "2023-11-14T20:00:00Z"}])
        assert resp.status == 200, await resp.text()
        [item] = await listing(client)
        assert item["starts_at"] == "2023-11-14T20:00:00.000Z"
        assert item["fired_at"] == "2023-11-14T22:13:20.000Z"  # T0
        resp = await client.post(f"/api/tocsin/v1/alerts/{item['id']}/resolve", json={"who": "a"})
        assert resp.status == 200
        clock.advance(60)
        resp = await client.post("/api/v2/alerts", json=[
            {"labels": {"alertname": "Old"}, "startsAt": "2023-11-14T22:14:00Z"}])
        assert resp.status == 200
        new, old = await listing(client)
        assert (old["id"], old["starts_at"]) == (item["id"], "2023-11-14T20:00:00.000Z")
        assert new["starts_at"] == "2023-11-14T22:14:00.000Z"
        stored = await rt.store.get_incident(item["id"])
        assert stored is not None
        assert stored.starts_at == pytest.approx(1_699_992_000.0)


async def test_the_store_finds_what_a_reference_could_name(backend):
    """An id's end that is also the start of another id, or of a fingerprint, is shared."""
    from tocsin.core.records import Incident

    def incident(id_: str, fp: str, at: float) -> Incident:
        return Incident(id=id_, fingerprint=fp, labels={"alertname": "A"}, fired_at=at, last_seen=at)

    store = backend.store()
    await store.open()
    try:
        await store.save(incidents=[
            incident("0" * 24 + "abcdef01", "1" * 16, 1.0),  # its end is...
            incident("2" * 32, "abcdef01" + "0" * 8, 2.0),  # ...this one's fingerprint's start
            incident("abcd1234" + "3" * 24, "4" * 16, 3.0),  # its start is...
            incident("5" * 24 + "abcd1234", "6" * 16, 4.0),  # ...this one's end
            incident("7" * 24 + "99999999", "8" * 16, 5.0),  # alone
        ])
        assert await store.shared_refs(["abcdef01", "abcd1234", "99999999", "00000000"], 8) == {
            "abcdef01", "abcd1234"}
        count, named = await store.incidents_named("abcdef01", 10)
        assert (count, [i.id for i in named]) == (2, ["2" * 32, "0" * 24 + "abcdef01"])  # newest first
        count, named = await store.incidents_named("abcd", 1)  # an id's start, a fingerprint's start
        assert (count, [i.id for i in named]) == (2, ["abcd1234" + "3" * 24])  # the limit, not the count
        count, named = await store.incidents_named("1234", 10)  # an id's end
        assert (count, [i.id for i in named]) == (1, ["5" * 24 + "abcd1234"])
        assert (await store.incidents_named("99999999", 10))[0] == 1
    finally:
        await store.close()
