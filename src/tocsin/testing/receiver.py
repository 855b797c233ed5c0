"""A local HTTP server that records what it is sent and answers as a test tells it."""

from __future__ import annotations

import asyncio
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
        [req] = await server.wait_for(1)    # req.json(), req.headers, req.path
    """

    class Request:
        def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
            self.method, self.path, self.headers, self.body = method, path, headers, body

        def json(self) -> Any:
            return msgspec.json.decode(self.body)

    def __init__(self) -> None:
        self.requests: list[RecordingServer.Request] = []
        self.status = 200
        self.headers: dict[str, str] = {}
        self.body = b""
        self._queue: list[tuple[int, dict[str, str], bytes]] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def answer_next(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self._queue.append((status, headers or {}, body))

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self._changed:
            self.requests.append(self.Request(request.method, request.path, dict(request.headers), body))
            self._changed.notify_all()
        status, headers, answer = self._queue.pop(0) if self._queue else (
            self.status, self.headers, self.body)
        return web.Response(status=status, headers=headers, body=answer)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[RecordingServer.Request]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.requests) >= count), timeout)
        return list(self.requests)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
