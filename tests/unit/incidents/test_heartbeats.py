"""Heartbeats (dead man's switches) on the fake clock: a beat by a matching alert (one
heartbeat per ``per`` value) or by POST; a missed one raises HeartbeatMissing through the
normal path, which resolves when beats return; last-seen times survive a restart, which
declares nothing missing before a full ``every + grace``; the config is checked."""

from __future__ import annotations

import pytest

from tocsin.config.validate import ConfigError
from tocsin.core.clock import FakeClock
from tocsin.incidents.heartbeats import MISSING, REPOST_EVERY
from tocsin.testing import advance, api_client, make_config, post, running

T0 = 1_700_000_000.0

CONFIG = """
route:
  receiver: ops
  group_by: [alertname, heartbeat]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: ops
    webhook_configs: [{{url: "{url}/ops", send_resolved: true}}]
heartbeats:
  - name: prometheus
    every: 1m
    grace: 30s
    matchers: ['alertname="Watchdog"']
    per: [prometheus]
    labels: {{severity: critical}}
    annotations: {{runbook: "https://runbooks/watchdog"}}
  - name: backup
    every: 1h
"""


def watchdog(prom: str) -> dict:
    return {"labels": {"alertname": "Watchdog", "prometheus": prom}}


def missing(server, status: str) -> list[dict]:
    out = []
    for r in server.requests:
        body = r.json()
        for a in body["alerts"]:
            if a["labels"].get("alertname") == MISSING and body["status"] == status:
                out.append(a["labels"])
    return out


async def test_a_missed_watchdog_raises_heartbeat_missing_and_resolves_when_it_returns(tmp_path, server):
    clock = FakeClock(T0)
    async with running(CONFIG.format(url=server.url), tmp_path, clock=clock) as rt:
        await post(rt, watchdog("a"), watchdog("b"))
        for _ in range(3):  # both beat for 3 minutes; then only "a"
            await advance(rt, 30)
            await post(rt, watchdog("a"), watchdog("b"))
        for _ in range(4):
            await advance(rt, 30)
            await post(rt, watchdog("a"))
        assert missing(server, "firing") == [
            {"alertname": MISSING, "heartbeat": "prometheus", "prometheus": "b", "severity": "critical"}]
        alert = next(a for a in server.requests[-1].json()["alerts"])
        assert alert["annotations"]["runbook"] == "https://runbooks/watchdog"
        states = {(h["name"], h["labels"].get("prometheus")): h["state"] for h in rt.heartbeats.listing()}
        assert states == {("prometheus", "a"): "ok", ("prometheus", "b"): "missing",
                          ("backup", None): "waiting"}

        # Still missing after the alert's first end: it is posted again, and keeps firing.
        for _ in range(12):
            await advance(rt, 30)
            await post(rt, watchdog("a"))
        fired = [a for a in rt.alerts if a.labels.get("alertname") == MISSING]
        assert len(fired) == 1
        assert not fired[0].resolved(clock.now())
        assert missing(server, "resolved") == []

        await post(rt, watchdog("b"))
        await advance(rt, 1)
        assert missing(server, "resolved")[-1]["prometheus"] == "b"
        assert fired[0].fingerprint in {a.fingerprint for a in rt.alerts if a.resolved(clock.now())}


async def test_a_posted_beat_keeps_a_heartbeat_alive(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, rt):
        for _ in range(3):
            await advance(rt, 50 * 60)
            resp = await client.post("/api/tocsin/v1/heartbeats/backup")
            assert resp.status == 200, await resp.text()
        assert missing(server, "firing") == []
        listed = await (await client.get("/api/tocsin/v1/heartbeats")).json()
        backup = next(h for h in listed if h["name"] == "backup")
        assert backup["state"] == "ok"
        assert backup["labels"] == {}
        assert backup["lastSeen"].startswith("2023-11-")
        await advance(rt, 61 * 60)
        assert missing(server, "firing") == [{"alertname": MISSING, "heartbeat": "backup"}]
        assert (await client.post("/api/tocsin/v1/heartbeats/backup", json={})).status == 200
        await advance(rt, 1)
        assert missing(server, "resolved") == [{"alertname": MISSING, "heartbeat": "backup"}]


async def test_a_posted_beat_names_what_is_wrong(tmp_path, server):
    async with api_client(CONFIG.format(url=server.url), tmp_path) as (client, _):
        resp = await client.post("/api/tocsin/v1/heartbeats/nope")
        assert resp.status == 404
        assert (await resp.json())["field"] == "name"
        resp = await client.post("/api/tocsin/v1/heartbeats/prometheus", json={})
        assert resp.status == 400
        assert (await resp.json())["field"] == "labels.prometheus"
        resp = await client.post("/api/tocsin/v1/heartbeats/backup", json={"labels": {"x": "y"}})
        assert (await resp.json())["field"] == "labels.x"
        resp = await client.post("/api/tocsin/v1/heartbeats/backup", json={"labelz": {}})
        assert resp.status == 400
        resp = await client.post("/api/tocsin/v1/heartbeats/prometheus", json={"labels": {"prometheus": "c"}})
        assert resp.status == 200
        assert (await resp.json())["labels"] == {"prometheus": "c"}


async def test_a_restart_keeps_last_seen_and_waits_a_full_period(tmp_path, server):
    clock = FakeClock(T0)
    config = CONFIG.format(url=server.url)
    async with running(config, tmp_path, clock=clock) as rt:
        await post(rt, watchdog("a"))
        await advance(rt, 10)
    # Down for an hour: far past every + grace, but a restart waits a full period first.
    clock.advance(3600)
    async with running(config, tmp_path, clock=clock) as rt:
        seen = {h["labels"].get("prometheus"): h for h in rt.heartbeats.listing()}
        assert seen["a"]["lastSeen"] == T0
        assert seen["a"]["state"] == "ok"
        await advance(rt, 85)
        assert missing(server, "firing") == []
        await advance(rt, 10)
        await advance(rt, 0)  # the group's first flush
        assert [m.get("prometheus") for m in missing(server, "firing")] == ["a"]
        await advance(rt, 10)  # the missing state is written with the rest
    # A restart while missing keeps the alert firing, and beats resolve it.
    async with running(config, tmp_path, clock=clock) as rt:
        assert {h["state"] for h in rt.heartbeats.listing() if h["name"] == "prometheus"} == {"missing"}
        await advance(rt, REPOST_EVERY * 5)
        fired = [a for a in rt.alerts if a.labels.get("alertname") == MISSING
                 and a.labels.get("heartbeat") == "prometheus"]
        assert fired
        assert not fired[0].resolved(clock.now())
        await post(rt, watchdog("a"))
        await advance(rt, 1)
        assert missing(server, "resolved")[-1]["prometheus"] == "a"


async def test_a_heartbeat_dropped_by_a_reload_resolves_its_alert(tmp_path, server):
    clock = FakeClock(T0)
    async with running(CONFIG.format(url=server.url), tmp_path, clock=clock) as rt:
        await advance(rt, 3601)
        await advance(rt, 0)
        assert missing(server, "firing") == [{"alertname": MISSING, "heartbeat": "backup"}]
        without = CONFIG.format(url=server.url).split("  - name: backup")[0]
        await rt.reload(make_config(without))
        await advance(rt, 1)
        assert missing(server, "resolved") == [{"alertname": MISSING, "heartbeat": "backup"}]
        assert [h["name"] for h in rt.heartbeats.listing()] == []


@pytest.mark.parametrize(("entry", "field"), [
    ("{name: 'a b', every: 1m}", "heartbeats[0].name"),
    ("{name: x, every: 0s}", "heartbeats[0].every"),
    ("{name: x, every: 1m, grace: -1s}", "heartbeats[0].grace"),
    ("{name: x, every: 1m, per: [alertname]}", "heartbeats[0].per[0]"),
    ("{name: x, every: 1m, labels: {heartbeat: y}}", "heartbeats[0].labels.heartbeat"),
    ("{name: x, every: 1m, matchers: ['a=~(']}", "heartbeats[0].matchers[0]"),
    ("{name: x}", "heartbeats[0].every"),
    ("{name: x, every: 1m, evry: 2m}", "heartbeats[0].evry"),
])
def test_config_errors_name_the_field(entry, field):
    text = f"route: {{receiver: r}}\nreceivers: [{{name: r}}]\nheartbeats:\n  - {entry}\n"
    with pytest.raises(ConfigError) as err:
        make_config(text)
    assert field in str(err.value)


def test_heartbeat_names_are_unique():
    text = ("route: {receiver: r}\nreceivers: [{name: r}]\n"
            "heartbeats: [{name: x, every: 1m}, {name: x, every: 2m}]\n")
    with pytest.raises(ConfigError) as err:
        make_config(text)
    assert "heartbeats[1].name" in str(err.value)
