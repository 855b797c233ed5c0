"""Client connections: how many may be open, and how long one may wait for its request.

A server that holds a file descriptor for every socket a client opens runs out of
descriptors when clients connect and never finish a request head (slowloris): health
checks are refused, and deliveries and the database fail with "Too many open files".
The listener (:class:`GuardedSite`) puts each accepted socket under a
:class:`ConnectionGuard`:

* **Cap** (``server.max_connections``): at most this many client connections are open.
  One more closes the open connection that has waited longest for its next request head
  (one that sent nothing, a slow header, an idle kept-alive one: ``evicted``); when every
  open connection is busy with a request, the new one is closed at once (``cap``). Either
  way its descriptor is given back at once.
* **Header timeout** (``server.header_timeout``): a new connection must finish its TLS
  handshake (with ``server.tls``) and its first request head within this long of being
  accepted; a kept-alive one, its next head within this long of the head's first byte.
* **Idle timeout** (``server.idle_timeout``): a kept-alive connection with no request
  for this long is closed.

Each close is counted in ``tocsin_http_connections_closed_total{reason}``. The site
accepts connections itself and hands each socket to the loop with
``loop.connect_accepted_socket`` (which does the TLS handshake), so that a connection is
counted, and can be closed, from its accept on, not only once its handshake is over.

A connection is *busy* from the moment its request head reaches the app (the
:meth:`ConnectionGuard.middleware`, outermost) until the app's answer is handed to the
transport; while the transport still holds unsent bytes of an answer it is busy too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_protocol import RequestHandler

from tocsin.core.metrics import Metrics

__all__ = ["ConnectionGuard", "ConnectionLimits", "GuardedSite"]

log = structlog.get_logger("tocsin.web.connections")

#: At most one warning a minute that the cap is reached (the counters say the rest).
_WARN_EVERY = 60.0
#: After accept() fails for want of descriptors or memory, it is tried again this much later.
_ACCEPT_RETRY = 1.0
#: The loop's own bound on a TLS handshake, a backstop to the header timeout (which counts it).
_HANDSHAKE_SLACK = 1.0


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int
    header_timeout: float
    idle_timeout: float


class ConnectionGuard:
    """The open client connections of a listener, their cap and their deadlines."""

    def __init__(self, limits: ConnectionLimits, metrics: Metrics | None = None) -> None:
        self.limits = limits
        self.metrics = metrics
        self._open: set[_Connection] = set()
        #: Open connections not busy with a request, the longest waiting first.
        self._waiting: OrderedDict[_Connection, None] = OrderedDict()
        self._by_handler: dict[RequestHandler, _Connection] = {}
        self._closed = {"cap": 0, "evicted": 0}
        self._warned_at = -_WARN_EVERY
        if metrics is not None:
            metrics.connections_open.set_function(lambda: len(self._open))
        self.configure(limits)

    def configure(self, limits: ConnectionLimits) -> None:
        """New limits, for connections accepted from now on and deadlines set from now on."""
        self.limits = limits
        if self.metrics is not None:
            self.metrics.connections_max.set(limits.max_connections)

    def __len__(self) -> int:
        return len(self._open)

    def middleware(self) -> Middleware:
        """Marks a connection busy while the app answers its request (put it outermost)."""

        @web.middleware
        async def connection_busy(request: web.Request, handler: Handler) -> web.StreamResponse:
            protocol = request.protocol
            self._busy(protocol)
            try:
                return await handler(request)
            finally:
                self._idle(protocol)

        return connection_busy

    def shutdown(self) -> None:
        """Close the connections not yet set up, such as those in their TLS handshake
        (aiohttp closes the others)."""
        for conn in [c for c in self._open if c.handler is None]:
            conn.abort()

    # -- what a connection tells the guard ------------------------------------------------

    def accept(self, sock: socket.socket, make_handler: Callable[[], RequestHandler],
               tls: ssl.SSLContext | None) -> None:
        """A socket just accepted: closed at once over the cap (unless room can be made),
        else set up, with ``make_handler()`` making aiohttp's handler for it."""
        if len(self._open) >= self.limits.max_connections:
            victim = next((c for c in self._waiting if not c.writing()), None)
            if victim is None:
                self._count("cap")
                sock.close()
                return
            self.close(victim, "evicted")
        conn = _Connection(self, sock, make_handler)
        self._open.add(conn)
        self._waiting[conn] = None
        self.arm(conn, self.limits.header_timeout)
        conn.setup = asyncio.get_running_loop().create_task(
            conn.connect(tls, self.limits.header_timeout + _HANDSHAKE_SLACK))

    def connected(self, conn: _Connection, handler: RequestHandler) -> None:
        self._by_handler[handler] = conn

    def release(self, conn: _Connection) -> None:
        self._open.discard(conn)
        self._waiting.pop(conn, None)
        if conn.handler is not None:
            self._by_handler.pop(conn.handler, None)

    def arm(self, conn: _Connection, delay: float) -> None:
        """(Re)set ``conn``'s deadline to ``delay`` seconds from now."""
        if conn.timer is not None:
            conn.timer.cancel()
        conn.timer = asyncio.get_running_loop().call_later(delay, self._expire, conn)

    def close(self, conn: _Connection, reason: str) -> None:
        self._count(reason)
        conn.abort()

    # -- internals -------------------------------------------------------------------------

    def _busy(self, handler: RequestHandler) -> None:
        conn = self._by_handler.get(handler)
        if conn is None:
            return
        conn.busy, conn.fresh = True, False
        if conn.timer is not None:
            conn.timer.cancel()
            conn.timer = None
        self._waiting.pop(conn, None)

    def _idle(self, handler: RequestHandler) -> None:
        conn = self._by_handler.get(handler)
        if conn is None:  # closed meanwhile
            return
        conn.busy, conn.heard = False, False
        self._waiting[conn] = None
        self.arm(conn, self.limits.idle_timeout)

    def _expire(self, conn: _Connection) -> None:
        conn.timer = None
        if conn.gone or conn.busy:
            return
        if conn.writing():  # an answer is still going out: not waiting for a request
            self.arm(conn, self.limits.header_timeout)
            return
        self.close(conn, "header_timeout" if conn.fresh or conn.heard else "idle_timeout")

    def _count(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.connections_closed.labels(reason).inc()
        if reason not in self._closed:
            return
        self._closed[reason] += 1
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            log.warning("client connections at server.max_connections: the longest waiting for a "
                        "request are closed, new ones refused when all are busy (counts since the "
                        "last such warning; tocsin_http_connections_closed_total has them all)",
                        max_connections=self.limits.max_connections,
                        evicted=self._closed["evicted"], refused=self._closed["cap"])
            self._closed = {"cap": 0, "evicted": 0}


class _Connection(asyncio.Protocol):
    """One accepted socket. The loop talks to it; it tells the guard what happens and
    passes everything on to aiohttp's handler, made once the connection is set up (and its
    TLS handshake done)."""

    def __init__(self, guard: ConnectionGuard, sock: socket.socket,
                 make_handler: Callable[[], RequestHandler]) -> None:
        self.guard = guard
        self.sock = sock
        self.make_handler = make_handler
        # Set by connection_made: the socket's, or the TLS one. (uvloop's transports are
        # not subclasses of asyncio's, so none is checked with isinstance.)
        self.transport: asyncio.Transport | None = None
        self.handler: RequestHandler | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.busy = False  # the app is answering a request
        self.fresh = True  # no request yet: the header timeout counts from the accept
        self.heard = False  # bytes of the next request head have come
        self.gone = False  # closed, or being closed, and released from the guard
        self.setup: asyncio.Task[None] | None = None  # connect(), while it runs

    async def connect(self, tls: ssl.SSLContext | None, handshake_timeout: float) -> None:
        """Hand the socket to the loop (which does the TLS handshake, if any)."""
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: self, self.sock, ssl=tls, ssl_handshake_timeout=handshake_timeout if tls else None)
        except Exception:  # the handshake failed or was cut short; the loop closed the socket
            self._release()

    def writing(self) -> bool:
        return self.transport is not None and self.transport.get_write_buffer_size() > 0

    def abort(self) -> None:
        self._release()
        if self.transport is not None:
            self.transport.abort()
        else:  # still in its TLS handshake: make it fail, and the loop closes the socket
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)

    def _release(self) -> None:
        if not self.gone:
            self.gone = True
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self.guard.release(self)

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)
        if self.gone:  # closed by the guard while the loop was setting it up
            transport.abort()
            return
        self.handler = handler = self.make_handler()
        self.guard.connected(self, handler)
        handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.handler is None:
            return
        if not (self.busy or self.heard or self.gone):
            self.heard = True
            if not self.fresh:
                self.guard.arm(self, self.guard.limits.header_timeout)
        self.handler.data_received(data)

    def eof_received(self) -> None:  # the transport closes itself, as aiohttp's handler wants
        if self.handler is not None:
            self.handler.eof_received()

    def pause_writing(self) -> None:
        if self.handler is not None:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        if self.handler is not None:
            self.handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        if self.handler is not None:
            self.handler.connection_lost(exc)


class GuardedSite(web.BaseSite):
    """aiohttp's ``TCPSite``, except that it accepts connections itself, so that each
    socket is under ``guard`` from its accept on, before any TLS handshake."""

    __slots__ = ("_guard", "_host", "_port", "_sockets")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, guard: ConnectionGuard,
                 ssl_context: ssl.SSLContext | None = None, backlog: int = 128) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host, self._port, self._guard = host, port, guard
        self._sockets: list[socket.socket] = []

    @property
    def name(self) -> str:
        return f"{'https' if self._ssl_context else 'http'}://{self._host}:{self._port}"

    @property
    def sockets(self) -> list[socket.socket]:
        return list(self._sockets)

    async def start(self) -> None:
        """Bind and listen (OSError when that fails, as ``loop.create_server``), then accept."""
        await super().start()
        loop = asyncio.get_running_loop()
        addresses = await loop.getaddrinfo(self._host or None, self._port, type=socket.SOCK_STREAM,
                                           flags=socket.AI_PASSIVE)
        self._sockets = _listening(addresses, self._backlog)
        for sock in self._sockets:
            loop.add_reader(sock.fileno(), self._accept, sock)

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self._sockets:
            loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets = []
        await super().stop()
        self._guard.shutdown()

    def _accept(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(self._backlog):
            try:
                sock, _ = listening.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:  # out of descriptors or memory: try again in a second
                log.error("cannot accept connections", error=os.strerror(exc.errno or 0),
                          retry_in_s=_ACCEPT_RETRY)
                loop.remove_reader(listening.fileno())
                loop.call_later(_ACCEPT_RETRY, self._resume, listening)
                return
            server = self._runner.server
            assert server is not None
            sock.setblocking(False)
            self._guard.accept(sock, server, self._ssl_context)

    def _resume(self, listening: socket.socket) -> None:
        if listening in self._sockets:
            asyncio.get_running_loop().add_reader(listening.fileno(), self._accept, listening)


def _listening(addresses: list[tuple[Any, ...]], backlog: int) -> list[socket.socket]:
    """Listening sockets on each address (as ``loop.create_server`` makes them)."""
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(addresses):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets
