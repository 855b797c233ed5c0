"""``http_config``'s OAuth 2.0 client credentials, proxy and TLS version, as Alertmanager
0.25 (prometheus/common 0.38) has them."""

from __future__ import annotations

import base64

import aiohttp
import pytest
from aiohttp import web

from tocsin.channels import DeliveryError
from tocsin.channels.http import HTTPConfig, OAuth2Config, TLSConfig, request
from tocsin.config.types import dec_hook
from tocsin.config.validate import decode as decode_with
from tocsin.testing import RecordingServer


@pytest.fixture
async def hook():
    server = RecordingServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def token_endpoint():
    """An OAuth 2.0 token endpoint that checks the client's credentials as RFC 6749 has it."""
    asked: list[dict[str, str]] = []

    async def token(req: web.Request) -> web.Response:
        form = dict(await req.post())
        auth = req.headers.get("Authorization", "")
        user, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        asked.append({**form, "client": user})
        if (user, password) != ("tocsin", "s3cret") or form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "invalid_client"}, status=401)
        return web.json_response({"access_token": f"tok{len(asked)}", "token_type": "Bearer",
                                  "expires_in": 3600})

    app = web.Application()
    app.router.add_post("/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/token", asked
    await runner.cleanup()


def decode(raw: dict, cls: type) -> tuple:
    return decode_with(raw, cls, dec_hook=dec_hook)


def http_config(**raw) -> HTTPConfig:
    value, problems = decode(raw, HTTPConfig)
    assert problems == [], problems
    return value


async def test_oauth2_client_credentials_token_is_fetched_once_and_sent(hook, token_endpoint):
    url, asked = token_endpoint
    http = http_config(oauth2={"client_id": "tocsin", "client_secret": "s3cret", "token_url": url,
                               "scopes": ["alerts", "write"], "endpoint_params": {"audience": "hooks"}})
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            await request(session, "POST", f"{hook.url}/hook", b"{}", http=http, timeout=5)
    assert [r.headers["Authorization"] for r in hook.requests] == ["Bearer tok1", "Bearer tok1"]
    assert asked == [{"grant_type": "client_credentials", "scope": "alerts write", "audience": "hooks",
                      "client": "tocsin"}]


async def test_an_oauth2_refusal_fails_the_delivery(hook, token_endpoint):
    url, _ = token_endpoint
    http = http_config(oauth2={"client_id": "tocsin", "client_secret": "wrong", "token_url": url})
    async with aiohttp.ClientSession() as session:
        with pytest.raises(DeliveryError, match="HTTP 401") as caught:
            await request(session, "POST", f"{hook.url}/hook", b"{}", http=http, timeout=5)
    assert not caught.value.retryable
    assert hook.requests == []


async def test_requests_go_through_the_proxy(hook):
    """A plain-http proxy gets the request in absolute form, for the target's host; the
    target here is a name that resolves nowhere, so only the proxy can have answered."""
    http = http_config(proxy_url=hook.url)
    async with aiohttp.ClientSession() as session:
        await request(session, "POST", "http://alerts.invalid:9/hook", b'{"a": 1}', http=http, timeout=5)
    [got] = hook.requests
    assert got.headers["Host"] == "alerts.invalid:9"
    assert got.json() == {"a": 1}


async def test_a_proxy_url_that_is_no_url_loads_and_fails_each_delivery():
    http = http_config(proxy_url="foo")  # Alertmanager 0.25 loads this too
    async with aiohttp.ClientSession() as session:
        with pytest.raises(DeliveryError, match=r"http_config\.proxy_url") as caught:
            await request(session, "POST", "http://127.0.0.1:9/hook", b"{}", http=http, timeout=5)
    assert not caught.value.retryable


def test_config_errors_name_the_field():
    _, problems = decode({"oauth2": {"client_id": "x"}, "basic_auth": {"username": "u"}}, HTTPConfig)
    assert {p.path for p in problems} >= {"oauth2.token_url"}
    _, problems = decode({"oauth2": {"client_id": "x", "token_url": "http://127.0.0.1/t"},
                          "basic_auth": {"username": "u"}}, HTTPConfig)
    assert [p.path for p in problems] == ["authorization"]
    _, problems = decode({"tls_config": {"min_version": "TLS9"}}, HTTPConfig)
    assert [p.path for p in problems] == ["tls_config.min_version"]
    assert TLSConfig(min_version="TLS13").context().minimum_version.name == "TLSv1_3"
    assert OAuth2Config(token_url="http://127.0.0.1/t").scopes == []  # type: ignore[arg-type]
