"""Silences: the list, a new one (prefilled from a link or an alert) with its preview,
creating, editing, expiring."""

from __future__ import annotations

import html
import re

from tests.unit.web.dashboard.helpers import HOSTILE, csrf_of, dashboard, open_page, post_alerts
from tests.unit.web.tokens import TOKEN_AUTH, TOKENS

ALERTS = (
    {"labels": {"alertname": "Disk", "instance": "db1"}},
    {"labels": {"alertname": "Disk", "instance": "db2"}},
    {"labels": {"alertname": "Load", "instance": "db1"}},
)


def preview_count(page: str) -> int:
    return int(re.search(r'id="preview" class="preview" data-count="(\d+)"', page).group(1))


def field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return html.unescape(found.group(1))


async def create(client, token: str, **fields: str):
    data = {
        "csrf": token,
        "matchers": 'alertname="Disk"',
        "duration": "2h",
        "created_by": "alice",
        "comment": "disk swap",
        **fields,
    }
    return await client.post("/silences", data=data, allow_redirects=False)


async def test_an_alertmanager_link_opens_the_form_prefilled_with_the_alerts_it_would_mute(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        await post_alerts(client, rt, *ALERTS)
        status, page = await open_page(client, "/silences/new", params={"filter": '{alertname="Disk"}'})
        assert status == 200
        assert field(page, "matchers") == 'alertname="Disk"'
        assert field(page, "duration") == "2h"
        assert preview_count(page) == 2
        assert len(rt.silences) == 0  # opening the link silences nothing
        # The silence link of an alert names all its labels.
        _, listing = await open_page(client, "/alerts?filter=instance%3D%22db2%22")
        link = html.unescape(re.search(r'href="(/silences/new\?filter=[^"]+)"', listing).group(1))
        _, page = await open_page(client, link)
        assert field(page, "matchers") == 'alertname="Disk", instance="db2"'
        assert preview_count(page) == 1


async def test_the_preview_follows_the_matchers_and_says_what_is_wrong(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        await post_alerts(
            client,
            rt,
            *ALERTS,
            {"labels": {"alertname": "Disk", "instance": "old"}, "endsAt": "2023-11-14T22:00:00Z"},
        )
        for matchers, count in (
            ('instance="db1"', 2),
            ('alertname="Disk"', 2),
            ('instance=~"db.*"', 3),
            ('alertname="Nope"', 0),
        ):
            status, part = await open_page(client, "/silences/preview", params={"matchers": matchers})
            assert status == 200
            assert preview_count(part) == count, matchers
            assert "<html" not in part
        _, part = await open_page(client, "/silences/preview", params={"matchers": 'a=~"("'})
        assert 'class="error"' in part
        assert "matchers:" in part
        _, part = await open_page(client, "/silences/preview", params={"matchers": ""})
        assert "Give at least one matcher" in part


async def test_create_then_the_alerts_show_silenced(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        await post_alerts(client, rt, *ALERTS)
        _, page = await open_page(client, "/silences/new")
        resp = await create(client, csrf_of(page), comment=f"swap {HOSTILE}")
        assert resp.status == 303
        sid = resp.headers["Location"].rsplit("/", 1)[1]
        sil = rt.silences.get(sid)
        assert sil.created_by == "alice"
        assert sil.ends_at - sil.starts_at == 7200
        assert [str(m.to_matcher()) for m in sil.matchers] == ['alertname="Disk"']
        status, page = await open_page(client, f"/silences/{sid}")
        assert status == 200
        assert "active" in page
        assert HOSTILE not in page
        assert preview_count(page) == 2
        _, listing = await open_page(client, "/alerts?state=silenced")
        assert re.findall(r'class="name" href="[^"]+">(\w+)<', listing) == ["Disk", "Disk"]
        _, listing = await open_page(client, "/silences")
        assert re.search(r'<section class="group" id="active">\s*<h2>Active <small>1</small>', listing)


async def test_a_form_that_cannot_be_a_silence_is_shown_again_with_why(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        _, page = await open_page(client, "/silences/new")
        token = csrf_of(page)
        for fields, why in (
            ({"matchers": ""}, "matchers: give at least one"),
            ({"matchers": 'a=~"("'}, "matchers:"),
            ({"matchers": 'a=~".*"'}, "must not match the empty string"),
            ({"duration": "forever"}, "duration:"),
            ({"duration": "", "ends_at": "tomorrow"}, "ends_at:"),
            ({"duration": "", "ends_at": ""}, "give a duration"),
            ({"ends_at": "2020-01-01T00:00:00Z"}, "start time must be before end time"),
            ({"comment": ""}, "comment: say why"),
            ({"starts_at": "2030-01-01T00:00:00"}, "no time zone"),
        ):
            resp = await create(client, token, **fields)
            assert resp.status == 400, fields
            text = await resp.text()
            assert why in html.unescape(text), (fields, text[:2000])
            assert field(text, "created_by") == "alice"  # what was typed is kept
        assert len(rt.silences) == 0
        # Preview, without JavaScript: the same form, drawn again with its preview; nothing made.
        await post_alerts(client, rt, *ALERTS)
        resp = await create(client, token, action="preview", matchers='instance="db1"')
        assert resp.status == 200
        assert preview_count(await resp.text()) == 2
        assert len(rt.silences) == 0


async def test_edit_and_expire(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        await post_alerts(client, rt, *ALERTS)
        _, page = await open_page(client, "/silences/new")
        token = csrf_of(page)
        sid = (await create(client, token)).headers["Location"].rsplit("/", 1)[1]
        _, page = await open_page(client, f"/silences/{sid}")
        assert field(page, "id") == sid
        assert field(page, "matchers") == 'alertname="Disk"'
        # A later end, same matchers: the same silence, updated.
        resp = await create(
            client,
            token,
            id=sid,
            ends_at="2023-11-15T12:00:00Z",
            duration="",
            starts_at=field(page, "starts_at"),
            comment="longer",
        )
        assert resp.status == 303
        assert resp.headers["Location"] == f"/silences/{sid}"
        assert rt.silences.get(sid).comment == "longer"
        # Other matchers: a new silence, the old one expired (as in Alertmanager).
        resp = await create(client, token, id=sid, matchers='instance="db1"')
        new_id = resp.headers["Location"].rsplit("/", 1)[1]
        assert new_id != sid
        assert rt.silences.get(sid).state(rt.clock.now()) == "expired"
        resp = await client.post(
            f"/silences/{new_id}/expire", data={"csrf": token, "next": "/silences"}, allow_redirects=False
        )
        assert resp.status == 303
        assert resp.headers["Location"] == "/silences"
        assert rt.silences.get(new_id).state(rt.clock.now()) == "expired"
        _, listing = await open_page(client, "/silences")
        assert re.search(r'id="expired">\s*<h2>Expired <small>2</small>', listing)
        _, page = await open_page(client, f"/silences/{new_id}")
        assert "Expire now" not in page
        assert "Silence the same alerts again" in page
        status, _ = await open_page(client, "/silences/not-a-uuid")
        assert status == 404
        assert (await create(client, token, id="6d1b4f1c-0000-4000-8000-000000000000")).status == 400


async def test_pending_silences_are_listed_apart_and_the_filter_finds_by_matchers(tmp_path):
    async with dashboard(tmp_path) as (client, _rt):
        _, page = await open_page(client, "/silences/new")
        token = csrf_of(page)
        await create(client, token, starts_at="2023-11-16T00:00:00Z")
        await create(client, token, matchers='instance="db1"')
        _, listing = await open_page(client, "/silences")
        assert re.search(r'id="pending">\s*<h2>Pending <small>1</small>', listing)
        _, listing = await open_page(client, "/silences", params={"filter": 'instance="db1"'})
        assert listing.count("<tr>") == 2  # the header row and the one silence
        status, listing = await open_page(client, "/silences", params={"filter": 'a=~"("'})
        assert status == 400
        assert "Filter:" in listing


async def test_csrf_and_roles_on_silences(tmp_path):
    async with dashboard(tmp_path, TOKEN_AUTH) as (client, rt):
        read = {"Authorization": f"Bearer {TOKENS['read']}"}
        admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
        status, page = await open_page(client, "/silences/new", headers=read)
        assert status == 200
        assert "Create silence" not in page
        token = next(c.value for c in client.session.cookie_jar if c.key == "tocsin_csrf")
        form = {"csrf": token, "matchers": 'a="b"', "duration": "1h", "comment": "x"}
        assert (await client.post("/silences", data=form, headers=read)).status == 403
        assert (await client.post("/silences", data={**form, "csrf": "nope"}, headers=admin)).status == 403
        assert len(rt.silences) == 0
        resp = await client.post("/silences", data=form, headers=admin, allow_redirects=False)
        assert resp.status == 303
        [sil] = rt.silences.query([], rt.clock.now())
        assert sil.created_by == "oncall"  # the token's name when the form leaves it empty
        path = f"/silences/{sil.id}/expire"
        assert (await client.post(path, data={"csrf": token}, headers=read)).status == 403
        assert (await client.post(path, data={}, headers=admin)).status == 403
        assert (
            await client.post(path, data={"csrf": token}, headers={**admin, "Origin": "http://evil.example"})
        ).status == 403
        assert sil.state(rt.clock.now()) == "active"
        assert rt.silences.get(sil.id).state(rt.clock.now()) == "active"


async def test_the_slack_silence_link_lands_on_the_form_prefilled(tmp_path):
    from urllib.parse import urlsplit

    from tocsin.channels.slack.render import silence_url

    labels = {"alertname": "DiskFull", "instance": 'db "1"', "path": "C:\\data"}
    link = silence_url("http://tocsin.example", labels)
    route, query = urlsplit(link).fragment.split("?", 1)
    assert route == "/silences/new"  # what dashboard.js sends to /silences/new, with the query
    async with dashboard(tmp_path) as (client, rt):
        await post_alerts(client, rt, {"labels": labels}, {"labels": {"alertname": "DiskFull"}})
        status, page = await open_page(client, f"/silences/new?{query}")
        assert status == 200
        assert field(page, "matchers") == 'alertname="DiskFull", instance="db \\"1\\"", path="C:\\\\data"'
        assert field(page, "duration") == "1h"
        assert preview_count(page) == 1
        resp = await create(client, csrf_of(page), matchers=field(page, "matchers"), duration="1h")
        assert resp.status == 303
        [sil] = rt.silences.query([], rt.clock.now())
        assert {m.name: m.value for m in sil.matchers} == labels
