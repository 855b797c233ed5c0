"""The webhook channel's lean HTTP client (tocsin.channels.keepalive): each answer a server
may give is taken as aiohttp takes it, against a real server on 127.0.0.1 that answers
with the raw bytes it is told."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tocsin.channels import DeliveryError, keepalive
from tocsin.channels.http import HTTPConfig, request

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class RawServer:
    """Reads each request (head and Content-Length body) and writes ``answers[path]``;
    ``None`` closes the connection without answering. Records what it was sent."""

    def __init__(self) -> None:
        self.answers: dict[str, bytes | None] = {}
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.seen.append((method, path, headers, body))
                answer = self.answers.get(path.split("?")[0], OK)
                if answer is None:
                    break
                writer.write(answer.replace(b"{port}", str(self.port).encode()))
                await writer.drain()
                if b"Connection: close" in answer or (
                        b"Content-Length" not in answer and b"chunked" not in answer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def raw() -> AsyncIterator[RawServer]:
    server = RawServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s
        keepalive.close(s)


async def outcome(session: aiohttp.ClientSession, url: str, *, lean: bool, http: HTTPConfig | None = None,
                  headers: dict[str, str] | None = None, timeout: float = 5.0) -> Any:
    try:
        return await request(session, "POST", url, b'{"a": 1}', http=http, timeout=timeout,
                             headers=headers, secret_url=True, lean=lean)
    except DeliveryError as exc:
        return ("error", str(exc), exc.retryable, exc.status, exc.retry_after)


ANSWERS: dict[str, bytes | None] = {
    "/length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
    "/trailers": b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n",
    "/close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
    "/http10": b"HTTP/1.0 200 OK\r\n\r\nold",
    "/no-content": b"HTTP/1.1 204 No Content\r\n\r\n",
    "/continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "/busy": b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy",
    "/limited": b"HTTP/1.1 429 Too Many\r\nContent-Length: 0\r\n\r\n",
    "/bad": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 12\r\n\r\nno such team",
    "/latin": (b"HTTP/1.1 400 Bad\r\nContent-Type: text/plain; charset=ISO-8859-1\r\n"
               b"Content-Length: 4\r\n\r\ncaf\xe9"),
    "/gone": None,
    "/redirect-307": b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /length\r\nContent-Length: 0\r\n\r\n",
    "/redirect-302": (b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/length?x=1\r\n"
                      b"Content-Length: 0\r\n\r\n"),
    "/redirect-none": b"HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n",
    "/redirect-ftp": b"HTTP/1.1 301 Moved\r\nLocation: ftp://x/y\r\nContent-Length: 0\r\n\r\n",
}


@pytest.mark.parametrize("path", sorted(ANSWERS))
async def test_each_answer_is_taken_as_aiohttp_takes_it(raw, session, path):
    raw.answers.update(ANSWERS)
    slow = await outcome(session, raw.url(path), lean=False)
    aiohttp_saw = list(raw.seen)
    raw.seen.clear()
    fast = await outcome(session, raw.url(path), lean=True)
    assert fast == slow
    assert [(m, p, b) for m, p, _, b in raw.seen] == [(m, p, b) for m, p, _, b in aiohttp_saw]
    for (_, _, lean_headers, _), (_, _, theirs, _) in zip(raw.seen, aiohttp_saw, strict=True):
        for name in ("host", "content-type", "user-agent", "accept", "content-length", "authorization"):
            assert lean_headers.get(name) == theirs.get(name), name


async def test_one_connection_serves_request_after_request(raw, session):
    for _ in range(5):
        assert await outcome(session, raw.url("/hook"), lean=True) == (200, b"ok")
    assert raw.connections == 1
    assert [p for _, p, _, _ in raw.seen] == ["/hook"] * 5
    assert len(keepalive.pool(session).idle[("127.0.0.1", raw.port)]) == 1  # kept by the lean client


async def test_a_connection_the_server_closed_while_idle_is_not_used_again(raw, session):
    raw.answers["/close"] = ANSWERS["/close"]
    assert await outcome(session, raw.url("/close"), lean=True) == (200, b"until the end")
    assert await outcome(session, raw.url("/hook"), lean=True) == (200, b"ok")
    assert raw.connections == 2


async def test_the_headers_are_sent_as_given(raw, session):
    http = HTTPConfig(bearer_token="t0ken")
    assert await outcome(session, raw.url("/hook"), lean=True, http=http,
                         headers={"X-Tocsin-Notification-Id": "abc"}) == (200, b"ok")
    [(method, path, headers, body)] = raw.seen
    assert (method, path, body) == ("POST", "/hook", b'{"a": 1}')
    assert headers["authorization"] == "Bearer t0ken"
    assert headers["x-tocsin-notification-id"] == "abc"
    assert headers["host"] == f"127.0.0.1:{raw.port}"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "tocsin"


async def test_a_redirect_elsewhere_drops_the_authorization_and_one_not_followed_is_final(raw, session):
    other = RawServer()
    await other.start()
    try:
        raw.answers["/away"] = (f"HTTP/1.1 308 Permanent\r\nLocation: {other.url('/there')}\r\n"
                                "Content-Length: 0\r\n\r\n").encode()
        http = HTTPConfig(bearer_token="t0ken")
        assert await outcome(session, raw.url("/away"), lean=True, http=http) == (200, b"ok")
        [(method, path, headers, body)] = other.seen
        assert (method, path, body) == ("POST", "/there", b'{"a": 1}')
        assert "authorization" not in headers
        kept = HTTPConfig(follow_redirects=False)
        out = await outcome(session, raw.url("/away"), lean=True, http=kept)
        assert out[:4] == ("error", f"http://127.0.0.1:{raw.port}/<redacted>: HTTP 308", False, 308)
    finally:
        await other.stop()


async def test_no_connection_and_no_answer_in_time_say_so_as_before(raw, session):
    await raw.stop()
    for lean in (False, True):
        out = await outcome(session, raw.url("/hook"), lean=lean)
        assert out[1].startswith(f"http://127.0.0.1:{raw.port}/<redacted>: ClientConnectorError"), out
        assert out[2] is True
    raw.server = await asyncio.start_server(lambda r, w: asyncio.sleep(30), "127.0.0.1", raw.port)
    out = await outcome(session, raw.url("/hook"), lean=True, timeout=0.2)
    shown = f"http://127.0.0.1:{raw.port}/<redacted>"
    assert out == ("error", f"{shown}: no answer within 0.2s", True, None, None)


async def test_a_header_aiohttp_refuses_is_refused_the_same_way(raw, session):
    outcomes = []
    for lean in (False, True):
        with pytest.raises(ValueError, match="Forbidden control character") as caught:
            await outcome(session, raw.url("/hook"), lean=lean, headers={"X-Bad": "a\r\nX-Injected: 1"})
        outcomes.append(str(caught.value))
    assert outcomes[0] == outcomes[1]
    assert raw.seen == []


def test_only_plain_http_without_a_proxy_or_user_goes_the_lean_way():
    class Open:
        closed = False

    session: Any = Open()
    assert keepalive.usable(session, "http://127.0.0.1:9/x", None) is not None
    assert keepalive.usable(session, "https://127.0.0.1:9/x", None) is None
    assert keepalive.usable(session, "http://u:p@127.0.0.1:9/x", None) is None
    assert keepalive.usable(session, "http://127.0.0.1:9/x", HTTPConfig(proxy_url="http://p:3128")) is None
    session.closed = True
    assert keepalive.usable(session, "http://127.0.0.1:9/x", None) is None
