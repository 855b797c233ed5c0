"""Authentication and authorisation of the HTTP API (``server.auth``): every registered
route, every role, bearer tokens and basic auth, token files, reloads."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path

import bcrypt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from tests.unit.web.tokens import BASE, TOKEN_AUTH, TOKENS
from tocsin.core.clock import FakeClock
from tocsin.runtime import Runtime
from tocsin.store.sqlite import SQLiteStore
from tocsin.testing import api_client, make_config, make_plugins
from tocsin.web import auth
from tocsin.web.app import create_app
from tocsin.web.auth import PRINCIPAL, Authenticator, Principal
from tocsin.web.keys import ROUTES

# Cost 4: the cheapest bcrypt, so the tests stay fast (real configs use 10 or more).
ALICE_PW = "alice-secret-pw"
BOB_PW = "bob-secret-pw"
ALICE_HASH = bcrypt.hashpw(ALICE_PW.encode(), bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$", 1)
BOB_HASH = bcrypt.hashpw(BOB_PW.encode(), bcrypt.gensalt(4)).decode()

WRONG_TOKEN = "wrong-token-0123456789abc"

AUTH = TOKEN_AUTH + f"""    basic_auth_users:
      alice: "{ALICE_HASH}"
      bob: "{BOB_HASH}"
    basic_auth_roles:
      bob: read
"""

V1 = "/api/tocsin/v1"
#: What the brief says, independently of the module's table.
OPEN = {
    ("GET", "/-/healthy"), ("GET", "/-/ready"),
    ("POST", f"{V1}/integrations/slack/actions"), ("POST", f"{V1}/integrations/pagerduty/webhook"),
    ("GET", "/static/{name}"),  # the dashboard's own files: the same for everyone, nothing secret
    # The dashboard's login and logout: who is not logged in must reach them; the login
    # authenticates by the token it is given, and both check the dashboard's CSRF token.
    ("GET", "/login"), ("POST", "/login"), ("POST", "/logout"),
}
DASHBOARD_SESSION = {("POST", "/login"), ("POST", "/logout")}
INGEST = {("POST", "/api/v2/alerts"), ("POST", f"{V1}/events"), ("POST", f"{V1}/alertmanager/webhook"),
          ("POST", f"{V1}/heartbeats/{{name}}")}
SIGNED_CALLBACKS = {k for k in OPEN if k[0] == "POST"}

UNAUTHORIZED = {"error": "authentication required"}
FORBIDDEN = {"error": "forbidden"}
#: One header per scheme: a browser reads the first challenge of each header only.
WWW_AUTHENTICATE = ['Bearer realm="tocsin"', 'Basic realm="tocsin"']


def allowed(method: str, path: str, role: str | None) -> bool:
    """Who may call what: the rules of the brief."""
    key = ("GET" if method == "HEAD" else method, path)
    if key in OPEN:
        return True
    if role is None:
        return False
    if role == "admin":
        return True
    if role == "ingest":
        return key in INGEST
    assert role == "read"
    return key[0] == "GET"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def registered(app: web.Application) -> set[tuple[str, str]]:
    return {(r.method, r.resource.canonical) for r in app.router.routes()
            if r.resource is not None and r.method != "HEAD"}


def missing_from_table(app: web.Application) -> set[tuple[str, str]]:
    return {(m, p) for m, p in registered(app) if app[ROUTES].access(m, p) is None}


def access_table(app: web.Application) -> dict[tuple[str, str], str]:
    """Who may call what, as the app's route declarations say."""
    return {(r.method, r.path): r.access for r in app[ROUTES]}


@cache
def default_table() -> dict[tuple[str, str], str]:
    """The table of an app with the built-in plugins (not started)."""
    pm = make_plugins()
    return access_table(create_app(Runtime(make_config(AUTH, pm), pm, clock=FakeClock())))


def concrete(path: str) -> str:
    """A route pattern with its parameters filled with dummy values."""
    return re.sub(r"\{[^}]+\}", "no-such-id", path)


async def refusal(resp) -> str | None:
    """``"401"``/``"403"`` if the auth middleware refused (by its exact answer), else None."""
    if resp.status == 401 and resp.headers.getall("WWW-Authenticate", []) == WWW_AUTHENTICATE:
        if resp.method != "HEAD" and resp.content_type == "text/html":  # a dashboard page
            assert '<a href="/login?next=' in await resp.text()
        elif resp.method != "HEAD":
            assert await resp.json() == UNAUTHORIZED
        return "401"
    if resp.status == 303 and resp.headers.get("Location", "").startswith("/login?next="):
        return "401"  # a dashboard page, with tokens only: to the login page
    if resp.status == 403 and resp.method == "HEAD":
        return "403"
    if resp.status == 403 and resp.content_type == "application/json" and await resp.json() == FORBIDDEN:
        return "403"
    return None


async def call(client: TestClient, method: str, path: str, headers: dict[str, str] | None = None):
    data = b"{}" if method in ("POST", "PUT", "PATCH") else None
    hdrs = {"Content-Type": "application/json", **(headers or {})} if data else (headers or {})
    resp = await client.request(method, concrete(path), data=data, headers=hdrs, allow_redirects=False)
    if resp.content_type == "text/event-stream":  # the dashboard's live stream never ends
        resp.close()
        return resp
    await resp.read()
    return resp


@asynccontextmanager
async def app_client(
    config: str, tmp_path: Path, *,
    reloader: Callable[[], Awaitable[None]] | None = None,
    extra: Callable[[web.Application], None] | None = None,
) -> AsyncIterator[tuple[TestClient, Runtime]]:
    pm = make_plugins()
    rt = Runtime(make_config(config, pm), pm, clock=FakeClock(), store=SQLiteStore(tmp_path / "a.db"))
    app = create_app(rt, reloader)
    if extra is not None:
        extra(app)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client, rt
    finally:
        await client.close()


# -- the table ------------------------------------------------------------------------------------


async def test_every_registered_route_has_an_entry_and_no_entry_is_stale(tmp_path):
    async with api_client(AUTH, tmp_path) as (client, _):
        routes = registered(client.app)
        assert len(routes) >= 30
        assert missing_from_table(client.app) == set()
        table = access_table(client.app)
        assert set(table) == routes, set(table) ^ routes
        declared = client.app[ROUTES]
        for r in client.app.router.routes():  # HEAD is GET's
            if r.method == "HEAD":
                path = r.resource.canonical
                assert declared.access("HEAD", path) == declared.access("GET", path)


def test_a_new_route_without_an_entry_is_caught():
    pm = make_plugins()
    rt = Runtime(make_config(AUTH, pm), pm, clock=FakeClock())
    app = create_app(rt)
    assert missing_from_table(app) == set()

    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_post("/api/v2/new-thing/{id}", handler)
    assert missing_from_table(app) == {("POST", "/api/v2/new-thing/{id}")}


def test_the_table_says_what_the_brief_says():
    table = default_table()
    for (method, path), access in table.items():
        for role in ("ingest", "read", "admin"):
            assert (role in auth.ALLOWED_ROLES[access]) == allowed(method, path, role), (method, path, role)
        assert (access == "open") == ((method, path) in OPEN)
    assert table[("GET", f"{V1}/alerts/{{id}}/ack")] == "read"
    assert table[("POST", f"{V1}/alerts/{{id}}/ack")] == "admin"


def test_no_mutating_endpoint_is_open_but_the_signed_callbacks():
    table = default_table()
    mutating_open = {k for k, access in table.items()
                     if k[0] in ("POST", "PUT", "PATCH", "DELETE") and access == "open"}
    assert mutating_open == SIGNED_CALLBACKS | DASHBOARD_SESSION
    assert all(access != "open" for (m, _), access in table.items() if m in ("PUT", "DELETE"))


# -- every route, every kind of caller ------------------------------------------------------------

CALLERS: list[tuple[str, dict[str, str], str | None]] = [
    ("nobody", {}, None),
    ("wrong token", bearer(WRONG_TOKEN), None),
    ("ingest token", bearer(TOKENS["ingest"]), "ingest"),
    ("read token", bearer(TOKENS["read"]), "read"),
    ("admin token", bearer(TOKENS["admin"]), "admin"),
    ("alice (unlisted: admin)", basic("alice", ALICE_PW), "admin"),
    ("bob (read)", basic("bob", BOB_PW), "read"),
    ("alice, wrong password", basic("alice", BOB_PW), None),
    ("unknown basic user", basic("mallory", ALICE_PW), None),
    ("empty bearer", {"Authorization": "Bearer "}, None),
    ("other scheme", {"Authorization": f"Token {TOKENS['admin']}"}, None),
    ("basic, not base64", {"Authorization": "Basic !!!not-base64"}, None),
]


async def test_every_route_for_every_caller_is_as_the_table_says(tmp_path):
    async with api_client(AUTH, tmp_path) as (client, _):
        routes = sorted((r.method, r.resource.canonical) for r in client.app.router.routes())
        checked = 0
        failures = []
        for method, path in routes:
            for who, headers, role in CALLERS:
                resp = await call(client, method, path, headers)
                got = await refusal(resp)
                if allowed(method, path, role):
                    want = None
                elif role is None:
                    want = "401"
                else:
                    want = "403"
                if got != want:
                    failures.append(f"{who}: {method} {path}: {resp.status}, want {want or 'allowed'}")
                checked += 1
        assert not failures, "\n".join(failures)
        assert checked == len(routes) * len(CALLERS)


async def test_auth_unset_everything_is_open(tmp_path):
    async with api_client(BASE, tmp_path) as (client, _):
        for r in client.app.router.routes():
            resp = await call(client, r.method, r.resource.canonical)
            assert await refusal(resp) is None, (r.method, r.resource.canonical, resp.status)
        # Credentials, even wrong ones, change nothing.
        resp = await client.get("/api/v2/alerts", headers=bearer(WRONG_TOKEN))
        assert resp.status == 200


async def test_signed_callbacks_refuse_unsigned_requests_by_themselves(tmp_path):
    async with api_client(AUTH, tmp_path) as (client, rt):
        for method, path in SIGNED_CALLBACKS:
            resp = await call(client, method, path)
            assert resp.status in (401, 403)
            assert await refusal(resp) is None  # the handler's answer, not the middleware's
        assert len(rt.alerts) == 0


async def test_refusals_are_generic_and_logged_without_the_credential(tmp_path):
    async with api_client(AUTH, tmp_path) as (client, _):
        with capture_logs() as logs:
            resp = await client.get("/api/v2/status", headers=bearer(WRONG_TOKEN))
            assert resp.status == 401
            assert resp.headers.getall("WWW-Authenticate") == WWW_AUTHENTICATE
            assert resp.content_type == "application/json"
            assert await resp.text() == '{"error":"authentication required"}'

            resp = await client.get("/api/v2/status", headers=basic("alice", "wrong-password-xyz"))
            assert resp.status == 401
            assert await resp.text() == '{"error":"authentication required"}'

            resp = await client.post("/api/v2/silences", json={}, headers=bearer(TOKENS["read"]))
            assert resp.status == 403
            assert "WWW-Authenticate" not in resp.headers
            assert await resp.text() == '{"error":"forbidden"}'

            resp = await client.get("/api/v2/alerts", headers=bearer(TOKENS["ingest"]))
            assert resp.status == 403
            assert await resp.json() == FORBIDDEN

        failed = [e for e in logs if e["event"] == "authentication failed"]
        assert len(failed) == 2
        assert all(e["log_level"] == "info" and e["remote"] == "127.0.0.1" for e in failed)
        assert {e["scheme"] for e in failed} == {"bearer", "basic"}
        text = repr(logs)
        for secret in (WRONG_TOKEN, *TOKENS.values(), "wrong-password-xyz", ALICE_PW,
                       base64.b64encode(b"alice:wrong-password-xyz").decode()):
            assert secret not in text
        forbidden = [e for e in logs if e["event"] == "forbidden"]
        assert [(e["principal"], e["role"]) for e in forbidden] == [("grafana", "read"),
                                                                    ("prometheus", "ingest")]


async def test_unknown_paths_need_credentials_too(tmp_path):
    async with api_client(AUTH, tmp_path) as (client, _):
        resp = await client.get("/api/v2/no-such-thing")
        assert resp.status == 401
        resp = await client.get("/api/v2/no-such-thing", headers=bearer(TOKENS["ingest"]))
        assert resp.status == 404
        resp = await client.put("/api/v2/alerts", headers=bearer(TOKENS["read"]))
        assert resp.status == 405


async def test_the_principal_is_given_to_handlers_and_an_unlisted_route_needs_admin(tmp_path):
    seen: list[Principal | None] = []

    async def whoami(request: web.Request) -> web.Response:
        seen.append(request[PRINCIPAL])
        return web.Response(text="ok")

    def extra(app: web.Application) -> None:
        app.router.add_get("/test/whoami", whoami)

    async with app_client(AUTH, tmp_path, extra=extra) as (client, _):
        assert (await client.get("/test/whoami")).status == 401
        assert (await client.get("/test/whoami", headers=bearer(TOKENS["read"]))).status == 403
        assert (await client.get("/test/whoami", headers=bearer(TOKENS["admin"]))).status == 200
        assert (await client.get("/test/whoami", headers=basic("alice", ALICE_PW))).status == 200
        assert (await client.get("/test/whoami", headers=basic("bob", BOB_PW))).status == 403
        assert seen == [Principal("oncall", "admin", "token"), Principal("alice", "admin", "basic")]

    seen.clear()
    async with app_client(BASE, tmp_path, extra=extra) as (client, _):
        assert (await client.get("/test/whoami")).status == 200
        assert seen == [None]


async def test_a_bearer_scheme_is_case_insensitive(tmp_path):
    async with api_client(AUTH, tmp_path) as (client, _):
        resp = await client.get("/api/v2/status", headers={"Authorization": f"bearer {TOKENS['read']}"})
        assert resp.status == 200
        # A token that is a prefix or an extension of a real one is not it.
        for token in (TOKENS["read"][:-1], TOKENS["read"] + "x"):
            assert (await client.get("/api/v2/status", headers=bearer(token))).status == 401


# -- token files and reloads ----------------------------------------------------------------------


def token_file_config(path: Path) -> str:
    return BASE + f"""
server:
  auth:
    tokens:
      - {{name: ci, role: admin, token_file: {path}}}
"""


def rewrite(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, max(st.st_mtime_ns, before + 1_000_000)))


async def test_token_file_is_read_and_rotated_without_a_reload(tmp_path):
    path = tmp_path / "token"
    rewrite(path, "file-token-0123456789\n")
    async with api_client(token_file_config(path), tmp_path) as (client, _):
        assert (await client.get("/api/v2/status", headers=bearer("file-token-0123456789"))).status == 200
        assert (await client.get("/api/v2/status", headers=bearer("file-token-012345678"))).status == 401

        rewrite(path, "rotated-token-0123456789")
        assert (await client.get("/api/v2/status", headers=bearer("file-token-0123456789"))).status == 401
        assert (await client.get("/api/v2/status", headers=bearer("rotated-token-0123456789"))).status == 200

        with capture_logs() as logs:
            rewrite(path, "short")  # too short a token is no token
            assert (await client.get("/api/v2/status", headers=bearer("short"))).status == 401
            path.unlink()
            assert (await client.get("/api/v2/status",
                                     headers=bearer("rotated-token-0123456789"))).status == 401
            assert (await client.get("/api/v2/status",
                                     headers=bearer("rotated-token-0123456789"))).status == 401
        errors = [e for e in logs if e["log_level"] == "error"]
        assert len(errors) == 2  # once per change, not once per request
        assert "short" not in repr(logs)
        assert "rotated-token" not in repr(logs)


async def test_a_reload_with_a_new_token_takes_effect(tmp_path):
    config_path = tmp_path / "tocsin.yml"
    new_token = "brand-new-token-0123456789"
    config_path.write_text(AUTH)

    async def reloader() -> None:
        await rt.reload(make_config(config_path.read_text()))

    async with app_client(AUTH, tmp_path, reloader=reloader) as (client, rt):
        old = bearer(TOKENS["admin"])
        assert (await client.post("/-/reload", headers=bearer(TOKENS["read"]))).status == 403
        assert (await client.post("/-/reload")).status == 401

        config_path.write_text(AUTH.replace(TOKENS["admin"], new_token))
        resp = await client.post("/-/reload", headers=old)
        assert resp.status == 200, await resp.text()
        assert (await client.get("/api/v2/status", headers=old)).status == 401
        assert (await client.get("/api/v2/status", headers=bearer(new_token))).status == 200

        # Turning auth off by a reload opens everything; turning it on closes it again.
        await rt.reload(make_config(BASE))
        assert (await client.get("/api/v2/status")).status == 200
        await rt.reload(make_config(AUTH))
        assert (await client.get("/api/v2/status")).status == 401
        assert (await client.get("/api/v2/status", headers=old)).status == 200


async def test_a_reload_changing_a_password_hash_drops_the_cached_login(tmp_path):
    async with api_client(AUTH, tmp_path) as (client, rt):
        alice = basic("alice", ALICE_PW)
        assert (await client.get("/api/v2/status", headers=alice)).status == 200
        new_hash = bcrypt.hashpw(b"new-alice-pw", bcrypt.gensalt(4)).decode()
        await rt.reload(make_config(AUTH.replace(ALICE_HASH, new_hash)))
        assert (await client.get("/api/v2/status", headers=alice)).status == 401
        assert (await client.get("/api/v2/status", headers=basic("alice", "new-alice-pw"))).status == 200
        # Removing a user removes it, cached or not.
        await rt.reload(make_config(AUTH.replace(f'      bob: "{BOB_HASH}"\n', "").replace(
            "    basic_auth_roles:\n      bob: read\n", "")))
        assert (await client.get("/api/v2/status", headers=basic("bob", BOB_PW))).status == 401


# -- the authenticator's caches -------------------------------------------------------------------


def auth_config(text: str = AUTH):
    return make_config(text).server.auth


async def test_basic_auth_verifications_are_cached_briefly(monkeypatch):
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(pw: bytes, hashed: bytes) -> bool:
        calls.append(pw)
        return real(pw, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    now = [1000.0]
    a = Authenticator(clock=lambda: now[0])
    cfg = auth_config()

    assert await a.basic("alice", ALICE_PW, cfg) == Principal("alice", "admin", "basic")
    assert await a.basic("alice", ALICE_PW, cfg) == Principal("alice", "admin", "basic")
    assert len(calls) == 1  # the second one came from the cache

    assert await a.basic("alice", "not-her-password", cfg) is None  # a wrong one is checked
    assert len(calls) == 2
    assert await a.basic("alice", ALICE_PW, cfg) is not None  # and does not evict the good one
    assert len(calls) == 2

    now[0] += auth.BASIC_CACHE_SECONDS + 1
    assert await a.basic("alice", ALICE_PW, cfg) is not None
    assert len(calls) == 3  # expired: checked again

    assert await a.basic("bob", BOB_PW, cfg) == Principal("bob", "read", "basic")
    # An unknown user costs a bcrypt check too (of a dummy hash), and is refused.
    assert await a.basic("mallory", ALICE_PW, cfg) is None
    assert len(calls) == 5


async def test_bearer_compares_with_every_token(monkeypatch):
    compared: list[bytes] = []
    real = auth.hmac.compare_digest

    def counting(a, b):
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    a = Authenticator()
    cfg = auth_config()
    assert a.bearer(TOKENS["ingest"], cfg) == Principal("prometheus", "ingest", "token")
    assert len(compared) == 3  # the first matched, the others were compared all the same
    compared.clear()
    assert a.bearer(WRONG_TOKEN, cfg) is None
    assert len(compared) == 3


@pytest.mark.parametrize("header", [
    "", "Bearer", "Basic", "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:x").decode(), "Negotiate abc",
])
async def test_malformed_credentials_are_no_credentials(header):
    assert await Authenticator().authenticate(header, auth_config()) is None


async def test_an_overlong_basic_password_is_refused_not_an_error():
    a = Authenticator()
    assert await a.basic("alice", "x" * 200, auth_config()) is None


# -- the docs -------------------------------------------------------------------------------------

DOC = (Path(__file__).resolve().parents[3] / "docs" / "security.md").read_text()


def test_the_security_doc_lists_every_route_with_its_role():
    rows = re.findall(r"^\| `([A-Z]+)` \| `([^`]+)` \| (\w+) \|", DOC, re.MULTILINE)
    table = default_table()
    assert {(m, p): a for m, p, a in rows} == table
    assert len(rows) == len(table)


def test_the_security_doc_auth_example_loads(monkeypatch):
    monkeypatch.setenv("GRAFANA_TOCSIN_TOKEN", "grafana-token-0123456789")
    block = DOC.split("## Configuring authentication", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    cfg = make_config(BASE + block).server.auth
    assert cfg is not None
    assert [(t.name, t.role) for t in cfg.tokens] == [
        ("prometheus", "ingest"), ("grafana", "read"), ("oncall-cli", "admin")]
    assert cfg.basic_auth_roles == {"dashboard": "read"}
    assert bcrypt.checkpw(b"correct horse battery", cfg.basic_auth_users["alice"].encode())


async def test_who_acknowledges_is_the_authenticated_principal(tmp_path):
    async with api_client(AUTH, tmp_path) as (client, _):
        resp = await client.post("/api/tocsin/v1/events", json={"type": "Disk"},
                                 headers=bearer(TOKENS["ingest"]))
        made = await resp.json()
        # A token used by a named person (the CLI sends --who) keeps both names.
        resp = await client.post(f"/api/tocsin/v1/alerts/{made['id']}/ack", json={"who": "carol"},
                                 headers=bearer(TOKENS["admin"]))
        assert resp.status == 200
        assert (await resp.json())["acknowledged_by"] == "carol (via token oncall)"
        resp = await client.post(f"/api/tocsin/v1/alerts/{made['id']}/unack", json={},
                                 headers=bearer(TOKENS["admin"]))
        history = await (await client.get(f"/api/tocsin/v1/alerts/{made['id']}/history",
                                          headers=bearer(TOKENS["read"]))).json()
        assert [(h["kind"], h["actor"]) for h in history["history"]][-2:] == [
            ("acknowledged", "carol (via token oncall)"), ("unacknowledged", "oncall")]
