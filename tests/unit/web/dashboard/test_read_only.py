"""A read-only caller (a session opened with a read token, a basic-auth user with the read
role) sees no action on any page, and is refused when it posts one anyway."""

from __future__ import annotations

import base64
import re

import bcrypt

from tests.unit.web.dashboard.helpers import csrf_of, dashboard, open_page
from tests.unit.web.dashboard.test_login import log_in
from tests.unit.web.tokens import TOKEN_AUTH, TOKENS
from tocsin.core.records import Silence, SilenceMatcher

BOB_PW = "bob-secret-pw"
BOB_HASH = bcrypt.hashpw(BOB_PW.encode(), bcrypt.gensalt(4)).decode()
CONFIG = TOKEN_AUTH + f"""    basic_auth_users:
      bob: "{BOB_HASH}"
    basic_auth_roles:
      bob: read
"""
BOB = {"Authorization": "Basic " + base64.b64encode(f"bob:{BOB_PW}".encode()).decode()}
ADMIN = {"Authorization": f"Bearer {TOKENS['admin']}"}


async def _fill(client, rt) -> tuple[str, str]:
    """An alert and an active silence; (the alert's id, the silence's id)."""
    resp = await client.post("/api/v2/alerts", json=[{"labels": {"alertname": "Disk", "team": "a"}}],
                             headers=ADMIN)
    assert resp.status == 200
    await rt.settle()
    now = rt.clock.now()
    sid = await rt.silences.set(Silence(matchers=(SilenceMatcher("team", "b"),), starts_at=now,
                                        ends_at=now + 3600, created_by="x", comment="c"), now)
    inc = rt.lifecycle.get(next(iter(rt.alerts)).fingerprint)
    return inc.id, sid


def _pages(aid: str, sid: str) -> list[str]:
    return ["/", "/alerts", f"/alerts/{aid}", "/silences", f"/silences/{sid}", "/silences/new",
            "/oncall", "/routes", "/stats", "/status"]


def _actions(page: str) -> list[str]:
    """The forms that post (but logging out) and the buttons outside a GET form."""
    main = page.split('<main id="main">', 1)[1]
    posts = re.findall(r'<form[^>]*method="post"[^>]*>', main)
    outside_get = re.sub(r'<form[^>]*method="get".*?</form>', "", main, flags=re.S)
    buttons = re.findall(r"<button[^>]*>[^<]*", outside_get)
    links = re.findall(r'<a[^>]*href="/silences/new[^"]*"[^>]*>', main)
    return posts + buttons + links


async def _refused_everywhere(client, aid: str, sid: str, token: str, **kw) -> None:
    for path in (f"/alerts/{aid}/ack", f"/alerts/{aid}/resolve", f"/silences/{sid}/expire", "/silences",
                 "/oncall/dead-letters/x/replay", "/oncall/remediations/x/approve"):
        resp = await client.post(path, data={"csrf": token, "matchers": 'a="b"', "comment": "c"},
                                 allow_redirects=False, **kw)
        assert resp.status == 403, (path, resp.status)


async def test_a_read_session_sees_no_action_on_any_page_and_is_refused(tmp_path):
    async with dashboard(tmp_path, CONFIG) as (client, rt):
        aid, sid = await _fill(client, rt)
        assert (await log_in(client, TOKENS["read"])).status == 303
        for path in _pages(aid, sid):
            status, page = await open_page(client, path)
            assert status == 200, path
            assert "grafana (read)" in page
            assert _actions(page) == [], path
        _, page = await open_page(client, "/alerts")
        await _refused_everywhere(client, aid, sid, csrf_of(page))  # the logout form's token
        assert rt.lifecycle.get(next(iter(rt.alerts)).fingerprint).state == "firing"
        assert rt.silences.get(sid).state(rt.clock.now()) == "active"


async def test_a_basic_auth_user_with_the_read_role_sees_no_action(tmp_path):
    async with dashboard(tmp_path, CONFIG) as (client, rt):
        aid, sid = await _fill(client, rt)
        for path in _pages(aid, sid):
            status, page = await open_page(client, path, headers=BOB)
            assert status == 200, path
            assert "bob (read)" in page
            assert "Read-only" in page
            assert _actions(page) == [], path
        token = next(c.value for c in client.session.cookie_jar if c.key == "tocsin_csrf")
        await _refused_everywhere(client, aid, sid, token, headers=BOB)


async def test_an_admin_sees_the_actions_the_read_role_does_not(tmp_path):
    """What the tests above look for is there for who may act: they cannot pass by finding
    nothing where nothing would ever be."""
    async with dashboard(tmp_path, CONFIG) as (client, rt):
        aid, sid = await _fill(client, rt)
        found = {}
        for path in _pages(aid, sid):
            _, page = await open_page(client, path, headers=ADMIN)
            found[path] = _actions(page)
        for path in ("/alerts", f"/alerts/{aid}", "/silences", f"/silences/{sid}", "/silences/new"):
            assert found[path], path
