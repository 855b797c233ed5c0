"""The HTTP API: Alertmanager's API v2 alert endpoints and the operational endpoints,
served by the real aiohttp app (whose lifecycle starts and stops the runtime)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp.test_utils import TestClient, TestServer

from tocsin.core.clock import FakeClock
from tocsin.core.labels import fingerprint
from tocsin.runtime import Runtime
from tocsin.store import StorageError
from tocsin.store.sqlite import SQLiteStore
from tocsin.testing import make_config, make_plugins
from tocsin.web.app import create_app

CONFIG = """
global:
  resolve_timeout: 5m
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['team="a"']
      receiver: team-a
      continue: true
    - matchers: ['team=~"a|b"']
      receiver: team-b
receivers:
  - name: default
  - name: team-a
  - name: team-b
"""

# FakeClock's default start: 2023-11-14T22:13:20Z.
NOW = "2023-11-14T22:13:20.000Z"


@asynccontextmanager
async def api(tmp_path, config: str = CONFIG) -> AsyncIterator[tuple[TestClient, Runtime]]:
    pm = make_plugins()
    rt = Runtime(make_config(config, pm), pm, clock=FakeClock(), store=SQLiteStore(tmp_path / "api.db"))
    client = TestClient(TestServer(create_app(rt), host="127.0.0.1"))
    await client.start_server()
    try:
        assert rt.ready
        yield client, rt
    finally:
        await client.close()
    assert not rt.ready  # the app's cleanup stopped the runtime


async def get_alerts(client: TestClient, **params) -> list[dict]:
    resp = await client.get("/api/v2/alerts", params=params)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "application/json"
    return await resp.json()


# -- POST /api/v2/alerts ---------------------------------------------------------------------


PROMETHEUS_BATCH = [
    {
        "labels": {"alertname": "HighLatency", "instance": "web-1:8080", "job": "web", "team": "a"},
        "annotations": {"summary": "p99 above 1s"},
        "startsAt": "2023-11-14T22:12:00.123456789Z",
        "endsAt": "2023-11-14T22:19:20Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=latency%3E1",
    },
    {
        "labels": {"alertname": "Down", "instance": "db-1:9100", "job": "node"},
        "annotations": {},
        "startsAt": "2023-11-14T22:13:00Z",
        "endsAt": "2023-11-14T22:19:20Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up%3D%3D0",
    },
]


async def test_post_prometheus_batch_then_get(tmp_path):
    async with api(tmp_path) as (client, _rt):
        resp = await client.post("/api/v2/alerts", json=PROMETHEUS_BATCH)
        assert resp.status == 200, await resp.text()

        got = await get_alerts(client)
        latency = PROMETHEUS_BATCH[0]["labels"]
        down = PROMETHEUS_BATCH[1]["labels"]
        expected = [
            {
                "labels": latency,
                "annotations": {"summary": "p99 above 1s"},
                "startsAt": "2023-11-14T22:12:00.123Z",
                "endsAt": "2023-11-14T22:19:20.000Z",
                "updatedAt": NOW,
                "generatorURL": "http://prometheus:9090/graph?g0.expr=latency%3E1",
                "fingerprint": fingerprint(latency),
                "receivers": [{"name": "team-a"}, {"name": "team-b"}],
                "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
            },
            {
                "labels": down,
                "annotations": {},
                "startsAt": "2023-11-14T22:13:00.000Z",
                "endsAt": "2023-11-14T22:19:20.000Z",
                "updatedAt": NOW,
                "generatorURL": "http://prometheus:9090/graph?g0.expr=up%3D%3D0",
                "fingerprint": fingerprint(down),
                "receivers": [{"name": "default"}],
                "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
            },
        ]
        assert got == sorted(expected, key=lambda a: a["fingerprint"])


async def test_post_without_times_gets_now_and_resolve_timeout(tmp_path):
    async with api(tmp_path) as (client, _rt):
        resp = await client.post("/api/v2/alerts", json=[{"labels": {"alertname": "X"}}])
        assert resp.status == 200
        (a,) = await get_alerts(client)
        assert (a["startsAt"], a["endsAt"], a["updatedAt"]) == (
            NOW, "2023-11-14T22:18:20.000Z", NOW)
        assert a["annotations"] == {}
        assert "generatorURL" not in a  # omitempty in Alertmanager's gettableAlert


async def test_times_at_the_edges_of_the_calendar(tmp_path):
    """A time after 9999-12-31 in UTC cannot be written back (it once made every
    GET /api/v2/alerts answer 500): it is refused, naming the field; the alerts beside
    it are kept. Times before 1970 read back as themselves, not as Go's zero time."""
    async with api(tmp_path) as (client, _rt):
        resp = await client.post("/api/v2/alerts", json=[
            {"labels": {"alertname": "Late"}, "startsAt": "9999-12-31T23:59:59-01:00"},
            {"labels": {"alertname": "Later"}, "endsAt": "9999-12-31T23:30:00-01:00"},
            {"labels": {"alertname": "Old"}, "startsAt": "1969-07-20T20:17:40Z"},
        ])
        assert resp.status == 400
        body = await resp.json()  # Alertmanager's shape: a string
        assert body.startswith("2 invalid alert(s); 1 accepted: alerts[0].startsAt: ")
        assert "after the year 9999" in body
        assert "; alerts[1].endsAt: " in body
        got = await get_alerts(client)
        assert [(a["labels"]["alertname"], a["startsAt"]) for a in got] == [
            ("Old", "1969-07-20T20:17:40.000Z")]
        resp = await client.post("/api/v2/silences", json={
            "matchers": [{"name": "a", "value": "b", "isRegex": False}], "createdBy": "t", "comment": "c",
            "startsAt": "2023-11-14T22:00:00Z", "endsAt": "9999-12-31T23:59:59-01:00"})
        assert resp.status == 400
        assert "endsAt is after the year 9999" in await resp.json()
        assert (await client.get("/api/v2/silences")).status == 200


async def test_invalid_json_is_400_with_json_error(tmp_path):
    async with api(tmp_path) as (client, rt):
        resp = await client.post("/api/v2/alerts", data=b'[{"labels": ',
                                 headers={"Content-Type": "application/json"})
        assert resp.status == 400
        assert resp.content_type == "application/json"
        body = await resp.json()  # go-swagger's shape, which amtool decodes
        assert list(body) == ["code", "message"]
        assert body["code"] == 400
        assert body["message"].startswith('parsing alerts body from "" failed, because ')
        assert len(rt.alerts) == 0


async def test_not_an_array_is_400(tmp_path):
    async with api(tmp_path) as (client, rt):
        for payload in ({"labels": {"alertname": "X"}}, "alerts", 5):
            resp = await client.post("/api/v2/alerts", json=payload)
            assert resp.status == 400
            assert await resp.json() == {
                "code": 400,
                "message": 'parsing alerts body from "" failed, because expected a JSON array of alerts'}
        assert len(rt.alerts) == 0


async def test_batch_with_invalid_alerts_names_each_and_keeps_the_valid_ones(tmp_path):
    batch = [
        {"labels": {"alertname": "Good1"}},
        {"labels": {"alertname": "X", "bad-name": "v"}},
        {"labels": "not an object"},
        {"labels": {}},
        {"labels": {"alertname": "X"}, "startsAt": "2023-11-14T22:13:20Z",
         "endsAt": "2023-11-14T22:00:00Z"},
        {"labels": {"alertname": "Good2"}},
        {"labels": {"alertname": "X"}, "startsAt": "yesterday"},
    ]
    async with api(tmp_path) as (client, _rt):
        resp = await client.post("/api/v2/alerts", json=batch)
        assert resp.status == 400
        body = await resp.json()  # a string, as Alertmanager answers
        assert body.startswith("5 invalid alert(s); 2 accepted: alerts[1].labels.bad-name: ")
        fields = [part.split(": ", 1)[0] for part in body.split(" accepted: ", 1)[1].split("; ")]
        assert fields == ["alerts[1].labels.bad-name", "alerts[2].labels", "alerts[3].labels",
                          "alerts[4].endsAt", "alerts[6].startsAt"]
        assert "alerts[4].endsAt: start time must be before end time" in body

        got = await get_alerts(client)
        assert sorted(a["labels"]["alertname"] for a in got) == ["Good1", "Good2"]


async def test_alert_without_labels_is_422_as_alertmanager_answers(tmp_path):
    """go-swagger refuses a batch with an alert that lacks ``labels`` (422, code 602);
    tocsin keeps the valid alerts beside it all the same."""
    async with api(tmp_path) as (client, _rt):
        resp = await client.post("/api/v2/alerts", json=[
            {"labels": {"alertname": "Good"}}, {"annotations": {"summary": "no labels"}}])
        assert resp.status == 422
        assert await resp.json() == {"code": 602, "message": "1.labels in body is required"}
        assert [a["labels"]["alertname"] for a in await get_alerts(client)] == ["Good"]


async def test_body_over_the_limit_is_413_json(tmp_path):
    config = CONFIG + "server:\n  max_request_bytes: 200\n"
    async with api(tmp_path, config) as (client, rt):
        big = [{"labels": {"alertname": "X", "pad": "x" * 300}}]
        resp = await client.post("/api/v2/alerts", json=big)
        assert resp.status == 413
        assert resp.content_type == "application/json"
        assert await resp.json() == {"error": "request body larger than the limit of 200 bytes"}
        assert len(rt.alerts) == 0

        small = [{"labels": {"alertname": "X"}}]
        assert len(json.dumps(small)) < 200
        assert (await client.post("/api/v2/alerts", json=small)).status == 200


async def test_storage_failure_is_503_and_nothing_is_kept(tmp_path, monkeypatch):
    async with api(tmp_path) as (client, rt):
        resp = await client.post("/api/v2/alerts", json=[
            {"labels": {"alertname": "Kept"}, "annotations": {"v": "1"}},
        ])
        assert resp.status == 200

        async def broken(**kw):
            raise StorageError("database write failed: disk I/O error")

        monkeypatch.setattr(rt.store, "save", broken)
        resp = await client.post("/api/v2/alerts", json=[
            {"labels": {"alertname": "Lost"}},
            {"labels": {"alertname": "Kept"}, "annotations": {"v": "2"}},
        ])
        assert resp.status == 503
        assert await resp.json() == "alerts not stored: database write failed: disk I/O error"
        monkeypatch.undo()

        got = await get_alerts(client)
        assert [(a["labels"], a["annotations"]) for a in got] == [
            ({"alertname": "Kept"}, {"v": "1"})
        ]
        # The dispatcher was not told about the lost alert either.
        await rt.bus.drained()
        assert sorted(g.key for g in rt.dispatcher.groups.values()) == ['{}:{alertname="Kept"}']


# -- GET /api/v2/alerts ----------------------------------------------------------------------


async def post_ok(client: TestClient, *alerts: dict) -> None:
    resp = await client.post("/api/v2/alerts", json=list(alerts))
    assert resp.status == 200, await resp.text()


async def test_get_excludes_resolved_alerts(tmp_path):
    async with api(tmp_path) as (client, rt):
        await post_ok(
            client,
            {"labels": {"alertname": "Firing"}},
            {"labels": {"alertname": "Resolved"}, "startsAt": "2023-11-14T22:00:00Z",
             "endsAt": "2023-11-14T22:10:00Z"},
        )
        assert len(rt.alerts) == 2
        assert [a["labels"]["alertname"] for a in await get_alerts(client)] == ["Firing"]
        # A firing alert whose timeout passes disappears too.
        rt.clock.advance(301)
        assert await get_alerts(client) == []


async def test_get_filter_matchers(tmp_path):
    async with api(tmp_path) as (client, _rt):
        await post_ok(
            client,
            {"labels": {"alertname": "A", "severity": "critical", "env": "prod"}},
            {"labels": {"alertname": "B", "severity": "warning", "env": "prod"}},
            {"labels": {"alertname": "C", "severity": "critical", "env": "dev"}},
        )

        async def names(*filters: str) -> list[str]:
            resp = await client.get("/api/v2/alerts", params=[("filter", f) for f in filters])
            assert resp.status == 200
            return sorted(a["labels"]["alertname"] for a in await resp.json())

        assert await names('severity="critical"') == ["A", "C"]
        assert await names('severity="critical"', 'env!="dev"') == ["A"]
        assert await names('alertname=~"A|B"', 'env="prod"') == ["A", "B"]
        assert await names('alertname=~"A|B"', "severity!~crit.*") == ["B"]
        # Regexes are anchored.
        assert await names('alertname=~"A|"') == ["A"]
        assert await names('missing=""') == ["A", "B", "C"]
        assert await names() == ["A", "B", "C"]


async def test_get_bad_filter_is_400(tmp_path):
    async with api(tmp_path) as (client, _rt):
        resp = await client.get("/api/v2/alerts", params=[("filter", 'a="b"'), ("filter", "nope")])
        assert resp.status == 400
        assert "bad matcher format" in await resp.json()  # a string, as Alertmanager answers
        # One matcher per filter: a list in braces is refused, as Alertmanager refuses it.
        for text in ('{alertname="A"}', 'alertname="A",env="prod"'):
            resp = await client.get("/api/v2/alerts", params={"filter": text})
            assert resp.status == 400
            assert await resp.json() == f"bad matcher format: {text}"


async def test_get_receiver_regex(tmp_path):
    async with api(tmp_path) as (client, _rt):
        await post_ok(
            client,
            {"labels": {"alertname": "A", "team": "a"}},   # team-a and team-b
            {"labels": {"alertname": "B", "team": "b"}},   # team-b
            {"labels": {"alertname": "C"}},                # default
        )

        async def names(receiver: str) -> list[str]:
            got = await get_alerts(client, receiver=receiver)
            return sorted(a["labels"]["alertname"] for a in got)

        assert await names("team-a") == ["A"]
        assert await names("team-b") == ["A", "B"]
        assert await names("team-.*") == ["A", "B"]
        assert await names("default|team-a") == ["A", "C"]
        # Anchored at both ends, as Alertmanager compiles ^(?:receiver)$.
        assert await names("team") == []
        assert await names("eam-a") == []
        assert await names("(?i)TEAM-A") == ["A"]  # leading flags, as Go accepts them
        for bad in ("(oops", "team-("):
            resp = await client.get("/api/v2/alerts", params={"receiver": bad})
            assert resp.status == 400
            assert (await resp.json()).startswith("failed to parse receiver param: ")


async def test_flags_read_as_alertmanager_reads_them(tmp_path):
    """go-swagger's booleans: ``1``, ``yes``, ``on``, ``t``... are true, anything else is
    false, and an empty value is the default (true)."""
    async with api(tmp_path) as (client, _rt):
        await post_ok(client, {"labels": {"alertname": "A"}})
        for value in ("true", "1", "yes", "ON", "t", "enabled", ""):
            assert len(await get_alerts(client, active=value)) == 1, value
        for value in ("false", "0", "no", "nope", "2"):
            assert await get_alerts(client, active=value) == [], value


async def test_get_active_false_hides_unmuted_alerts(tmp_path):
    async with api(tmp_path) as (client, _rt):
        await post_ok(client, {"labels": {"alertname": "A"}})
        assert await get_alerts(client, active="false") == []
        assert len(await get_alerts(client, active="true")) == 1


# -- operational endpoints -------------------------------------------------------------------


async def test_healthy_and_ready(tmp_path):
    async with api(tmp_path) as (client, rt):
        for path in ("/-/healthy", "/-/ready"):
            resp = await client.get(path)
            assert resp.status == 200
            assert await resp.text() == "OK"
        rt.ready = False
        resp = await client.get("/-/ready")
        assert resp.status == 503
        rt.ready = True


async def test_reload_without_a_reloader_is_501(tmp_path):
    async with api(tmp_path) as (client, _rt):
        resp = await client.post("/-/reload")
        assert resp.status == 501
        assert await resp.json() == {"error": "this server has no config file to reload"}


async def test_unknown_path_and_wrong_method_answer_json(tmp_path):
    async with api(tmp_path) as (client, _rt):
        resp = await client.get("/api/v2/nothing")
        assert resp.status == 404
        assert await resp.json() == {"code": 404, "message": "path /api/v2/nothing was not found"}
        resp = await client.delete("/api/v2/alerts")
        assert resp.status == 405
        assert await resp.json() == {"code": 405,
                                     "message": "method DELETE is not allowed, but [GET,POST] are"}
        resp = await client.get("/api/tocsin/v1/nothing")  # tocsin's own API keeps its shape
        assert resp.status == 404
        assert await resp.json() == {"error": "Not Found"}
