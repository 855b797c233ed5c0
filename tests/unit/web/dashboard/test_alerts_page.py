"""The alert list: groups, filter, states, sort, completions, live part, hostile text."""

from __future__ import annotations

import html
import re

from tests.unit.web.dashboard.helpers import HOSTILE, HOSTILE_ATTR, dashboard, open_page, post_alerts
from tocsin.web.dashboard import alertview
from tocsin.web.dashboard.alerts import completions


def names(page: str) -> list[str]:
    return re.findall(r'<a class="name" href="/alerts/[0-9a-f]+">([^<]*)</a>', page)


def groups(page: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", g).strip()
        for g in re.findall(r'<section class="group">\s*<h2>(.*?)</h2>', page, re.S)
    ]


async def test_alerts_are_grouped_as_the_routing_tree_groups_them(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        await post_alerts(
            client,
            rt,
            {"labels": {"alertname": "Disk", "team": "a"}},
            {"labels": {"alertname": "Load", "team": "b"}},
            {"labels": {"alertname": "Cpu"}},
        )
        status, page = await open_page(client, "/")
        assert status == 200
        heads = groups(page)
        # team="a" takes the team-a route and continues to team-b: it shows in both groups.
        assert any("team-a" in h and 'alertname="Disk"' in h for h in heads)
        assert any("team-b" in h and 'alertname="Disk"' in h for h in heads)
        assert any("team-b" in h and 'alertname="Load"' in h for h in heads)
        assert any("default" in h and 'alertname="Cpu"' in h for h in heads)
        assert sorted(names(page)) == ["Cpu", "Disk", "Disk", "Load"]
        assert (await (await client.get("/alerts")).text()).count('class="name"') == 4


async def test_group_by_any_label_on_request(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        await post_alerts(
            client,
            rt,
            {"labels": {"alertname": "Disk", "dc": "east", "team": "a"}},
            {"labels": {"alertname": "Load", "dc": "east"}},
            {"labels": {"alertname": "Cpu", "dc": "west"}},
        )
        _, page = await open_page(client, "/alerts?group_by=dc")
        heads = groups(page)
        assert len(heads) == 2
        assert 'dc="east"' in heads[0]
        assert heads[0].endswith("<small>2</small>")
        assert 'dc="west"' in heads[1]
        assert sorted(names(page)) == ["Cpu", "Disk", "Load"]  # once each: no routing-tree duplicates


async def test_the_filter_takes_alertmanager_matchers_and_says_what_is_wrong(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        await post_alerts(
            client,
            rt,
            {"labels": {"alertname": "Disk", "instance": "db1", "severity": "critical"}},
            {"labels": {"alertname": "Disk", "instance": "web1", "severity": "critical"}},
            {"labels": {"alertname": "Load", "instance": "db2", "severity": "warning"}},
        )
        _, page = await open_page(
            client, "/alerts", params={"filter": 'severity="critical" instance=~"db.*"'}
        )
        assert names(page) == ["Disk"]
        assert 'value="severity=&#34;critical&#34; instance=~&#34;db.*&#34;"' in page  # kept in the bar
        # Commas, and the braces of an Alertmanager UI link, work too.
        _, page = await open_page(
            client, "/alerts", params={"filter": '{instance=~"db.*", alertname!="Disk"}'}
        )
        assert names(page) == ["Load"]
        status, page = await open_page(client, "/alerts", params={"filter": 'instance=~"("'})
        assert status == 400
        assert 'class="error"' in page
        assert "Filter:" in page
        assert names(page) == []


async def test_state_chips_count_and_choose_what_is_shown(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        await post_alerts(
            client,
            rt,
            {"labels": {"alertname": "A"}},
            {"labels": {"alertname": "B"}},
            {"labels": {"alertname": "C"}},
            {"labels": {"alertname": "D"}},
        )
        b = rt.lifecycle.get(next(a.fingerprint for a in rt.alerts if a.labels["alertname"] == "B"))
        assert b is not None
        assert (await client.post(f"/api/tocsin/v1/alerts/{b.id}/ack", json={"who": "x"})).status == 200
        resp = await client.post(
            "/api/v2/silences",
            json={
                "matchers": [{"name": "alertname", "value": "C", "isRegex": False}],
                "startsAt": "2023-11-14T22:00:00Z",
                "endsAt": "2023-11-15T22:00:00Z",
                "createdBy": "x",
                "comment": "y",
            },
        )
        assert resp.status == 200
        await post_alerts(client, rt, {"labels": {"alertname": "D"}, "endsAt": "2023-11-14T22:00:00Z"})
        _, page = await open_page(client, "/alerts")
        chips = dict(re.findall(r'class="chip state-(\w+)[^"]*"[^>]*>\w+ <b>(\d+)</b>', page))
        assert chips == {
            "firing": "1",
            "acknowledged": "1",
            "silenced": "1",
            "inhibited": "0",
            "resolved": "1",
        }
        assert sorted(names(page)) == ["A", "B", "C"]  # resolved is not shown by default
        _, page = await open_page(client, "/alerts?state=resolved")
        assert names(page) == ["D"]
        _, page = await open_page(client, "/alerts?state=acknowledged&state=silenced")
        assert sorted(names(page)) == ["B", "C"]
        assert "Acknowledged by x" in page


async def test_sorted_by_severity_then_newest_or_by_start_time(tmp_path):
    async with dashboard(tmp_path, "route: {receiver: r, group_by: ['...']}\nreceivers: [{name: r}]\n") as (
        client,
        rt,
    ):
        await post_alerts(
            client,
            rt,
            {"labels": {"alertname": "Old", "severity": "critical"}, "startsAt": "2023-11-14T20:00:00Z"},
            {"labels": {"alertname": "Mid", "severity": "warning"}, "startsAt": "2023-11-14T21:00:00Z"},
            {"labels": {"alertname": "New", "severity": "info"}, "startsAt": "2023-11-14T22:00:00Z"},
        )
        _, page = await open_page(client, "/alerts?group_by=nothing")
        assert names(page) == ["Old", "Mid", "New"]
        _, page = await open_page(client, "/alerts?group_by=nothing&sort=started")
        assert names(page) == ["New", "Mid", "Old"]


async def test_hostile_label_and_annotation_text_is_escaped(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        await post_alerts(
            client,
            rt,
            {"labels": {"alertname": HOSTILE, "x": HOSTILE_ATTR}, "annotations": {"summary": HOSTILE}},
        )
        for path in ("/", "/alerts?partial=1", "/alerts?group_by=x", "/alerts?filter=x%21%3D%22%22"):
            _, page = await open_page(client, path)
            assert HOSTILE not in page, path
            assert HOSTILE_ATTR not in page, path
            assert html.escape(HOSTILE) in page.replace("&#34;", "&quot;").replace("&#39;", "&#x27;"), path
            assert "onmouseover=" not in page.replace("onmouseover=&#34;", ""), path


async def test_the_live_part_is_the_list_alone_and_links_back_to_itself(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        await post_alerts(client, rt, {"labels": {"alertname": "A", "team": "b"}})
        _, page = await open_page(client, "/alerts?filter=team%3D%22b%22&group_by=team")
        live = html.unescape(re.search(r'data-live="([^"]+)"', page).group(1))
        assert "partial=1" in live
        assert "group_by=team" in live
        status, part = await open_page(client, live)
        assert status == 200
        assert part.lstrip().startswith('<section id="alert-list"')
        assert "<html" not in part
        assert names(part) == ["A"]
        # The list's forms come back to the page, not to the live part.
        assert 'name="next" value="/alerts?filter=' in part
        assert "partial" not in re.search(r'name="next" value="([^"]*)"', part).group(1)


async def test_completions_name_labels_then_their_values(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        await post_alerts(
            client,
            rt,
            {"labels": {"alertname": "Disk", "instance": 'db"1', "team": "a"}},
            {"labels": {"alertname": "Load", "instance": "db2"}},
        )
        held = list(rt.alerts)
        assert completions(held, "in") == ["instance="]
        assert completions(held, 'alertname="Disk" in') == ['alertname="Disk" instance=']
        assert completions(held, "instance=d") == ['instance="db\\"1"', 'instance="db2"']
        assert completions(held, 'team="a", instance=~"db2') == ['team="a", instance=~"db2"']
        assert completions(held, 'team="a" ') == [f'team="a" {n}=' for n in ("alertname", "instance", "team")]
        status, text = await open_page(client, "/alerts/complete", params={"filter": "alertname=L"})
        assert status == 200
        assert text.strip() == '<option value="alertname=&#34;Load&#34;"></option>'


async def test_a_storm_is_drawn_up_to_the_limit_and_counted_in_full(tmp_path, monkeypatch):
    monkeypatch.setattr(alertview, "MAX_ROWS", 3)
    async with dashboard(tmp_path) as (client, rt):
        await post_alerts(client, rt, *({"labels": {"alertname": "Storm", "n": str(i)}} for i in range(5)))
        _, page = await open_page(client, "/alerts?group_by=alertname")
        assert len(names(page)) == 3
        assert "and 2 more" in page
        assert re.search(r"firing <b>5</b>", page)


async def test_past_the_limit_whole_groups_are_only_counted(tmp_path, monkeypatch):
    monkeypatch.setattr(alertview, "MAX_ROWS", 2)
    async with dashboard(tmp_path) as (client, rt):
        await post_alerts(client, rt, *({"labels": {"alertname": "Storm", "n": str(i)}} for i in range(5)))
        _, page = await open_page(client, "/alerts?group_by=n")
        assert len(groups(page)) == 2
        assert "and 3 more groups with 3 alerts" in page
