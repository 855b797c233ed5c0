"""API v2: alert groups, status, receivers."""

from __future__ import annotations

import yaml

from tocsin.testing import advance, api_client, post

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['severity="page"']
      receiver: pager
      continue: true
    - matchers: ['team="db"']
      receiver: db
      group_by: [alertname, team]
receivers:
  - name: default
  - name: pager
    webhook_configs:
      - url: http://127.0.0.1:1/secret-token-in-path
        http_config:
          basic_auth: {username: u, password: hunter2}
  - name: db
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname]
"""


async def groups(client, **params) -> list[dict]:
    resp = await client.get("/api/v2/alerts/groups", params=params)
    assert resp.status == 200
    return await resp.json()


async def test_groups_shape_order_and_receivers_per_alert(tmp_path):
    async with api_client(CONFIG, tmp_path) as (client, rt):
        await post(rt,
                   {"labels": {"alertname": "B", "severity": "page", "team": "db"}},
                   {"labels": {"alertname": "A", "instance": "2"}},
                   {"labels": {"alertname": "A", "instance": "1"}})
        got = await groups(client)
        summary = [(g["labels"], g["receiver"]["name"], [a["labels"].get("instance") for a in g["alerts"]])
                   for g in got]
        # Label sets with fewer labels first, then by value; equal sets by receiver.
        assert summary == [
            ({"alertname": "A"}, "default", ["1", "2"]),
            ({"alertname": "B"}, "pager", [None]),
            ({"alertname": "B", "team": "db"}, "db", [None]),
        ]
        b = got[1]["alerts"][0]
        assert sorted(r["name"] for r in b["receivers"]) == ["db", "pager"]
        assert set(b) >= {"labels", "annotations", "startsAt", "endsAt", "updatedAt", "fingerprint",
                          "receivers", "status"}


async def test_groups_filters(tmp_path):
    async with api_client(CONFIG, tmp_path) as (client, rt):
        await post(rt, {"labels": {"alertname": "C", "severity": "critical"}},
                   {"labels": {"alertname": "C", "severity": "warning"}},
                   {"labels": {"alertname": "D"}})
        names = [g["labels"]["alertname"] for g in await groups(client, filter='alertname="D"')]
        assert names == ["D"]
        # silenced and inhibited default to true, as in Alertmanager's API spec.
        [c] = [g for g in await groups(client) if g["labels"]["alertname"] == "C"]
        assert len(c["alerts"]) == 2
        [c] = [g for g in await groups(client, inhibited="false") if g["labels"]["alertname"] == "C"]
        assert [a["labels"]["severity"] for a in c["alerts"]] == ["critical"]
        assert [g["receiver"]["name"] for g in await groups(client, receiver="pag.*")] == []
        resp = await client.get("/api/v2/alerts/groups", params={"filter": "bad"})
        assert resp.status == 400


async def test_groups_leave_out_resolved_alerts_and_empty_groups(tmp_path):
    async with api_client(CONFIG.replace("receiver: default\n  group_by", "receiver: default\n"
                                         "  group_wait: 10s\n  group_by"), tmp_path) as (client, rt):
        from tocsin.core.timefmt import format_ts
        now = rt.clock.now()
        await post(rt, {"labels": {"alertname": "E"}, "startsAt": format_ts(now - 60),
                        "endsAt": format_ts(now - 1)})
        assert await groups(client) == []
        await advance(rt, 10)
        assert rt.dispatcher.groups == {}


async def test_status_answers_the_config_as_alertmanager_does(tmp_path):
    config = CONFIG + (
        "escalation_policies: [{name: p, levels: [{after: 5m, receivers: [pager]}]}]\n"
        "silences: {allow_negative_only: true}\n")
    config = config.replace("receiver: db\n      group_by", "receiver: db\n      escalation_policy: p\n"
                            "      group_by")
    async with api_client(config, tmp_path) as (client, _rt):
        resp = await client.get("/api/v2/status")
        assert resp.status == 200
        body = await resp.json()
        assert body["cluster"]["status"] == "disabled"
        assert body["versionInfo"]["version"]
        assert body["uptime"].endswith("Z")
        original = body["config"]["original"]
        assert "hunter2" not in original
        doc = yaml.safe_load(original)
        # Only Alertmanager's keys: tocsin's sections and route keys are left out.
        assert list(doc) == ["global", "route", "inhibit_rules", "receivers", "templates"]
        assert "escalation_policy" not in doc["route"]["routes"][1]
        # A webhook URL is no secret in Alertmanager 0.25: in clear, as amtool needs it.
        wh = doc["receivers"][1]["webhook_configs"][0]
        assert wh["url"] == "http://127.0.0.1:1/secret-token-in-path"
        assert wh["http_config"] == {"basic_auth": {"username": "u", "password": "<secret>"},
                                     "follow_redirects": True, "enable_http2": True}
        assert wh["send_resolved"] is True
        assert wh["max_alerts"] == 0
        assert doc["global"]["resolve_timeout"] == "5m"
        assert doc["route"]["routes"][0] == {"receiver": "pager", "matchers": ['severity="page"'],
                                             "continue": True}


async def test_receivers(tmp_path):
    async with api_client(CONFIG, tmp_path) as (client, _rt):
        resp = await client.get("/api/v2/receivers")
        assert await resp.json() == [{"name": "default"}, {"name": "pager"}, {"name": "db"}]


async def test_state_metrics(tmp_path):
    from tocsin.core.clock import FakeClock
    from tocsin.testing import advance, api_client

    cfg = "route: {receiver: a, group_by: [alertname], group_wait: 1s}\nreceivers: [{name: a}]\n"
    async with api_client(cfg, tmp_path, clock=FakeClock(1_700_000_000.0)) as (client, rt):
        resp = await client.post("/api/v2/silences", json={
            "matchers": [{"name": "alertname", "value": "Quiet", "isRegex": False}],
            "startsAt": "2023-11-14T22:13:20Z", "endsAt": "2023-11-14T23:13:20Z",
            "createdBy": "t", "comment": "c"})
        assert resp.status == 200
        resp = await client.post("/api/v2/alerts", json=[
            {"labels": {"alertname": "Loud"}}, {"labels": {"alertname": "Quiet"}},
            {"labels": {"alertname": "Done"}, "endsAt": "2023-11-14T22:13:00Z"}])
        assert resp.status == 200
        await advance(rt, 1)
        text = await (await client.get("/metrics")).text()
        values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
        assert values['tocsin_alerts{state="firing"}'] == "2.0"
        assert values['tocsin_alerts{state="resolved"}'] == "1.0"
        assert values['tocsin_alerts_muted{reason="silence"}'] == "1.0"
        assert values['tocsin_incidents_open{state="firing"}'] == "2.0"
        assert values['tocsin_alerts_received_total{source="api_v2"}'] == "3.0"
        assert values["tocsin_config_last_reload_successful"] == "1.0"
        assert 'tocsin_queue_depth{queue="bus_dispatcher"}' in values
        assert "tocsin_event_loop_lag_seconds_count" in values  # the runtime's lag watch
        assert values["tocsin_ingest_held_total"] == "0.0"  # nothing was due: nothing held
        assert values["tocsin_ingest_held_seconds_total"] == "0.0"
        rt.counters["config_reload_failures"] += 1  # what a rejected reload records
        text = await (await client.get("/metrics")).text()
        assert "tocsin_config_last_reload_successful 0.0" in text
