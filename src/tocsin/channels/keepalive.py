"""A lean HTTP/1.1 client for the webhook channel's POSTs to plain ``http://`` URLs.

In an alert storm (a notification per alert) aiohttp's request machinery was most of
the CPU a webhook send costs on the event loop. What a webhook POST needs is small: a
kept-alive connection per receiver, the request written in one call, the status line,
headers and body of the answer read back. This module does that and no more; every
other request (``https://``, a proxy, a URL with a user, a session that is closed)
goes through aiohttp as before (:func:`usable` says which).

It answers as aiohttp does, so the callers' error handling is unchanged: the same
headers sent (``Host``, ``Accept: */*``, ``Content-Length`` and the caller's), a
connection that cannot be made is tried again through aiohttp (nothing was sent yet:
its error is aiohttp's own), a server that closes the connection before it answers
is :class:`aiohttp.ServerDisconnectedError`, a redirect is followed by aiohttp from
its ``Location`` (:func:`redirect`, aiohttp's rules for the first hop). At most
:data:`LIMIT` connections of one session are in use at once, as aiohttp's connector
allows; an idle one is closed after :data:`KEEPALIVE` seconds.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import re
import weakref
import zlib
from collections import deque
from typing import Any

import aiohttp
from yarl import URL

__all__ = ["KEEPALIVE", "LIMIT", "Answer", "Pool", "Unreachable", "close", "pool", "redirect", "usable"]

#: Connections of one session in use at once (aiohttp's connector default).
LIMIT = 100
#: Seconds an idle connection is kept for the next request (aiohttp's default).
KEEPALIVE = 15.0
#: The longest head (status line and headers) read from an answer.
MAX_HEAD = 65536


class Unreachable(Exception):
    """No connection could be made: nothing was sent (aiohttp may try, and say why not)."""


class Answer:
    """A response: status, headers (names in lower case; the first of a repeated one), body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def text(self) -> str:
        """The body as text, as aiohttp decodes it: the ``charset`` of its Content-Type, or UTF-8."""
        body = self.body
        if self.headers.get("content-encoding", "").lower() in ("gzip", "deflate"):
            with contextlib.suppress(zlib.error):
                body = zlib.decompressobj(wbits=47).decompress(body)
        charset = "utf-8"
        for param in self.headers.get("content-type", "").lower().split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip() == "charset" and value.strip(' "'):
                with contextlib.suppress(LookupError):
                    charset = codecs.lookup(value.strip(' "')).name
        return body.decode(charset, errors="replace")


class _Target:
    """What a URL gives a request: where to connect, the request line's target, ``Host``."""

    __slots__ = ("host", "host_header", "port", "target", "url")

    def __init__(self, url: URL) -> None:
        self.url = url
        self.host = url.raw_host or ""
        self.port = url.port or 80
        self.target = url.raw_path_qs or "/"
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if url.is_default_port() else f"{host}:{self.port}"


_targets: dict[str, _Target | None] = {}


def _target(url: str) -> _Target | None:
    """The parsed ``http://`` URL, or None for one this client does not send to."""
    known = _targets.get(url, False)
    if known is not False:
        return known  # type: ignore[return-value]
    try:
        parsed = URL(url)
        ok = parsed.scheme == "http" and bool(parsed.raw_host) and parsed.user is None \
            and parsed.password is None
    except (ValueError, TypeError):
        ok = False
    out = _Target(parsed) if ok else None
    if len(_targets) >= 1024:
        _targets.clear()
    _targets[url] = out
    return out


class _Connection(asyncio.Protocol):
    """One kept-alive connection: a request written, its answer read into :attr:`answer`."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Answer] | None = None
        self.closed = False
        self.reusable = False
        self.idle_timer: asyncio.TimerHandle | None = None
        self._head: tuple[int, dict[str, str], bool] | None = None
        self._eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():  # nothing asked: not a connection to reuse
            self.close()
            return
        self.buffer += data
        self._parse()

    def eof_received(self) -> bool:
        self._eof = True
        self._finish()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._eof = True
        self._finish()

    def _finish(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self._parse()
            if not self.waiter.done():  # closed before the whole answer came
                self.waiter.set_exception(aiohttp.ServerDisconnectedError())

    def send(self, request: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None
        self.buffer.clear()
        self._head = None
        self.reusable = False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        if self.transport is not None:
            self.transport.close()

    def _parse(self) -> None:
        assert self.waiter is not None
        try:
            answer = self._answer()
        except aiohttp.ClientError as exc:
            self.waiter.set_exception(exc)
            return
        if answer is not None:
            self.waiter.set_result(answer)

    def _answer(self) -> Answer | None:
        while self._head is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    raise aiohttp.ClientResponseError(None, (), message="answer head too long")  # type: ignore[arg-type]
                return None
            head = _head(bytes(self.buffer[:end]))
            del self.buffer[:end + 4]
            if 100 <= head[0] < 200:  # informational: the answer follows
                continue
            self._head = head
        status, headers, keep = self._head
        body = self._body(status, headers)
        if body is None:
            return None
        self.reusable = keep and not self._eof and not self.buffer
        return Answer(status, headers, body)

    def _body(self, status: int, headers: dict[str, str]) -> bytes | None:
        if status in (204, 304):
            return b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return _chunked(self.buffer)
        length = headers.get("content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                raise aiohttp.ClientPayloadError(f"invalid Content-Length {length!r}") from None
            if len(self.buffer) < n:
                return None
            body = bytes(self.buffer[:n])
            del self.buffer[:n]
            return body
        if not self._eof:  # no length: the body ends with the connection
            return None
        self._head = (status, headers, False)
        body = bytes(self.buffer)
        self.buffer.clear()
        return body


def _head(raw: bytes) -> tuple[int, dict[str, str], bool]:
    """(status, headers, whether the connection stays open) of an answer's head."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise aiohttp.ClientResponseError(None, (), message=f"invalid answer: {lines[0][:80]!r}")  # type: ignore[arg-type]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    conn = headers.get("connection", "").lower()
    keep = parts[0] == "HTTP/1.1" and "close" not in conn
    return int(parts[1]), headers, keep


def _chunked(buffer: bytearray) -> bytes | None:
    """The body of a chunked answer once all of it is in ``buffer`` (taken from it), else None."""
    pos, out = 0, list[bytes]()
    while True:
        eol = buffer.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(bytes(buffer[pos:eol]).split(b";", 1)[0], 16)
        except ValueError:
            raise aiohttp.ClientPayloadError("invalid chunk size") from None
        if size == 0:
            end = buffer.find(b"\r\n\r\n", eol)  # the trailers, if any, end with a blank line
            if end < 0:
                if buffer[eol + 2:eol + 4] == b"\r\n":
                    end = eol
                else:
                    return None
            del buffer[:end + 4]
            return b"".join(out)
        start = eol + 2
        if len(buffer) < start + size + 2:
            return None
        out.append(bytes(buffer[start:start + size]))
        pos = start + size + 2


class Pool:
    """Idle connections by (host, port), and the limit on those in use, for one session."""

    def __init__(self) -> None:
        self.idle: dict[tuple[str, int], deque[_Connection]] = {}
        self.slots = asyncio.Semaphore(LIMIT)

    async def request(self, target: _Target, method: str, headers: dict[str, str], body: bytes) -> Answer:
        """Send one request; the answer. :class:`Unreachable` when no connection could be made."""
        lines = [f"{method} {target.target} HTTP/1.1", f"Host: {target.host_header}", "Accept: */*"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body
        async with self.slots:
            conn = self._idle(target) or await self._connect(target)
            try:
                answer = await conn.send(request)
            except BaseException:
                conn.close()
                raise
            if conn.reusable and not conn.closed:
                self._keep(target, conn)
            else:
                conn.close()
            return answer

    def _idle(self, target: _Target) -> _Connection | None:
        idle = self.idle.get((target.host, target.port))
        while idle:
            conn = idle.pop()
            if conn.idle_timer is not None:
                conn.idle_timer.cancel()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
        return None

    async def _connect(self, target: _Target) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_Connection, target.host, target.port)
        except OSError as exc:
            raise Unreachable(str(exc)) from exc
        return conn

    def _keep(self, target: _Target, conn: _Connection) -> None:
        key = (target.host, target.port)
        idle = self.idle.setdefault(key, deque())
        idle.append(conn)
        conn.idle_timer = asyncio.get_running_loop().call_later(KEEPALIVE, self._expire, key, conn)

    def _expire(self, key: tuple[str, int], conn: _Connection) -> None:
        idle = self.idle.get(key)
        if idle is not None and conn in idle:
            idle.remove(conn)
        conn.close()

    def close(self) -> None:
        for idle in self.idle.values():
            for conn in idle:
                conn.close()
        self.idle.clear()


_pools: weakref.WeakKeyDictionary[aiohttp.ClientSession, Pool] = weakref.WeakKeyDictionary()


#: What aiohttp refuses in a header (it raises ValueError): left to aiohttp to refuse.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def usable(session: aiohttp.ClientSession, url: str, http: Any,
           headers: dict[str, str] | None = None) -> _Target | None:
    """Where to send, when this client can send the request, else None (aiohttp does)."""
    if session.closed or (http is not None and http.proxy_url):
        return None
    if headers and any(_FORBIDDEN.search(k) or _FORBIDDEN.search(v) for k, v in headers.items()):
        return None
    return _target(url)


def pool(session: aiohttp.ClientSession) -> Pool:
    found = _pools.get(session)
    if found is None:
        found = _pools[session] = Pool()
    return found


def close(session: aiohttp.ClientSession) -> None:
    """Close the idle connections kept for ``session`` (before it closes)."""
    found = _pools.pop(session, None)
    if found is not None:
        found.close()


_SCHEMES = ("http", "https", "")
_C0_OR_SPACE = "".join(map(chr, range(0x21)))


def _no_authority(location: str, scheme: str) -> bool:
    """Whether ``location`` (with a scheme) has no ``//`` after the scheme; browsers read a
    backslash as a slash there (as aiohttp decides it)."""
    location = location.strip(_C0_OR_SPACE).replace("\t", "").replace("\n", "").replace("\r", "")
    rest = location[len(scheme) + 1:len(scheme) + 3]
    return rest[:1] not in ("/", "\\") or rest[1:] not in ("/", "\\")


def redirect(target: _Target, status: int, method: str, location: str | None,
             headers: dict[str, str]) -> tuple[str, URL, bool, dict[str, str]] | None:
    """The request a redirect answer asks for, by aiohttp's rules: (method, URL, whether
    the body goes with it, headers), or None when the answer has no ``Location`` (it is
    then the answer). A ``Location`` that is no http URL raises aiohttp's error."""
    if location is None:
        return None
    keep_body = not (status == 303 or (status in (301, 302) and method == "POST"))
    try:
        url = URL(location)
    except ValueError as exc:
        raise aiohttp.InvalidUrlRedirectClientError(
            location, "Server attempted redirecting to a location that does not look like a URL") from exc
    if url.scheme not in _SCHEMES:
        raise aiohttp.NonHttpUrlRedirectClientError(location)
    if not url.scheme or (url.scheme == target.url.scheme and _no_authority(location, url.scheme)):
        url = target.url.join(url)
    try:
        origin = url.origin()
    except ValueError as exc:
        raise aiohttp.InvalidUrlRedirectClientError(url, "Invalid redirect URL origin") from exc
    if origin != target.url.origin():
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    return ("GET" if not keep_body else method), url, keep_body, headers
