"""The dashboard's frame: static files by content hash, headers, nav, auth and CSRF."""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from urllib.parse import urlencode

from tests.unit.web.dashboard.helpers import csrf_of, dashboard, open_page, post_alerts
from tests.unit.web.tokens import TOKEN_AUTH, TOKENS
from tocsin.web.dashboard import csrf
from tocsin.web.dashboard.nav import NAV
from tocsin.web.dashboard.render import CSP, back, safe_url

STATIC = resources.files("tocsin.web.dashboard") / "static"


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


async def test_static_files_are_served_by_content_hash_with_an_immutable_cache_lifetime(tmp_path):
    async with dashboard(tmp_path) as (client, _rt):
        status, page = await open_page(client, "/")
        assert status == 200
        links = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
        assert len(links) == 4  # the stylesheet, the icon, htmx, the dashboard's script
        for link in links:
            resp = await client.get(link)
            assert resp.status == 200
            assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            body = await resp.read()
            assert hashlib.sha256(body).hexdigest()[:12] in link  # the name changes with the content
        htmx = next(link for link in links if "htmx" in link)
        assert (await (await client.get(htmx)).read()) == (
            STATIC / "vendor" / "htmx-2.0.4.min.js"
        ).read_bytes()
        assert (await client.get("/static/dashboard.css")).status == 404  # the plain name is not served
        assert (await client.get("/static/dashboard.000000000000.css")).status == 404


def test_the_vendored_file_is_the_one_its_record_names():
    record = (STATIC / "vendor" / "VENDORED.md").read_text()
    digest = hashlib.sha256((STATIC / "vendor" / "htmx-2.0.4.min.js").read_bytes()).hexdigest()
    assert f"file sha256 {digest}" in record
    assert (STATIC / "vendor" / "htmx.LICENSE").read_text().startswith("Zero-Clause BSD")


async def test_pages_forbid_inline_scripts_and_framing_and_are_not_cached(tmp_path):
    async with dashboard(tmp_path) as (client, _rt):
        resp = await client.get("/alerts")
        assert resp.headers["Content-Security-Policy"] == CSP
        assert "script-src 'self'" in CSP
        assert "unsafe-inline" not in CSP
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Cache-Control"] == "no-store"
        page = await resp.text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", page)


async def test_the_nav_shows_the_pages_that_are_served_and_marks_the_current_one(tmp_path):
    async with dashboard(tmp_path) as (client, _rt):
        _, page = await open_page(client, "/alerts")
        shown = re.findall(r'<li><a href="(/[a-z]*)"', page)
        served = [item.path for item in NAV if (await client.get(item.path)).status == 200]
        assert shown == served
        assert "/alerts" in shown
        assert '<a href="/alerts" aria-current="page">Alerts</a>' in page


async def test_without_auth_a_banner_says_anyone_can_act(tmp_path):
    async with dashboard(tmp_path) as (client, _rt):
        _, page = await open_page(client, "/")
        assert "No authentication is configured" in page


async def test_pages_need_the_read_role_and_actions_the_admin_role(tmp_path):
    async with dashboard(tmp_path, TOKEN_AUTH) as (client, _rt):
        # Tokens only: a page sends the browser to the login page; the API answers 401.
        for path in ("/", "/alerts?state=firing"):
            refused = await client.get(path, allow_redirects=False)
            assert refused.status == 303
            assert refused.headers["Location"] == "/login?" + urlencode({"next": path})
        refused = await client.get("/api/v2/alerts")
        assert refused.status == 401
        # A header per scheme: a browser asks for a password only when Basic comes in its own.
        assert refused.headers.getall("WWW-Authenticate") == ['Bearer realm="tocsin"', 'Basic realm="tocsin"']
        assert (await client.get("/alerts", headers=bearer("ingest"))).status == 403
        status, page = await open_page(client, "/alerts", headers=bearer("read"))
        assert status == 200
        assert "Read-only" in page
        assert "No authentication" not in page
        assert (await client.get("/events", headers=bearer("ingest"))).status == 403
        # The static files are the same for everyone and hold nothing secret.
        link = re.search(r'href="(/static/[^"]+\.css)"', page).group(1)
        assert (await client.get(link)).status == 200


def test_a_redirect_goes_only_to_a_path_of_this_site():
    assert back("/alerts?state=firing").location == "/alerts?state=firing"
    for target in (
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:x",
        "",
        "/a\r\nSet-Cookie: x=1",
    ):
        assert back(target).location == "/alerts"


def test_only_http_links_are_links():
    assert safe_url("https://runbooks.example/disk") == "https://runbooks.example/disk"
    assert safe_url("http://x.example") == "http://x.example"
    for bad in (
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,<script>",
        "//x.example",
        "/relative",
        "vbscript:x",
        "https://",
        None,
        "",
    ):
        assert safe_url(bad) is None


async def test_a_page_sets_the_csrf_cookie_its_forms_carry(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        await post_alerts(client, rt, {"labels": {"alertname": "A"}})
        resp = await client.get("/alerts")
        cookie = resp.cookies[csrf.COOKIE]
        assert cookie["httponly"]
        assert cookie["samesite"] == "Strict"
        assert csrf_of(await resp.text()) == cookie.value
        # The next page keeps the cookie's token.
        again = await client.get("/alerts")
        assert csrf.COOKIE not in again.cookies
        assert csrf_of(await again.text()) == cookie.value
