"""tocsin.remediation.kinds.webhook, loaded from config the way the daemon loads it and sent for real
to a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp import web

from tests.unit.remediation.kinds.helpers import alert_data, ctx, load, problems, run
from tocsin.remediation import Outcome, RemediationError, Rendered

# -- webhook -------------------------------------------------------------------------------------

HMAC_SECRET = "s3cr3t-hmac-" + uuid.uuid4().hex
TOKEN = "tok-" + uuid.uuid4().hex


class Receiver:
    """A remediation endpoint that checks what a real receiver would: the signature over the
    raw body, or the bearer token, and answers as told."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.status = 200
        self.delay = 0.0
        self.released = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.requests.append((request.method, request.path_qs, dict(request.headers), raw))
        if self.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.released.wait(), self.delay)
        if request.path.startswith("/signed"):
            given = request.headers.get("X-Tocsin-Signature", "")
            want = "sha256=" + hmac.new(HMAC_SECRET.encode(), raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(given, want):
                return web.Response(status=401, text="bad signature")
        if request.path.startswith("/bearer") and request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.Response(status=401, text="bad token")
        return web.Response(status=self.status, text="restarted " + json.loads(raw)["labels"]["instance"])

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self.url


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    r.released.set()
    assert r.runner is not None
    await r.runner.cleanup()


def assert_no_secret(rendered: Rendered, *secrets: str) -> None:
    text = msgspec.json.encode(rendered).decode()
    for s in secrets:
        assert s not in text


async def test_a_signed_request_verifies_at_the_receiver(receiver, session):
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/signed/restart
          hmac_secret: {HMAC_SECRET}
          headers: {{X-Instance: "{{{{ labels.instance }}}}"}}
        """)
    rendered = spec.remediation.render(alert_data(instance="db1"))
    assert_no_secret(rendered, HMAC_SECRET)
    assert rendered.summary == f"POST {receiver.url}/<redacted>"
    assert rendered.detail["headers"] == {"Content-Type": "application/json", "X-Instance": "db1",
                                          "X-Tocsin-Signature": "<secret>"}
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out == Outcome(ok=True, http_status=200, output="restarted db1")
    [(method, path, headers, raw)] = receiver.requests
    assert (method, path) == ("POST", "/signed/restart")
    assert raw == rendered.detail["body"].encode()  # the body sent is the body shown, byte for byte
    body = json.loads(raw)
    assert body == {**alert_data(instance="db1"), "remediation": "fix"}
    assert headers["X-Instance"] == "db1"
    assert headers["Content-Type"] == "application/json"


async def test_a_wrong_signature_is_refused_by_the_receiver(receiver, session, tmp_path):
    secret_file = tmp_path / "hmac"
    secret_file.write_text("not-the-secret\n")
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/signed
          hmac_secret_file: {secret_file}
        """)
    rendered = spec.remediation.render(alert_data(instance="db1"))
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out == Outcome(ok=False, http_status=401, output="bad signature", error="HTTP 401, expected 2xx")
    secret_file.write_text(HMAC_SECRET + "\n")  # rotated: read at each run
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok
    assert out.http_status == 200


async def test_a_bearer_token_is_sent_and_never_shown(receiver, session, tmp_path):
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/bearer
          bearer_token: {TOKEN}
        """)
    rendered = spec.remediation.render(alert_data(instance="db1"))
    assert_no_secret(rendered, TOKEN)
    assert rendered.detail["headers"]["Authorization"] == "<secret>"
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok
    assert out.http_status == 200
    assert out.output == "restarted db1"
    assert receiver.requests[-1][2]["Authorization"] == f"Bearer {TOKEN}"
    # A record carrying a forged Authorization value does not get it sent.
    forged = msgspec.structs.replace(rendered, detail={**rendered.detail, "headers": {
        **rendered.detail["headers"], "Authorization": "Bearer forged"}})
    out = await spec.remediation.execute(forged, ctx(session))
    assert out.ok
    assert receiver.requests[-1][2]["Authorization"] == f"Bearer {TOKEN}"

    token_file = tmp_path / "token"
    token_file.write_text("wrong\n")
    from_file = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/bearer
          bearer_token_file: {token_file}
        """)
    out = await from_file.remediation.execute(rendered, ctx(session))
    assert out.http_status == 401
    assert not out.ok
    token_file.write_text(TOKEN)
    out = await from_file.remediation.execute(rendered, ctx(session))
    assert out.ok


async def test_an_unreadable_secret_file_fails_without_sending(receiver, session, tmp_path):
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/bearer
          bearer_token_file: {tmp_path}/missing
        """)
    out = await run(spec, session, alert_data(instance="i"))
    assert not out.ok
    assert out.error.startswith(f"bearer_token_file: cannot read {tmp_path}/missing")
    assert receiver.requests == []


async def test_credentials_in_the_url_are_never_shown(receiver, session):
    host = receiver.url.removeprefix("http://")
    spec = load(f"""
        - name: fix
          kind: webhook
          url: "http://user:pa55word@{host}/hooks/restart?token={TOKEN}"
        """)
    rendered = spec.remediation.render(alert_data(instance="db1"))
    assert rendered.detail["url"] == f"http://{host}/<redacted>"
    assert_no_secret(rendered, TOKEN, "pa55word", "hooks")
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok
    assert receiver.requests[0][1] == f"/hooks/restart?token={TOKEN}"  # sent to the real URL


async def test_url_file_is_read_when_run(receiver, session, tmp_path):
    url_file = tmp_path / "url"
    url_file.write_text(f"{receiver.url}/first\n")
    spec = load(f"""
        - name: fix
          kind: webhook
          url_file: {url_file}
          method: PUT
        """)
    rendered = spec.remediation.render(alert_data(instance="db1"))
    assert rendered.summary == f"PUT {receiver.url}/<redacted>"
    url_file.write_text(f"{receiver.url}/second\n")
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok
    assert receiver.requests[0][:2] == ("PUT", "/second")


async def test_an_unexpected_status_fails_with_it(receiver, session):
    receiver.status = 202
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/x
          expected_status: [200, 204]
        """)
    out = await run(spec, session, alert_data(instance="db1"))
    assert out == Outcome(ok=False, http_status=202, output="restarted db1",
                          error="HTTP 202, expected 200, 204")
    receiver.status = 500
    default = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/x
        """)
    out = await run(default, session, alert_data(instance="db1"))
    assert not out.ok
    assert out.http_status == 500
    assert out.error == "HTTP 500, expected 2xx"


async def test_a_slow_endpoint_times_out(receiver, session):
    receiver.delay = 5
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/slow
        """)
    out = await run(spec, session, alert_data(instance="db1"), timeout=0.3)
    assert out.ok is False
    assert out.error == "timed out after 0.3s"
    assert out.http_status is None


async def test_a_refused_connection_is_an_outcome(session):
    with socket_bound() as port:
        spec = load(f"""
            - name: fix
              kind: webhook
              url: http://127.0.0.1:{port}/x?token={TOKEN}
            """)
        out = await run(spec, session, alert_data(instance="db1"))
    assert not out.ok
    assert out.http_status is None
    assert out.error.startswith(f"http://127.0.0.1:{port}/<redacted>: ClientConnectorError")
    assert TOKEN not in out.error


def socket_bound() -> Any:
    """A port on 127.0.0.1 nothing listens on (bound, not listening: connections are refused)."""
    import socket

    @contextlib.contextmanager
    def cm() -> Any:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        try:
            yield s.getsockname()[1]
        finally:
            s.close()

    return cm()


async def test_response_output_is_cut(receiver, session):
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/x
          max_output: 4
        """)
    out = await run(spec, session, alert_data(instance="db1"))
    assert out.output == "rest\n[... 9 more bytes cut]"


async def test_body_template(receiver, session):
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/x
          body_template: >-
            {{"labels": {{"instance": {{{{ labels.instance | tojson }}}}}},
             "why": {{{{ alertname | tojson }}}}}}
        """)
    rendered = spec.remediation.render(alert_data(instance='db"1'))
    assert json.loads(rendered.detail["body"]) == {"labels": {"instance": 'db"1'}, "why": "AppDown"}
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok
    assert out.output == 'restarted db"1'
    broken = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/x
          body_template: 'instance={{{{ labels.instance }}}}'
        """)
    with pytest.raises(RemediationError, match="did not render JSON"):
        broken.remediation.render(alert_data(instance="db1"))


def test_body_template_values_are_json_escaped(receiver):
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/x
          body_template: '{{"instance": "{{{{ labels.instance }}}}", "n": {{{{ labels | length }}}}}}'
        """)
    injected = 'db1", "injected": "yes'
    rendered = spec.remediation.render(alert_data(instance=injected))
    assert json.loads(rendered.detail["body"]) == {"instance": injected, "n": 2}


def test_a_header_value_cannot_smuggle_a_header(receiver):
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/x
          headers: {{X-Instance: "{{{{ labels.instance }}}}"}}
        """)
    with pytest.raises(RemediationError, match="line break"):
        spec.remediation.render(alert_data(instance="db1\r\nX-Admin: yes"))


def test_webhook_config_errors_carry_their_paths():
    assert problems("""
        - name: fix
          kind: webhook
        """) == {"remediations[0].url": "exactly one of url and url_file must be set"}
    assert list(problems("""
        - name: fix
          kind: webhook
          url: ftp://x/
        """)) == ["remediations[0].url"]
    found = problems("""
        - name: fix
          kind: webhook
          url: http://127.0.0.1/
          headers: {Authorization: "Bearer abc"}
        """)
    assert list(found) == ["remediations[0].headers.Authorization"]
    assert "bearer_token" in found[
        "remediations[0].headers.Authorization"]
    assert list(problems("""
        - name: fix
          kind: webhook
          url: http://127.0.0.1/
          bearer_token: a
          http_config: {basic_auth: {username: u, password: p}}
        """)) == ["remediations[0].bearer_token"]
    assert list(problems("""
        - name: fix
          kind: webhook
          url: http://127.0.0.1/
          hmac_secret: a
          hmac_secret_file: /b
        """)) == ["remediations[0].hmac_secret_file"]
    assert list(problems("""
        - name: fix
          kind: webhook
          url: http://127.0.0.1/
          expected_status: [200, 99]
        """)) == ["remediations[0].expected_status[1]"]
    assert list(problems("""
        - name: fix
          kind: webhook
          url: http://127.0.0.1/
          method: GET
        """)) == ["remediations[0].method"]


async def test_http_config_basic_auth_is_sent_and_not_shown(receiver, session):
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/x
          http_config: {{basic_auth: {{username: ops, password: {TOKEN}}}}}
        """)
    rendered = spec.remediation.render(alert_data(instance="db1"))
    assert_no_secret(rendered, TOKEN)
    assert rendered.detail["headers"]["Authorization"] == "<secret>"
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok
    assert receiver.requests[0][2]["Authorization"].startswith("Basic ")
