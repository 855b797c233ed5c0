"""The incident lifecycle end to end through the HTTP API, on the fake clock:
native events, occurrences, acknowledgement, manual resolution, expiry,
escalation (and its resumption after a restart), history, list filters."""

from __future__ import annotations

import sqlite3

import pytest

from tocsin.core.clock import FakeClock
from tocsin.testing import RecordingServer, advance, api_client

T0 = 1_700_000_000.0

CONFIG = """
global:
  resolve_timeout: 5m
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
  routes:
    - matchers: ['team="db"']
      receiver: team
      escalation_policy: db-oncall
receivers:
  - name: team
    webhook_configs: [{{url: "{url}/team", send_resolved: true}}]
  - name: lead
    webhook_configs: [{{url: "{url}/lead"}}]
  - name: pager
    webhook_configs: [{{url: "{url}/pager"}}]
escalation_policies:
  - name: db-oncall
    levels:
      - after: 0m
        receivers: [team]
      - after: 5m
        receivers: [lead]
      - after: 15m
        receivers: [pager]
    repeat: 30m
"""


def paths(server: RecordingServer) -> list[str]:
    return [r.path for r in server.requests]


async def event(client, **body):
    resp = await client.post("/api/tocsin/v1/events", json=body)
    assert resp.status in (200, 201), await resp.text()
    return await resp.json()


async def get_alert(client, ref):
    resp = await client.get(f"/api/tocsin/v1/alerts/{ref}")
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def history(client, ref):
    resp = await client.get(f"/api/tocsin/v1/alerts/{ref}/history")
    assert resp.status == 200
    return [(h["kind"], h["actor"]) for h in (await resp.json())["history"]]


async def test_event_is_an_alert_and_a_repost_is_another_occurrence(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, _):
        first = await event(client, type="DiskFull", title="Disk full", severity="critical",
                            resource="db1", value=97, threshold=90)
        assert first["state"] == "firing"
        assert first["occurrences"] == 1
        clock.advance(60)
        again = await event(client, type="DiskFull", title="Disk full", severity="critical",
                            resource="db1", value=98, threshold=90)
        assert again["id"] == first["id"]
        assert again["fingerprint"] == first["fingerprint"]
        assert again["occurrences"] == 2

        alert = await get_alert(client, first["id"])
        assert alert["labels"] == {"alertname": "DiskFull", "severity": "critical", "resource": "db1"}
        assert alert["annotations"]["summary"] == "Disk full"
        assert alert["annotations"]["value"] == "98"
        assert alert["occurrences"] == 2
        assert alert["state"] == "firing"
        assert alert["receivers"] == ["team"]
        # The value changed, so the re-post is an update in history; a plain re-post is not.
        assert await history(client, first["id"]) == [("fired", "native"), ("updated", "native")]
        # Also reachable by fingerprint, and through Alertmanager's API.
        assert (await get_alert(client, first["fingerprint"]))["id"] == first["id"]
        v2 = await (await client.get("/api/v2/alerts")).json()
        assert [a["fingerprint"] for a in v2] == [first["fingerprint"]]


async def test_event_errors_name_the_field_and_keep_the_good_ones(tmp_path, server):
    async with api_client(CONFIG.format(url=server.url), tmp_path) as (client, rt):
        resp = await client.post("/api/tocsin/v1/events", json=[
            {"type": "Good"}, {"type": "Bad", "severity": "urgent"},
        ])
        assert resp.status == 400
        body = await resp.json()
        assert body["field"] == "events[1].severity"
        assert [a["index"] for a in body["accepted"]] == [0]
        assert len(rt.alerts) == 1
        resp = await client.post("/api/tocsin/v1/events", json={"title": "no type"})
        assert resp.status == 400
        assert (await resp.json())["field"] == "type"


async def test_acknowledge_stops_repeats_and_is_announced(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, rt):
        created = await event(client, type="HighLoad", severity="warning")
        await advance(rt, 30)
        assert paths(server) == ["/team"]

        resp = await client.post(f"/api/tocsin/v1/alerts/{created['id']}/ack",
                                 json={"who": "alice", "note": "looking"})
        assert resp.status == 200
        acked = await resp.json()
        assert acked["state"] == "acknowledged"
        assert acked["acknowledged_by"] == "alice"
        assert acked["ack_note"] == "looking"
        await advance(rt, 0)
        assert paths(server) == ["/team", "/team"]
        notice = server.requests[-1].json()
        assert notice["notice"] == {"event": "acknowledged", "actor": "alice", "note": "looking",
                                    "text": "Acknowledged by alice: looking"}
        assert notice["status"] == "firing"

        # Acknowledging again changes nothing and says nothing.
        assert (await client.post(f"/api/tocsin/v1/alerts/{created['id']}/ack",
                                  json={"who": "bob"})).status == 200
        await advance(rt, 0)
        assert len(server.requests) == 2
        assert (await get_alert(client, created["id"]))["acknowledged_by"] == "alice"

        # Keep it firing past repeat_interval: no reminder while acknowledged.
        for _ in range(20):  # 80 minutes, re-posted within resolve_timeout
            await event(client, type="HighLoad", severity="warning")
            await advance(rt, 4 * 60)
        assert len(server.requests) == 2

        # Unacknowledged: reminders come back at the next flush.
        resp = await client.post(f"/api/tocsin/v1/alerts/{created['id']}/unack", json={"who": "alice"})
        assert resp.status == 200
        assert (await resp.json())["state"] == "firing"
        await advance(rt, 0)
        assert server.requests[-1].json()["notice"]["event"] == "unacknowledged"
        await event(client, type="HighLoad", severity="warning")
        await advance(rt, 4 * 60)
        await event(client, type="HighLoad", severity="warning")
        await advance(rt, 60)  # the group's next flush: the reminder is overdue
        assert "notice" not in server.requests[-1].json()
        assert await history(client, created["id"]) == [
            ("fired", "native"), ("notified", "team"), ("acknowledged", "alice"), ("notified", "team"),
            ("unacknowledged", "alice"), ("notified", "team"), ("notified", "team"),
        ]


async def test_ack_of_unknown_or_resolved_alert(tmp_path, server):
    async with api_client(CONFIG.format(url=server.url), tmp_path) as (client, _):
        resp = await client.post("/api/tocsin/v1/alerts/nope/ack", json={"who": "a"})
        assert resp.status == 404
        assert (await resp.json())["field"] == "id"
        created = await event(client, type="X")
        assert (await client.post(f"/api/tocsin/v1/alerts/{created['id']}/resolve",
                                  json={"who": "a"})).status == 200
        resp = await client.post(f"/api/tocsin/v1/alerts/{created['id']}/ack", json={"who": "a"})
        assert resp.status == 409
        resp = await client.post(f"/api/tocsin/v1/alerts/{created['id']}/unack", json={"who": "a"})
        assert resp.status == 409
        resp = await client.post(f"/api/tocsin/v1/alerts/{created['id']}/ack", json={"who": 5})
        assert resp.status == 400
        assert (await resp.json())["field"] == "who"


async def test_manual_resolve_notifies_and_a_new_firing_opens_a_new_incident(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, rt):
        created = await event(client, type="Down", severity="critical")
        await advance(rt, 30)
        resp = await client.post(f"/api/tocsin/v1/alerts/{created['id']}/resolve",
                                 json={"who": "bob", "note": "fixed by restart"})
        done = await resp.json()
        assert done["state"] == "resolved"
        assert done["resolved_by"] == "bob"
        assert done["resolution"] == "manual"
        await advance(rt, 5 * 60)  # the group's next flush sends the resolved notice
        last = server.requests[-1].json()
        assert last["status"] == "resolved"
        assert server.requests[-1].path == "/team"

        # Alertmanager's API shows it resolved too: gone from the active list.
        assert await (await client.get("/api/v2/alerts")).json() == []

        again = await event(client, type="Down", severity="critical")
        assert again["id"] != created["id"]
        assert again["occurrences"] == 1
        assert again["fingerprint"] == created["fingerprint"]
        old = await get_alert(client, created["id"])
        assert old["state"] == "resolved"
        rows = (await (await client.get(f"/api/tocsin/v1/alerts/{again['id']}/history")).json())["history"]
        assert rows[0]["kind"] == "fired"
        assert rows[0]["detail"]["previous"] == created["id"]


async def test_a_fresh_alert_writes_no_history_row_its_incident_implies_the_fired_event(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, rt):
        created = await event(client, type="Down", severity="critical")
        await rt.store.load_alerts()  # a read through the store: the journaled write is committed
        with sqlite3.connect(tmp_path / "api.db") as db:
            assert db.execute("SELECT kind FROM history").fetchall() == []
            assert db.execute("SELECT COUNT(*) FROM incidents").fetchone() == (1,)
            assert db.execute("SELECT COUNT(*) FROM incident_rows").fetchone() == (0,)  # its alert's row
        rows = (await (await client.get(f"/api/tocsin/v1/alerts/{created['id']}/history")).json())["history"]
        assert [(r["id"], r["kind"], r["actor"], r["detail"]["source"]) for r in rows] == [
            (0, "fired", "native", "native")]
        assert rows[0]["at"] == (await get_alert(client, created["id"]))["fired_at"]


async def test_an_alert_collected_before_its_incident_expired_keeps_the_incident(tmp_path, server):
    """The alert's row implies its open incident: collecting the alert writes the incident
    as a row first, so a restart still finds it."""
    clock = FakeClock(T0)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, rt):
        created = await event(client, type="Short", ttl="90s")
        clock.advance(120)  # past the alert's end; its expiry has not run
        rt.dispatcher.groups.clear()  # and no group holds it
        await rt.collect_garbage()
        with sqlite3.connect(tmp_path / "api.db") as db:
            assert db.execute("SELECT COUNT(*) FROM alerts").fetchone() == (0,)
            assert db.execute("SELECT id, state FROM incident_rows").fetchall() == [(created["id"], "firing")]
        assert (await rt.store.get_incident(created["id"])) == rt.lifecycle.current[created["fingerprint"]]


async def test_alerts_that_stop_being_posted_expire(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, rt):
        created = await event(client, type="Flaky")
        short = await event(client, type="Short", ttl="90s")
        await advance(rt, 89)
        assert (await get_alert(client, short["id"]))["state"] == "firing"
        await advance(rt, 2)
        gone = await get_alert(client, short["id"])
        assert gone["state"] == "resolved"
        assert gone["resolution"] == "expired"
        await advance(rt, 5 * 60 - 91 - 1)
        assert (await get_alert(client, created["id"]))["state"] == "firing"
        await advance(rt, 2)
        expired = await get_alert(client, created["id"])
        assert expired["state"] == "resolved"
        assert expired["resolution"] == "expired"
        assert expired["resolved_at"] == "2023-11-14T22:18:20.000Z"  # T0 + resolve_timeout
        assert (await history(client, created["id"]))[-1] == ("expired", "tocsin")


async def test_a_silenced_alert_is_muted_in_history(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, rt):
        created = await event(client, type="Noisy")
        resp = await client.post("/api/v2/silences", json={
            "matchers": [{"name": "alertname", "value": "Noisy", "isRegex": False}],
            "startsAt": "2023-11-14T22:13:20Z", "endsAt": "2023-11-14T23:13:20Z",
            "createdBy": "ops", "comment": "known",
        })
        sid = (await resp.json())["silenceID"]
        await advance(rt, 30)
        assert server.requests == []
        alert = await get_alert(client, created["id"])
        assert alert["muted_by"] == [f"silence:{sid}"]
        assert ("muted", "tocsin") in await history(client, created["id"])


async def test_list_filters_and_pagination(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, _):
        ids = []
        for i in range(5):
            ids.append((await event(client, type=f"A{i}", severity="critical" if i % 2 else "info",
                                    resource=f"r{i}"))["id"])
            clock.advance(60)
        await client.post(f"/api/tocsin/v1/alerts/{ids[1]}/ack", json={"who": "a"})
        await client.post(f"/api/tocsin/v1/alerts/{ids[2]}/resolve", json={"who": "a"})

        async def listing(query):
            resp = await client.get(f"/api/tocsin/v1/alerts?{query}")
            assert resp.status == 200, await resp.text()
            body = await resp.json()
            return [a["id"] for a in body["alerts"]], body["total"]

        assert await listing("") == ([ids[4], ids[3], ids[2], ids[1], ids[0]], 5)
        assert await listing("state=acknowledged") == ([ids[1]], 1)
        assert await listing("state=open") == ([ids[4], ids[3], ids[1], ids[0]], 4)
        assert await listing("state=resolved,acknowledged") == ([ids[2], ids[1]], 2)
        assert await listing("severity=critical") == ([ids[3], ids[1]], 2)
        assert await listing("filter=resource=~%22r[34]%22") == ([ids[4], ids[3]], 2)
        assert await listing("limit=2&offset=1") == ([ids[3], ids[2]], 5)
        assert await listing("since=2023-11-14T22:15:20Z") == ([ids[4], ids[3], ids[2]], 3)
        assert await listing("since=180s") == ([ids[4], ids[3], ids[2]], 3)
        assert await listing(f"until={T0 + 120}") == ([ids[1], ids[0]], 2)
        for query, field in (("state=open,closed", "state[1]"), ("limit=0", "limit"), ("limit=x", "limit"),
                             ("since=yesterday", "since"), ("filter=a=~(", "filter[0]")):
            resp = await client.get(f"/api/tocsin/v1/alerts?{query}")
            assert resp.status == 400, query
            assert (await resp.json())["field"] == field, query


async def test_escalation_timeline_stopped_by_acknowledgement(tmp_path, server):
    clock = FakeClock(T0)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, rt):
        created = await event(client, type="DBDown", severity="critical", labels={"team": "db"})

        timeline = []

        async def until(seconds):
            nonlocal timeline
            before = len(server.requests)
            await advance(rt, seconds)
            for r in server.requests[before:]:
                body = r.json()
                timeline.append((round(clock.now() - T0), r.path, body.get("notice", {}).get("text", "")))

        await until(0)      # level 1 names the route's own receiver: the group notifies it
        await until(30)     # group_wait
        for _ in range(9):  # to 5m, re-posting as Prometheus would
            await event(client, type="DBDown", severity="critical", labels={"team": "db"})
            await until(30)
        esc = await (await client.get("/api/tocsin/v1/escalations")).json()
        assert [(e["level"], e["receivers"], e["due_in_seconds"]) for e in esc] == [(3, ["pager"], 600.0)]
        for _ in range(20):  # to 15m
            await event(client, type="DBDown", severity="critical", labels={"team": "db"})
            await until(30)
        for _ in range(60):  # to 45m: the last level repeats every 30m
            await event(client, type="DBDown", severity="critical", labels={"team": "db"})
            await until(30)
        assert timeline == [
            (30, "/team", ""),
            (300, "/lead", "Escalated: escalation level 2 of policy db-oncall"),
            (900, "/pager", "Escalated: escalation level 3 of policy db-oncall"),
            (2700, "/pager", "Escalated: escalation level 3 of policy db-oncall (repeat 1)"),
        ]
        resp = await client.post(f"/api/tocsin/v1/alerts/{created['id']}/ack", json={"who": "carol"})
        assert resp.status == 200
        await until(0)
        # The acknowledgement reaches the route's receiver and everyone escalation reached.
        assert sorted(t[1] for t in timeline[4:]) == ["/lead", "/pager", "/team"]
        assert {t[2] for t in timeline[4:]} == {"Acknowledged by carol"}
        esc = await (await client.get("/api/tocsin/v1/escalations")).json()
        assert esc[0]["paused"] is True
        count = len(timeline)
        for _ in range(80):  # 40 more minutes: no escalation while acknowledged
            await event(client, type="DBDown", severity="critical", labels={"team": "db"})
            await until(30)
        assert len(timeline) == count
        kinds = [k for k, _ in await history(client, created["id"]) if k in ("escalated", "acknowledged")]
        assert kinds == ["escalated", "escalated", "escalated", "escalated", "acknowledged"]


async def test_escalation_resumes_after_restart_with_the_remaining_delay(tmp_path, server):
    clock = FakeClock(T0)
    config = CONFIG.format(url=server.url)
    async with api_client(config, tmp_path, clock=clock) as (client, rt):
        created = await event(client, type="DBDown", severity="critical", labels={"team": "db"},
                              ttl="1h")
        await advance(rt, 30)
        await advance(rt, 90)  # 2m in
    assert paths(server) == ["/team"]
    clock.advance(60)  # down for a minute
    async with api_client(config, tmp_path, clock=clock) as (client, rt):
        await advance(rt, 0)
        assert paths(server) == ["/team"]  # nothing re-sent by the restart
        esc = await (await client.get("/api/tocsin/v1/escalations")).json()
        assert [(e["id"], e["level"], e["due_in_seconds"]) for e in esc] == [(created["id"], 2, 120.0)]
        await advance(rt, 119)
        assert paths(server) == ["/team"]
        await advance(rt, 1)
        assert paths(server) == ["/team", "/lead"]
        assert (await get_alert(client, created["id"]))["occurrences"] == 1


async def test_escalation_config_errors_name_the_field():
    from tocsin.config.document import ConfigError
    from tocsin.testing import make_config

    bad = """
route:
  receiver: a
  routes:
    - receiver: a
      escalation_policy: nope
receivers: [{name: a}]
escalation_policies:
  - name: p
    levels:
      - {after: 1m, receivers: [ghost]}
  - name: p
    levels: [{receivers: [a]}]
"""
    with pytest.raises(ConfigError) as err:
        make_config(bad)
    text = str(err.value)
    assert "route.routes[0].escalation_policy: undefined escalation policy 'nope'" in text
    assert "escalation_policies[0].levels[0].receivers[0]: undefined receiver 'ghost'" in text
    assert "escalation_policies[1].name: escalation policy 'p' is not unique" in text

    for levels, where in (("[{after: 5m, receivers: [a]}, {after: 1m, receivers: [a]}]", "levels[1].after"),
                          ("[]", "levels"), ("[{after: 1m, receivers: []}]", "levels[0].receivers")):
        with pytest.raises(ConfigError) as err:
            make_config(f"route: {{receiver: a}}\nreceivers: [{{name: a}}]\n"
                        f"escalation_policies: [{{name: p, levels: {levels}}}]\n")
        assert f"escalation_policies[0].{where}" in str(err.value)


async def test_stats_over_a_seeded_history(tmp_path, server):
    from tocsin.incidents.plan import Incident
    from tocsin.store import Attempt

    now = T0 + 3 * 86400
    clock = FakeClock(now)
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=clock) as (client, rt):
        day = 86400.0
        base = now - 2 * day  # inside a 2-day window ... (seeded at 10:xx UTC on each day)
        seeded = []
        # DiskFull: 4 firings within 40 minutes (flapping), each acked after 60s, resolved after 600s.
        for i in range(4):
            t = base + i * 600
            seeded.append(Incident(id=f"d{i}", fingerprint="fp-disk", labels={
                "alertname": "DiskFull", "severity": "critical"}, state="resolved", fired_at=t,
                last_seen=t, occurrences=3, acknowledged_at=t + 60, acknowledged_by="a",
                resolved_at=t + 600, resolution="resolved"))
        # HighLoad: twice, a day apart, acked after 300s and 900s, still open.
        for i, ack in enumerate((300, 900)):
            t = base + day * i + 3600
            seeded.append(Incident(id=f"h{i}", fingerprint=f"fp-load{i}", labels={
                "alertname": "HighLoad", "severity": "warning"}, state="acknowledged", fired_at=t,
                last_seen=t, acknowledged_at=t + ack, acknowledged_by="b"))
        # Outside the window: not counted.
        seeded.append(Incident(id="old", fingerprint="fp-old", labels={"alertname": "Old"},
                               state="resolved", fired_at=now - 3 * day, last_seen=now - 3 * day,
                               resolved_at=now - 3 * day + 5, resolution="expired"))
        await rt.store.save(incidents=seeded)
        for i in range(5):
            await rt.store.save_attempt(Attempt(at=base + i, receiver="team", integration="webhook[0]",
                                                group_key="g", attempt=1, latency=0.01,
                                                error="" if i < 4 else "HTTP 500", status=None))

        resp = await client.get("/api/tocsin/v1/stats?days=2")
        assert resp.status == 200, await resp.text()
        s = await resp.json()
        assert (s["total"], s["open"], s["acknowledged"], s["resolved"]) == (6, 2, 6, 4)
        assert s["by_alertname"] == [{"name": "DiskFull", "count": 4}, {"name": "HighLoad", "count": 2}]
        assert s["by_severity"] == [{"name": "critical", "count": 4}, {"name": "warning", "count": 2}]
        hour = int((base % day) // 3600)
        assert s["peak_hour"] == hour
        assert s["peak_hour_count"] == 4
        assert sum(s["hourly"]) == 6
        assert s["hourly"][hour + 1] == 2
        assert s["mtta"] == {"count": 6, "mean": 240.0, "p50": 60.0, "p90": 900.0}
        assert s["mttr"] == {"count": 4, "mean": 600.0, "p50": 600.0, "p90": 600.0}
        assert [(f["fingerprint"], f["max_per_hour"]) for f in s["flapping"]] == [("fp-disk", 4)]
        assert [(n["fingerprint"], n["firings"], n["occurrences"]) for n in s["noisiest"]][:1] == [
            ("fp-disk", 4, 12)]
        assert (s["notifications_sent"], s["notifications_failed"]) == (4, 1)
        assert s["notifications"][0]["receiver"] == "team"

        resp = await client.get("/api/tocsin/v1/stats?days=0")
        assert resp.status == 400
        assert (await resp.json())["field"] == "days"
        resp = await client.get("/api/tocsin/v1/stats?tz=Mars/Base")
        assert resp.status == 400
        assert (await resp.json())["field"] == "tz"


async def test_the_ack_link_is_a_page_whose_form_acknowledges(tmp_path, server):
    async with api_client(CONFIG.format(url=server.url), tmp_path) as (client, _):
        created = await event(client, type="Link<b>")
        resp = await client.get(f"/api/tocsin/v1/alerts/{created['fingerprint']}/ack")
        assert resp.status == 200
        assert resp.content_type == "text/html"
        page = await resp.text()
        assert "Link&lt;b&gt;" in page
        assert "<b>Link" not in page
        assert f'action="/api/tocsin/v1/alerts/{created["id"]}/ack"' in page
        assert (await get_alert(client, created["id"]))["state"] == "firing"  # GET changed nothing
        resp = await client.post(f"/api/tocsin/v1/alerts/{created['id']}/ack",
                                 data={"who": "dave", "note": "from the link"})
        assert resp.status == 200
        got = await get_alert(client, created["id"])
        assert (got["state"], got["acknowledged_by"], got["ack_note"]) == (
            "acknowledged", "dave", "from the link")


async def test_escalations_acknowledgements_and_silences_survive_a_reload(tmp_path, server):
    from tocsin.testing import make_config

    clock = FakeClock(T0)
    config = CONFIG.format(url=server.url)
    async with api_client(config, tmp_path, clock=clock) as (client, rt):
        pending = await event(client, type="DBDown", labels={"team": "db"})
        acked = await event(client, type="Other", labels={"team": "db"})
        await client.post(f"/api/tocsin/v1/alerts/{acked['id']}/ack", json={"who": "a"})
        resp = await client.post("/api/v2/silences", json={
            "matchers": [{"name": "alertname", "value": "Nope", "isRegex": False}],
            "startsAt": "2023-11-14T22:13:20Z", "endsAt": "2023-11-15T22:13:20Z",
            "createdBy": "t", "comment": "c"})
        sid = (await resp.json())["silenceID"]
        await advance(rt, 60)
        await rt.reload(make_config(config.replace("repeat_interval: 1h", "repeat_interval: 2h")))
        esc = {e["id"]: e for e in await (await client.get("/api/tocsin/v1/escalations")).json()}
        assert esc[pending["id"]]["level"] == 2
        assert esc[pending["id"]]["due_in_seconds"] == 240.0
        assert esc[acked["id"]]["paused"] is True
        assert (await get_alert(client, acked["id"]))["state"] == "acknowledged"
        assert [s["id"] for s in await (await client.get("/api/v2/silences")).json()] == [sid]
        before = len([r for r in server.requests if r.path == "/lead"])
        await advance(rt, 240)
        assert len([r for r in server.requests if r.path == "/lead"]) == before + 1  # only DBDown's


async def test_the_escalation_is_stored_with_the_alert_not_later(tmp_path, server):
    # A crash right after the 2xx must not lose the escalation: it is in the same write (the
    # one the 2xx waits for: journaled, tests/unit/store/test_journal.py has the crash).
    async with api_client(CONFIG.format(url=server.url), tmp_path, clock=FakeClock(T0)) as (client, rt):
        saves: list[dict] = []
        save = rt.store.save

        async def recording(**kw):
            saves.append(kw)
            await save(**kw)

        rt.store.save = recording  # the ingester writes through the same store
        created = await event(client, type="DBDown", labels={"team": "db"})
        first = saves[0]
        assert first["journal"] is True
        assert [a.labels["alertname"] for a in first["alerts"]] == ["DBDown"]
        (stored,) = [i for i in first["incidents"] if i.id == created["id"]]
        assert stored.escalation is not None
        assert (stored.escalation.policy, stored.escalation.next_at) == ("db-oncall", T0)
