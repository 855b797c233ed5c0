"""Request limits: alerts per request and per alert, body size, and the per-client rate limit."""

from __future__ import annotations

import json
from unittest import mock

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from tocsin.config.document import LimitsConfig
from tocsin.testing import api_client, make_config
from tocsin.web.limits import TokenBuckets, alert_problem, limits_middleware

BASE = """
route:
  receiver: default
receivers:
  - name: default
"""

LIMITS = BASE + """
server:
  limits:
    max_alerts_per_request: 3
    max_labels_per_alert: 4
    max_label_name_length: 10
    max_label_value_length: 20
    max_annotation_value_length: 30
"""


def alert(name: str, **labels: str) -> dict:
    return {"labels": {"alertname": name, **labels}}


def webhook(*alerts: dict) -> dict:
    return {"version": "4", "status": "firing", "receiver": "r", "groupKey": "{}:{}",
            "alerts": [{"status": "firing", **a} for a in alerts]}


# -- alerts per request ---------------------------------------------------------------------------


async def test_too_many_alerts_is_413_and_nothing_is_stored(tmp_path):
    async with api_client(LIMITS, tmp_path) as (client, rt):
        four = [alert(f"A{i}") for i in range(4)]
        resp = await client.post("/api/v2/alerts", json=four)
        assert resp.status == 413
        # A string on Alertmanager's API, as its clients read errors there.
        assert await resp.json() == "alerts: 4 in one request, more than max_alerts_per_request (3)"
        assert len(rt.alerts) == 0

        # A bad alert counts too: the limit is on what was sent.
        resp = await client.post("/api/v2/alerts", json=[*four[:3], {"labels": 5}])
        assert resp.status == 413
        assert len(rt.alerts) == 0

        resp = await client.post("/api/tocsin/v1/events", json=[{"type": f"E{i}"} for i in range(4)])
        assert resp.status == 413
        body = await resp.json()
        assert body["field"] == "events"
        assert body["limit"] == 3
        assert len(rt.alerts) == 0

        resp = await client.post("/api/tocsin/v1/alertmanager/webhook", json=webhook(*four))
        assert resp.status == 413
        body = await resp.json()
        assert body["field"] == "alerts"
        assert body["limit"] == 3
        assert len(rt.alerts) == 0

        # At the limit: fine, everywhere.
        assert (await client.post("/api/v2/alerts", json=four[:3])).status == 200
        resp = await client.post("/api/tocsin/v1/events", json=[{"type": f"E{i}"} for i in range(3)])
        assert resp.status == 200
        resp = await client.post("/api/tocsin/v1/alertmanager/webhook",
                                 json=webhook(*(alert(f"W{i}") for i in range(3))))
        assert resp.status == 200
        assert len(rt.alerts) == 9


# -- per alert ------------------------------------------------------------------------------------


async def test_alerts_over_the_per_alert_limits_are_refused_by_field_and_the_good_ones_kept(tmp_path):
    async with api_client(LIMITS.replace("max_alerts_per_request: 3", "max_alerts_per_request: 10"),
                          tmp_path) as (client, rt):
        batch = [
            alert("Good1", instance="db1"),
            alert("TooMany", a="1", b="2", c="3", d="4"),  # 5 labels, with alertname
            alert("LongName", **{"n" * 11: "x"}),
            alert("LongValue", instance="v" * 21),
            {**alert("LongAnnotation"), "annotations": {"runbook": "d" * 31}},
            {**alert("Good2", a="1", b="2", c="3"), "annotations": {"summary": "s" * 30}},
        ]
        resp = await client.post("/api/v2/alerts", json=batch)
        assert resp.status == 400
        body = await resp.json()  # a string, as Alertmanager answers
        assert body.startswith("4 invalid alert(s); 2 accepted: alerts[1].labels: ")
        assert "alerts[3].labels.instance: value longer than 20 characters" in body
        assert "alerts[4].annotations.runbook: value longer than 30 characters" in body
        assert "5 labels, more than 4" in body
        assert "alerts[2].labels: label name longer than 10 characters" in body
        assert sorted(a.labels["alertname"] for a in rt.alerts) == ["Good1", "Good2"]


async def test_events_over_the_per_alert_limits_name_the_events_field(tmp_path):
    async with api_client(LIMITS, tmp_path) as (client, rt):
        events = [{"type": "Good"}, {"type": "Long", "resource": "r" * 21},
                  {"type": "LongTitle", "title": "t" * 31}]
        resp = await client.post("/api/tocsin/v1/events", json=events)
        assert resp.status == 400
        body = await resp.json()
        assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "resource"), (2, "title")]
        assert "events[1].resource: value longer than 20 characters" in body["error"]
        assert [a["index"] for a in body["accepted"]] == [0]
        assert [a.labels["alertname"] for a in rt.alerts] == ["Good"]

        resp = await client.post("/api/tocsin/v1/events", json={"type": "One", "labels": {"x": "y" * 21}})
        assert resp.status == 400
        assert (await resp.json())["field"] == "labels.x"


async def test_webhook_alerts_over_the_per_alert_limits_are_refused_and_the_good_kept(tmp_path):
    async with api_client(LIMITS, tmp_path) as (client, rt):
        resp = await client.post("/api/tocsin/v1/alertmanager/webhook",
                                 json=webhook(alert("Good"), alert("Bad", instance="v" * 21)))
        assert resp.status == 400
        body = await resp.json()
        assert body["field"] == "alerts[1].labels.instance"
        assert "alerts[1].labels.instance: value longer than 20 characters" in body["error"]
        assert body["accepted"] == 1
        assert [a.labels["alertname"] for a in rt.alerts] == ["Good"]
        # Not a webhook message at all: the handler's own answer.
        resp = await client.post("/api/tocsin/v1/alertmanager/webhook", json={"alerts": 5})
        assert resp.status == 400
        assert "not an Alertmanager webhook message" in (await resp.json())["error"]


def test_alert_problem_in_order_and_at_the_edges():
    lim = LimitsConfig(max_labels_per_alert=2, max_label_name_length=3, max_label_value_length=3,
                       max_annotation_value_length=4)
    assert alert_problem({"abc": "xyz", "a": ""}, {"abc": "wxyz"}, lim) is None
    assert alert_problem({}, {}, lim) is None
    assert alert_problem({"a": "1", "b": "2", "c": "3"}, {}, lim) == ("labels", "3 labels, more than 2")
    assert alert_problem({"a": "1", "b": "2222"}, {}, lim) == ("labels.b", "value longer than 3 characters")
    assert alert_problem({"abcd": "1"}, {}, lim)[0] == "labels"
    assert alert_problem({"a": "1"}, {"s": "12345"}, lim) == (
        "annotations.s", "value longer than 4 characters")
    assert alert_problem({"a": "1"}, {"abcd": ""}, lim)[0] == "annotations"
    name = alert_problem({"n" * 1000: "1"}, {}, lim)[1]
    assert len(name) < 120  # a huge name is not echoed whole


# -- body size ------------------------------------------------------------------------------------

SMALL_BODY = BASE + "server:\n  max_body_bytes: 1000\n"
BODY_413 = {"error": "request body larger than the limit of 1000 bytes"}


async def test_body_over_the_limit_with_content_length_is_413(tmp_path):
    async with api_client(SMALL_BODY, tmp_path) as (client, rt):
        big = json.dumps([alert("X", pad="x" * 2000)]).encode()
        resp = await client.post("/api/v2/alerts", data=big, headers={"Content-Type": "application/json"})
        assert resp.status == 413
        assert await resp.json() == BODY_413
        # Refused from the declared length, even where the handler would not read the body.
        resp = await client.get("/api/v2/alerts", data=big)
        assert resp.status == 413
        assert await resp.json() == BODY_413
        assert len(rt.alerts) == 0


async def test_chunked_body_over_the_limit_is_413(tmp_path):
    async def chunks(body: bytes):
        for i in range(0, len(body), 200):
            yield body[i:i + 200]

    async with api_client(SMALL_BODY, tmp_path) as (client, rt):
        big = json.dumps([alert("X", pad="x" * 3000)]).encode()
        for path in ("/api/v2/alerts", "/api/tocsin/v1/events", "/api/tocsin/v1/alertmanager/webhook"):
            resp = await client.post(path, data=chunks(big), headers={"Content-Type": "application/json"})
            assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
            assert resp.status == 413, path
            assert await resp.json() == BODY_413
        assert len(rt.alerts) == 0

        small = json.dumps([alert("X")]).encode()
        resp = await client.post("/api/v2/alerts", data=chunks(small))
        assert resp.status == 200
        assert len(rt.alerts) == 1


# -- rate limit -----------------------------------------------------------------------------------

RATE = BASE + """
server:
  rate_limit:
    requests_per_second: 0.01
    burst: 2
"""


async def test_over_the_burst_is_429_with_retry_after(tmp_path):
    async with api_client(RATE, tmp_path) as (client, rt):
        for _ in range(5):  # health checks are exempt, and take nothing
            assert (await client.get("/-/healthy")).status == 200
            assert (await client.get("/-/ready")).status == 200
        assert (await client.get("/api/v2/alerts")).status == 200
        assert (await client.post("/api/v2/alerts", json=[alert("X")])).status == 200
        resp = await client.get("/api/v2/status")
        assert resp.status == 429
        assert await resp.json() == {"error": "rate limit exceeded"}
        assert resp.content_type == "application/json"
        assert resp.headers["Retry-After"] == "100"  # one token at 0.01/s
        resp = await client.post("/api/v2/alerts", json=[alert("Y")])
        assert resp.status == 429
        assert [a.labels["alertname"] for a in rt.alerts] == ["X"]
        assert (await client.get("/-/healthy")).status == 200

        # A reload without the rate limit lifts it.
        await rt.reload(make_config(BASE))
        assert (await client.get("/api/v2/status")).status == 200


async def test_another_client_address_has_its_own_bucket(tmp_path):
    async with api_client(RATE, tmp_path) as (client, _):
        middleware = limits_middleware()

        async def handler(request: web.Request) -> web.Response:
            return web.Response(text="ok")

        def from_(addr: str):
            transport = mock.Mock()  # the socket's peer: the client's address
            transport.get_extra_info.side_effect = lambda key, default=None: (
                (addr, 40000) if key == "peername" else default)
            return make_mocked_request("GET", "/api/v2/alerts", app=client.app, transport=transport,
                                       headers={"X-Forwarded-For": "192.0.2.99"})

        assert from_("192.0.2.1").remote == "192.0.2.1"
        assert (await middleware(from_("192.0.2.1"), handler)).status == 200
        assert (await middleware(from_("192.0.2.1"), handler)).status == 200
        assert (await middleware(from_("192.0.2.1"), handler)).status == 429
        # Another address is unaffected, though X-Forwarded-For claims the same client.
        assert (await middleware(from_("192.0.2.2"), handler)).status == 200
        assert (await middleware(from_("192.0.2.2"), handler)).status == 200
        assert (await middleware(from_("192.0.2.2"), handler)).status == 429
        assert (await middleware(from_("192.0.2.3"), handler)).status == 200


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_at_the_rate():
    clock = Clock()
    b = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [b.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take("a") == 0.5  # one token needs half a second at 2/s
    clock.now += 0.25
    assert b.take("a") == 0.25  # half a token gathered: a quarter second to go
    clock.now += 0.25
    assert b.take("a") == 0.0
    assert b.take("b") == 0.0  # another key, another bucket
    clock.now += 100
    assert [b.take("a") for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]  # never more than the burst


def test_idle_buckets_are_evicted_and_the_table_is_capped():
    clock = Clock()
    b = TokenBuckets(rate=1.0, burst=5, max_clients=3, clock=clock)
    b.take("a")
    clock.now += 1
    b.take("b")
    clock.now += 1
    b.take("c")
    assert len(b) == 3
    b.take("d")  # full: the least recently seen goes
    assert len(b) == 3
    assert "a" not in b
    assert {"b", "c", "d"} <= {k for k in "bcd" if k in b}
    b.take("b")  # seen again: now the most recent
    b.take("e")
    assert "c" not in b
    assert "b" in b

    # A bucket idle for burst/rate seconds is full again, the same as none: dropped.
    clock.now += 4.9
    b.take("e")
    assert len(b) == 3
    clock.now += 0.2
    b.take("e")
    assert "d" not in b
    assert "b" not in b
    assert len(b) == 1

    many = TokenBuckets(rate=10.0, burst=1, max_clients=100, clock=clock)
    for i in range(10_000):
        many.take(f"10.0.{i // 256}.{i % 256}")
    assert len(many) <= 100


def test_eviction_changes_nothing_for_a_returning_client():
    clock = Clock()
    b = TokenBuckets(rate=1.0, burst=2, clock=clock)
    assert b.take("a") == 0.0
    assert b.take("a") == 0.0
    assert b.take("a") > 0
    clock.now += 2.0
    b.take("other")
    assert "a" not in b
    assert [b.take("a") for _ in range(3)] == [0.0, 0.0, 1.0]
