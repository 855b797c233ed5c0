"""A local HTTP server that records what it is sent and answers as a test tells it,
or does not answer until told to."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
from aiohttp import web

__all__ = ["RecordingServer"]


class RecordingServer:
    """A local HTTP server (127.0.0.1, free port) that records every request and
    answers as told: set ``status`` (and ``headers``, ``body``), or queue one-off
    answers with ``answer_next``.

        server = RecordingServer()
        url = await server.start()          # e.g. http://127.0.0.1:40123
        server.answer_next(429, {"Retry-After": "2"})
        ...
        [req] = await server.wait_for(1)    # req.json(), req.headers, req.path, req.status

    It can also hang: with ``hang`` set every request, and after ``hang_next(n)`` the
    next ``n``, are recorded as they arrive and then held, unanswered, until
    ``release()`` or until the client gives up (its timeout). ``held`` lists the
    requests held now. A request's ``status`` is what it was answered, None while it is
    held or when the client gave up first.
    """

    class Request:
        def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes,
                     query: str = "") -> None:
            self.method, self.path, self.headers, self.body = method, path, headers, body
            #: The query string, undecoded (``identifierType=alias``).
            self.query = query
            #: The status answered; None while held, or if the client gave up waiting.
            self.status: int | None = None
            #: ``time.monotonic()`` when it arrived.
            self.at = time.monotonic()

        def json(self) -> Any:
            return msgspec.json.decode(self.body)

        def __repr__(self) -> str:
            return f"<Request {self.method} {self.path} -> {self.status}>"

    def __init__(self, *, max_body: int = 1 << 30) -> None:
        #: The largest body taken (aiohttp's own default, 1 MiB, is less than a big group's
        #: notification); a larger one is answered 413.
        self.max_body = max_body
        self.requests: list[RecordingServer.Request] = []
        self.status = 200
        self.headers: dict[str, str] = {}
        self.body = b""
        #: Hold every request until ``release()``.
        self.hang = False
        self._hang_next = 0
        self._queue: list[tuple[int, dict[str, str], bytes]] = []
        self._changed = asyncio.Condition()
        self._holds: dict[RecordingServer.Request, asyncio.Event] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""

    def answer_next(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self._queue.append((status, headers or {}, body))

    def hang_next(self, count: int = 1) -> None:
        """Hold the next ``count`` requests (after any already to be held)."""
        self._hang_next += count

    def release(self) -> None:
        """Answer every held request (as the server answers now) and hold no more."""
        self.hang = False
        self._hang_next = 0
        for event in self._holds.values():
            event.set()

    @property
    def held(self) -> list[RecordingServer.Request]:
        """The requests held now, in order of arrival."""
        return list(self._holds)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        req = self.Request(request.method, request.path, dict(request.headers), body, request.query_string)
        hold = None
        if self.hang or self._hang_next:
            self._hang_next -= 0 if self.hang else 1
            hold = self._holds[req] = asyncio.Event()
        async with self._changed:
            self.requests.append(req)
            self._changed.notify_all()
        if hold is not None:
            try:
                # Cancelled if the client goes away first (handler_cancellation in start()).
                await hold.wait()
            finally:
                del self._holds[req]
        status, headers, answer = self._queue.pop(0) if self._queue else (
            self.status, self.headers, self.body)
        req.status = status
        return web.Response(status=status, headers=headers, body=answer)

    async def start(self) -> str:
        app = web.Application(client_max_size=self.max_body)
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[RecordingServer.Request]:
        """Every request so far, once there are ``count``; TimeoutError after ``timeout``."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.requests) >= count), timeout)
        return list(self.requests)

    async def stop(self) -> None:
        self.release()  # a held request would keep the clean-up waiting
        if self._runner is not None:
            await self._runner.cleanup()
