"""Logging in to the dashboard with a token: a session cookie for pages, never for the API."""

from __future__ import annotations

import os

from tests.unit.web.dashboard.helpers import csrf_of, dashboard, open_page, post_alerts
from tests.unit.web.tokens import BASE, TOKENS
from tocsin.web.dashboard import session
from tocsin.web.keys import SESSIONS

ADMIN_TOKEN = "admin-file-token-0123456789"


def config(token_file) -> str:
    return (
        BASE
        + f"""
server:
  auth:
    tokens:
      - {{name: prometheus, role: ingest, token: {TOKENS["ingest"]}}}
      - {{name: grafana, role: read, token: {TOKENS["read"]}}}
      - {{name: oncall, role: admin, token_file: {token_file}}}
"""
    )


def write_token(path, token: str) -> None:
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(token + "\n")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, max(st.st_mtime_ns, before + 1_000_000)))


async def log_in(client, token: str, next_path: str = "/alerts"):
    _, page = await open_page(client, f"/login?next={next_path}")
    return await client.post(
        "/login", data={"csrf": csrf_of(page), "token": token, "next": next_path}, allow_redirects=False
    )


def session_cookie(client) -> str | None:
    return next((c.value for c in client.session.cookie_jar if c.key == session.COOKIE and c.value), None)


async def test_a_token_opens_a_session_for_the_pages_with_its_role(tmp_path):
    token_file = tmp_path / "admin.token"
    write_token(token_file, ADMIN_TOKEN)
    async with dashboard(tmp_path, config(token_file)) as (client, _rt):
        resp = await client.get("/alerts?state=firing", allow_redirects=False)
        assert resp.status == 303
        assert resp.headers["Location"] == "/login?next=%2Falerts%3Fstate%3Dfiring"
        resp = await log_in(client, TOKENS["read"], "/alerts?state=firing")
        assert resp.status == 303
        assert resp.headers["Location"] == "/alerts?state=firing"
        cookie = resp.cookies[session.COOKIE]
        assert cookie["httponly"]
        assert cookie["samesite"] == "Strict"
        assert cookie.value not in (TOKENS["read"], "")
        status, page = await open_page(client, "/alerts")
        assert status == 200
        assert "grafana (read)" in page
        assert "Log out" in page
        assert "Read-only" in page
        # The cookie is for pages: the API still wants a token.
        assert (await client.get("/api/v2/alerts")).status == 401
        assert (await client.get("/api/tocsin/v1/alerts")).status == 401
        assert (await client.get("/metrics")).status == 401


async def test_an_admin_session_acts_as_its_token_and_ends_when_the_token_is_rotated(tmp_path):
    token_file = tmp_path / "admin.token"
    write_token(token_file, ADMIN_TOKEN)
    async with dashboard(tmp_path, config(token_file)) as (client, rt):
        resp = await client.post(
            "/api/v2/alerts",
            json=[{"labels": {"alertname": "Disk"}}],
            headers={"Authorization": f"Bearer {TOKENS['ingest']}"},
        )
        assert resp.status == 200
        await rt.settle()
        assert (await log_in(client, ADMIN_TOKEN)).status == 303
        inc = rt.lifecycle.get(next(iter(rt.alerts)).fingerprint)
        _, page = await open_page(client, f"/alerts/{inc.id}")
        resp = await client.post(f"/alerts/{inc.id}/ack", data={"csrf": csrf_of(page)}, allow_redirects=False)
        assert resp.status == 303
        assert rt.lifecycle.get(inc.fingerprint).acknowledged_by == "oncall"
        write_token(token_file, "another-admin-token-0123456789")
        resp = await client.get("/alerts", allow_redirects=False)
        assert resp.status == 303
        assert resp.headers["Location"].startswith("/login?")


async def test_wrong_tokens_and_ingest_tokens_are_refused_alike(tmp_path):
    token_file = tmp_path / "admin.token"
    write_token(token_file, ADMIN_TOKEN)
    async with dashboard(tmp_path, config(token_file)) as (client, _rt):
        answers = []
        for token in ("not-a-token-0123456789", TOKENS["ingest"], ""):
            resp = await log_in(client, token)
            assert resp.status == 401
            text = await resp.text()
            answers.append(text[text.index("<main") :])
            assert session_cookie(client) is None
        assert answers[0] == answers[1]  # a valid ingest token learns nothing more
        assert len(client.app[SESSIONS]) == 0
        # Without the dashboard's CSRF token, or from another site: refused before the token is read.
        resp = await client.post("/login", data={"token": TOKENS["read"]})
        assert resp.status == 403
        _, page = await open_page(client, "/login")
        resp = await client.post(
            "/login",
            data={"csrf": csrf_of(page), "token": TOKENS["read"]},
            headers={"Origin": "https://evil.example"},
        )
        assert resp.status == 403
        assert len(client.app[SESSIONS]) == 0
        # Where it goes next is a path of this site, never the login page again.
        for target, lands in (
            ("https://evil.example/", "/"),
            ("//evil.example", "/"),
            ("/login", "/"),
            ("/silences", "/silences"),
        ):
            resp = await log_in(client, TOKENS["read"], target)
            assert resp.headers["Location"] == lands, target


async def test_logging_out_ends_the_session(tmp_path):
    token_file = tmp_path / "admin.token"
    write_token(token_file, ADMIN_TOKEN)
    async with dashboard(tmp_path, config(token_file)) as (client, _rt):
        await log_in(client, TOKENS["read"])
        sid = session_cookie(client)
        assert sid is not None
        _, page = await open_page(client, "/alerts")
        assert (await client.post("/logout", data={}, allow_redirects=False)).status == 403
        resp = await client.post("/logout", data={"csrf": csrf_of(page)}, allow_redirects=False)
        assert resp.status == 303
        assert resp.headers["Location"] == "/login"
        assert resp.cookies[session.COOKIE].value == ""
        assert client.app[SESSIONS].get(sid) is None
        # The old cookie, sent again, opens nothing.
        resp = await client.get("/alerts", cookies={session.COOKIE: sid}, allow_redirects=False)
        assert resp.status == 303


async def test_without_auth_there_is_nothing_to_log_in_to(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        await post_alerts(client, rt, {"labels": {"alertname": "A"}})
        resp = await client.get("/login", allow_redirects=False)
        assert resp.status == 303
        assert resp.headers["Location"] == "/"
        _, page = await open_page(client, "/alerts")
        assert "Log out" not in page


def test_sessions_run_out_and_are_bounded(monkeypatch):
    now = [0.0]
    sessions = session.Sessions(clock=lambda: now[0])
    sid = sessions.open(b"d" * 32)
    now[0] = session.TTL - 1
    assert sessions.get(sid) is not None
    now[0] = session.TTL
    assert sessions.get(sid) is None
    monkeypatch.setattr(session, "MAX_SESSIONS", 3)
    ids = [sessions.open(b"d" * 32) for _ in range(5)]
    assert len(sessions) == 3
    assert [sessions.get(i) is not None for i in ids] == [False, False, True, True, True]
