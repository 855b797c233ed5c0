"""Replicas of ``tocsin serve`` on one PostgreSQL database (``storage.replicas: true``): one
leads and notifies, what a follower accepts is notified by the leader, and after kill -9 of
the leader the other takes over and notifies what was pending, nothing twice."""

from __future__ import annotations

import functools
import json
import time

import aiohttp
import pytest

from tests.e2e.test_cli_delivery import tocsin
from tests.e2e.test_cli_silence import amtool
from tests.e2e.test_daemon import CONFIG, alert, quiet_period
from tests.peers import Daemon

pytestmark = pytest.mark.e2e

REPLICAS = CONFIG + """
storage:
  replicas: true
"""


@pytest.fixture
def replica(tmp_path, tocsin_postgres_url):
    """Makes replica daemons on the test's PostgreSQL database; stops them after."""
    daemons: list[Daemon] = []

    def make(config_text: str) -> Daemon:
        n = len(daemons)
        cfg = tmp_path / f"tocsin{n}.yml"
        cfg.write_text(config_text)
        d = Daemon(cfg, tocsin_postgres_url, tmp_path / f"tocsin{n}.log")
        daemons.append(d)
        return d

    yield make
    for d in daemons:
        d.stop()


async def metric(url: str, name: str) -> float:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/metrics") as r:
        for line in (await r.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not in {url}/metrics")


async def leader_of(a: Daemon, b: Daemon, timeout: float = 15.0) -> tuple[Daemon, Daemon]:
    """(leader, follower), once one of the two leads."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for one, other in ((a, b), (b, a)):
            if await metric(one.url, "tocsin_leader") == 1.0:
                return one, other
        await _sleep(0.1)
    raise AssertionError("no replica leads")


async def _sleep(seconds: float, result: bool = False) -> bool:
    import asyncio

    await asyncio.sleep(seconds)
    return result


async def test_one_leads_and_notifies_what_the_follower_accepted(replica, receiver):
    a, b = replica(REPLICAS.format(group_wait="0s", url=receiver.url)), replica(
        REPLICAS.format(group_wait="0s", url=receiver.url))
    await a.start()
    await b.start()
    leader, follower = await leader_of(a, b)
    assert await metric(follower.url, "tocsin_leader") == 0.0
    assert await metric(leader.url, "tocsin_leader_epoch") >= 1.0
    status, body = await follower.post_alerts([alert("Down", "x")])
    assert status == 200, body
    [msg] = await receiver.wait_for(1, timeout=10)
    assert [x["labels"]["instance"] for x in msg["alerts"]] == ["x"]
    await quiet_period(receiver, 1, 2.5)  # exactly one: the follower notifies nothing
    # Every replica lists both, as Alertmanager's cluster lists its peers.
    async with aiohttp.ClientSession() as s, s.get(f"{follower.url}/api/v2/status") as r:
        cluster = (await r.json())["cluster"]
    assert cluster["status"] == "ready"
    assert len(cluster["peers"]) == 2
    assert [p["leader"] for p in cluster["peers"]].count(True) == 1
    assert cluster["epoch"] == await metric(leader.url, "tocsin_leader_epoch")
    assert {p["address"] for p in cluster["peers"]} == {a.url.removeprefix("http://"),
                                                        b.url.removeprefix("http://")}
    assert not any(p["configDiffers"] for p in cluster["peers"])
    shown = amtool(follower.url, "cluster", "show", "-o", "extended")
    print(shown)
    assert "Cluster Status:  ready" in shown
    assert f"Node Name:       {cluster['name']}" in shown
    for p in cluster["peers"]:
        assert p["name"] in shown
    shown = await tocsin("cluster", "status", "--url", follower.url)
    print(shown.stdout)
    assert shown.returncode == 0, shown.stderr
    leader_name = next(p["name"] for p in cluster["peers"] if p["leader"])
    assert f"cluster: ready  leader: {leader_name}  epoch: {cluster['epoch']}" in shown.stdout
    rows = [line for line in shown.stdout.splitlines() if line.startswith("tocsin ")]
    assert len(rows) == 2
    assert [leader_name in row and " yes " in row for row in rows].count(True) == 1
    as_json = await tocsin("cluster", "status", "--url", leader.url, "-o", "json")
    assert json.loads(as_json.stdout)["epoch"] == cluster["epoch"]
    # An alert posted to the leader is acked on the follower; the leader holds the ack
    # (its unack passes: it finds the incident acknowledged in its memory).
    status, _ = await leader.post_alerts([alert("Slow", "y")])
    assert status == 200
    await _sleep(1.0)
    fp = next(x["fingerprint"] for x in await follower.get_alerts() if x["labels"]["alertname"] == "Slow")
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{follower.url}/api/tocsin/v1/alerts/{fp}/ack", json={"note": "mine"}) as r:
            assert r.status == 200, await r.text()
        await _sleep(1.0)
        async with s.post(f"{leader.url}/api/tocsin/v1/alerts/{fp}/unack", json={}) as r:
            assert r.status == 200, await r.text()
    # The follower serves it too, and the leader has it.
    await _sleep(1.0)
    assert sorted(x["labels"]["instance"] for x in await leader.get_alerts()) == ["x", "y"]
    assert sorted(x["labels"]["instance"] for x in await follower.get_alerts()) == ["x", "y"]


async def test_kill9_of_the_leader_the_other_leads_and_notifies_nothing_twice(replica, receiver):
    a, b = replica(REPLICAS.format(group_wait="0s", url=receiver.url)), replica(
        REPLICAS.format(group_wait="0s", url=receiver.url))
    await a.start()
    await b.start()
    leader, follower = await leader_of(a, b)
    epoch = await metric(leader.url, "tocsin_leader_epoch")
    status, _ = await leader.post_alerts([alert("Down", "a")])
    assert status == 200
    await receiver.wait_for(1, timeout=10)
    await _sleep(1.5)  # the follower's state catches up

    leader.kill9()
    killed = time.monotonic()
    status, _ = await follower.post_alerts([alert("Later", "b")])  # pending while nobody leads
    assert status == 200
    while await metric(follower.url, "tocsin_leader") != 1.0:
        assert time.monotonic() - killed < 15, "the follower did not take over"
        await _sleep(0.05)
    failover = time.monotonic() - killed
    print(f"failover after kill -9: {failover:.2f}s")
    assert await metric(follower.url, "tocsin_leader_epoch") > epoch
    msgs = await receiver.wait_for(2, timeout=10)
    assert [m["groupLabels"]["alertname"] for m in msgs] == ["Down", "Later"]
    await quiet_period(receiver, 2, 3.0)  # Down was recorded: not sent again


async def _until(check, timeout: float = 5.0) -> float:
    """Seconds until ``check()`` (a coroutine function) is true; fails after ``timeout``."""
    began = time.monotonic()
    while not await check():
        assert time.monotonic() - began < timeout, "not seen in time"
        await _sleep(0.01)
    return time.monotonic() - began


async def test_followers_stay_warm_what_one_replica_commits_reaches_the_others_at_once(replica, receiver):
    """The change feed (LISTEN/NOTIFY): an alert posted to the follower is on the leader's
    API, and a silence made on the follower mutes on the leader, well within 1 s: at once,
    not at the next poll."""
    a, b = replica(REPLICAS.format(group_wait="0s", url=receiver.url)), replica(
        REPLICAS.format(group_wait="0s", url=receiver.url))
    await a.start()
    await b.start()
    leader, follower = await leader_of(a, b)
    lags = []
    async with aiohttp.ClientSession() as s:
        async def on_leader(instance: str) -> bool:
            async with s.get(f"{leader.url}/api/v2/alerts", params={"filter": f'instance="{instance}"'}) as r:
                return bool(await r.json())

        for i in range(10):
            status, _ = await follower.post_alerts([alert("Warm", f"w{i}")])
            assert status == 200
            lags.append(await _until(functools.partial(on_leader, f"w{i}")))
        # A silence made on the follower: the leader holds it, and mutes what it matches.
        silence = {"matchers": [{"name": "instance", "value": "muted", "isRegex": False}],
                   "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
                   "createdBy": "test", "comment": "warm"}
        async with s.post(f"{follower.url}/api/v2/silences", json=silence) as r:
            assert r.status == 200, await r.text()
            silence_id = (await r.json())["silenceID"]

        async def leader_has_silence() -> bool:
            async with s.get(f"{leader.url}/api/v2/silence/{silence_id}") as r:
                return r.status == 200
        silence_lag = await _until(leader_has_silence)
        status, _ = await leader.post_alerts([alert("Muted", "muted")])
        assert status == 200
        status, _ = await leader.post_alerts([alert("Loud", "loud")])
        assert status == 200
        async with s.get(f"{leader.url}/api/v2/alerts", params={"filter": 'instance="muted"'}) as r:
            [muted] = await r.json()
        assert muted["status"]["silencedBy"] == [silence_id]
    lags.sort()
    print(f"follower -> leader: median {lags[5]:.3f}s, max {lags[-1]:.3f}s; silence {silence_lag:.3f}s")
    assert lags[-1] < 1.0
    assert silence_lag < 1.0
    assert lags[5] < 0.2  # at once: polling every 0.5 s waits 0.25 s on average

    def names() -> list[str]:
        return [m["groupLabels"]["alertname"] for m in receiver.messages]
    await _until(lambda: _sleep(0, "Loud" in names()), timeout=10)
    await _sleep(1.0)  # the muted one, routed before the loud one, is not sent either
    assert "Muted" not in names()
