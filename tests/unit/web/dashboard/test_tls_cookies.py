"""Under TLS the dashboard's cookies carry ``Secure``: a browser never sends them in clear."""

from __future__ import annotations

import ssl
from contextlib import asynccontextmanager

from aiohttp.test_utils import TestClient, TestServer

from tests.e2e.test_systemd import self_signed
from tests.unit.web.dashboard.helpers import csrf_of
from tests.unit.web.tokens import TOKEN_AUTH, TOKENS
from tocsin.core.clock import FakeClock
from tocsin.runtime import Runtime
from tocsin.store.sqlite import SQLiteStore
from tocsin.testing.harness import make_config, make_plugins
from tocsin.web.app import create_app
from tocsin.web.dashboard import csrf, session


@asynccontextmanager
async def served(tmp_path, tls: bool):
    pm = make_plugins()
    rt = Runtime(make_config(TOKEN_AUTH, pm), pm, clock=FakeClock(), store=SQLiteStore(tmp_path / "api.db"))
    server_ctx = client_ctx = None
    if tls:
        cert, key = self_signed(tmp_path)
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(cert, key)
        client_ctx = ssl.create_default_context(cafile=str(cert))
    server = TestServer(create_app(rt))
    await server.start_server(ssl=server_ctx)
    client = TestClient(server)
    await client.start_server()
    try:
        yield client, client_ctx
    finally:
        await client.close()


async def _log_in(client: TestClient, ctx) -> tuple[dict, dict]:
    """The login page's cookies, and the login's (by name: their attributes)."""
    page = await client.get("/login", ssl=ctx if ctx is not None else True)
    form = {"csrf": csrf_of(await page.text()), "token": TOKENS["read"], "next": "/alerts"}
    done = await client.post("/login", data=form, allow_redirects=False, ssl=ctx if ctx is not None else True)
    assert done.status == 303
    return dict(page.cookies), dict(done.cookies)


async def test_under_tls_the_session_and_csrf_cookies_are_secure(tmp_path):
    async with served(tmp_path, tls=True) as (client, ctx):
        assert str(client.make_url("/")).startswith("https://")
        page, login = await _log_in(client, ctx)
        assert page[csrf.COOKIE]["secure"]
        assert login[session.COOKIE]["secure"]
        assert login[session.COOKIE]["httponly"]
        assert login[session.COOKIE]["samesite"] == "Strict"


async def test_in_clear_the_cookies_are_not_marked_secure(tmp_path):
    """A browser would not send a Secure cookie over http: the session would never work."""
    async with served(tmp_path, tls=False) as (client, ctx):
        page, login = await _log_in(client, ctx)
        assert not page[csrf.COOKIE]["secure"]
        assert not login[session.COOKIE]["secure"]
