"""Big answers of the alert endpoints, built and encoded a slice at a time (handing the event
loop back between slices), are the answers the endpoints gave when they were built at once."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from tests.unit.web.test_api import api
from tocsin.core import pacing
from tocsin.core.models import sort_key
from tocsin.core.pacing import ENCODE_ITEMS, SORT_RUN
from tocsin.web.amv2.alerts import gettable

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 1h
  routes:
    - matchers: ['team="a"']
      receiver: team-a
      continue: true
receivers:
  - name: default
  - name: team-a
"""

COUNT = SORT_RUN + 2 * ENCODE_ITEMS + 7


def alerts() -> list[dict]:
    return [{"labels": {"alertname": f"A{i % 3}", "instance": f"h{i % 50}", "job": f"j{i % 7}",
                        "n": str(i), **({"team": "a"} if i % 4 == 0 else {})},
             "annotations": {"summary": f"alert {i}"}} for i in range(COUNT)]


@pytest.fixture
def pacing_at_every_tick(monkeypatch):
    """Every pacer hands the loop back at each tick: a clock that moves a second a call."""
    monkeypatch.setattr(pacing, "_clock", itertools.count().__next__)


async def test_a_long_list_of_alerts_is_the_same_answer(tmp_path, pacing_at_every_tick):
    async with api(tmp_path, CONFIG) as (client, rt):
        resp = await client.post("/api/v2/alerts", json=alerts())
        assert resp.status == 200, await resp.text()
        assert len(rt.alerts) == COUNT
        now = rt.clock.now()
        expected = sorted((gettable(rt, a, now) for a in rt.alerts), key=lambda a: a["fingerprint"])
        resp = await client.get("/api/v2/alerts")
        assert resp.status == 200
        assert resp.content_type == "application/json"
        body = await resp.read()
        assert body == msgspec.json.encode(expected)
        head = await client.head("/api/v2/alerts")
        assert head.status == 200
        assert int(head.headers["Content-Length"]) == len(body)
        assert await head.read() == b""


async def test_a_big_group_is_the_same_answer(tmp_path, pacing_at_every_tick):
    async with api(tmp_path, CONFIG) as (client, rt):
        resp = await client.post("/api/v2/alerts", json=alerts())
        assert resp.status == 200, await resp.text()
        await rt.bus.drained()  # every alert routed into its groups
        resp = await client.get("/api/v2/alerts/groups")
        assert resp.status == 200
        body = await resp.read()
        groups = msgspec.json.decode(body)
        assert msgspec.json.encode(groups) == body  # one encoding, spliced from its slices
        assert [(g["labels"]["alertname"], g["receiver"]["name"]) for g in groups] == [
            ("A0", "default"), ("A0", "team-a"), ("A1", "default"), ("A1", "team-a"),
            ("A2", "default"), ("A2", "team-a")]
        for g in groups:
            team_a = g["receiver"]["name"] == "team-a"  # else default: a matching child takes it
            members = [a for a in rt.alerts if a.labels["alertname"] == g["labels"]["alertname"]
                       and (a.labels.get("team") == "a") == team_a]
            assert [a["fingerprint"] for a in g["alerts"]] == [
                a.fingerprint for a in sorted(members, key=sort_key)]
        assert sum(len(g["alerts"]) for g in groups) == COUNT
        receivers = {r["name"] for g in groups for a in g["alerts"] for r in a["receivers"]}
        assert receivers == {"default", "team-a"}
