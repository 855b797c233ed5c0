"""tocsin.web.connections: which connection goes when the cap is reached, in process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from tocsin.core.metrics import Metrics
from tocsin.testing import wait_until
from tocsin.web.connections import ConnectionGuard, ConnectionLimits, GuardedSite

REQUEST = b"GET /%s HTTP/1.1\r\nHost: x\r\n\r\n"


def closed(metrics: Metrics, reason: str) -> float | None:
    return metrics.registry.get_sample_value("tocsin_http_connections_closed_total", {"reason": reason})


class Server:
    """A guarded aiohttp server whose ``/slow`` answers once ``release`` is set."""

    def __init__(self, cap: int) -> None:
        self.metrics = Metrics()
        self.guard = ConnectionGuard(ConnectionLimits(cap, header_timeout=60, idle_timeout=60),
                                     self.metrics)
        self.release = asyncio.Event()
        self.started = 0
        self.port = 0

    async def slow(self, request: web.Request) -> web.Response:
        self.started += 1
        await self.release.wait()
        return web.Response(text="slow")

    async def fast(self, request: web.Request) -> web.Response:
        return web.Response(text="fast")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Server]:
        app = web.Application(middlewares=[self.guard.middleware()])
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/fast", self.fast)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await runner.setup()
        site = GuardedSite(runner, "127.0.0.1", 0, guard=self.guard)
        await site.start()
        self.port = site.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            self.release.set()
            await runner.cleanup()

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), 5) == b""
    except ConnectionError:
        return True


async def answer(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return head.split(b"\r\n", 1)[0]


async def test_a_new_connection_is_refused_when_every_open_one_is_busy():
    async with Server(cap=2).running() as s:
        busy = [await s.connect() for _ in range(2)]
        for _, writer in busy:
            writer.write(REQUEST % b"slow")
        await wait_until(lambda: s.started == 2, 5, message="both requests to be handled")
        reader, _ = await s.connect()
        assert await closed_by_server(reader)
        assert closed(s.metrics, "cap") == 1
        assert len(s.guard) == 2
        s.release.set()
        for reader, _ in busy:  # the busy ones were left alone
            assert await answer(reader) == b"HTTP/1.1 200 OK"


async def test_at_the_cap_the_connection_waiting_longest_makes_room():
    async with Server(cap=2).running() as s:
        oldest, _ = await s.connect()  # sends nothing
        kept_alive, writer = await s.connect()
        writer.write(REQUEST % b"fast")
        assert await answer(kept_alive) == b"HTTP/1.1 200 OK"
        # A third connection: the one that never sent anything goes, not the kept-alive one
        # (which waits for its next request since after it).
        newest, newest_writer = await s.connect()
        assert await closed_by_server(oldest)
        newest_writer.write(REQUEST % b"fast")
        assert await answer(newest) == b"HTTP/1.1 200 OK"
        # A fourth: now the kept-alive one has waited longest.
        _, fourth_writer = await s.connect()
        await kept_alive.readexactly(4)  # the rest of its answer's body
        assert await closed_by_server(kept_alive)
        assert closed(s.metrics, "evicted") == 2
        assert closed(s.metrics, "cap") == 0
        assert len(s.guard) == 2
        fourth_writer.close()


async def test_new_limits_apply_to_new_connections():
    async with Server(cap=1).running() as s:
        _, writer = await s.connect()
        writer.write(REQUEST % b"slow")
        await wait_until(lambda: s.started == 1, 5, message="the request to be handled")
        s.guard.configure(ConnectionLimits(2, header_timeout=60, idle_timeout=60))
        assert s.metrics.registry.get_sample_value("tocsin_http_connections_max") == 2
        second, writer = await s.connect()
        writer.write(REQUEST % b"fast")
        assert await answer(second) == b"HTTP/1.1 200 OK"
        assert closed(s.metrics, "cap") == 0
