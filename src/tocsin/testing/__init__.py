"""Helpers for testing tocsin and tocsin plugins without sleeping.

    async with running(CONFIG, tmp_path, plugins=[recorder]) as rt:
        await post(rt, {"labels": {"alertname": "X"}})
        await advance(rt, 30)          # group_wait passes on the fake clock
        assert recorder.notifications

``running`` starts a real :class:`~tocsin.runtime.Runtime` (real SQLite
store, real dispatcher and delivery) on a :class:`~tocsin.core.clock.FakeClock`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tocsin import hookimpl
from tocsin.config.document import Config, load_config
from tocsin.core.clock import FakeClock
from tocsin.core.models import Notification, PostableAlert
from tocsin.ingest.pipeline import IngestResult
from tocsin.plugins import PluginManager, channel_kinds, remediation_kinds
from tocsin.runtime import Runtime
from tocsin.store.sqlite import SQLiteStore
from tocsin.web.app import create_app

__all__ = [
    "NotificationRecorder", "RecordingServer", "advance", "api_client", "make_config", "make_plugins",
    "post", "running",
]


class NotificationRecorder:
    """A plugin that records every notification; ``ok`` decides what it answers."""

    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.notifications: list[Notification] = []

    @hookimpl
    def tocsin_notify(self, runtime: Runtime, notification: Notification) -> bool:
        self.notifications.append(notification)
        return self.ok


def make_plugins(plugins: Iterable[object] = (), *, builtins: bool = True) -> PluginManager:
    pm = PluginManager()
    if builtins:
        pm.load_entry_points()
    for plugin in plugins:
        pm.register(plugin)
    return pm


def make_config(text: str, pm: PluginManager | None = None) -> Config:
    pm = pm or make_plugins()
    return load_config(text, channel_kinds(pm), remediation_kinds=remediation_kinds(pm))


@asynccontextmanager
async def running(
    config: str | Config,
    tmp_path: Path,
    *,
    plugins: Iterable[object] = (),
    clock: FakeClock | None = None,
    db_name: str = "tocsin.db",
) -> AsyncIterator[Runtime]:
    pm = make_plugins(plugins)
    cfg = make_config(config, pm) if isinstance(config, str) else config
    rt = Runtime(cfg, pm, clock=clock or FakeClock(), store=SQLiteStore(tmp_path / db_name))
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


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


@asynccontextmanager
async def api_client(
    config: str | Config,
    tmp_path: Path,
    *,
    plugins: Iterable[object] = (),
    clock: FakeClock | None = None,
) -> AsyncIterator[tuple[TestClient, Runtime]]:
    """The HTTP API of a real runtime (fake clock) under aiohttp's test client."""
    pm = make_plugins(plugins)
    cfg = make_config(config, pm) if isinstance(config, str) else config
    rt = Runtime(cfg, pm, clock=clock or FakeClock(), store=SQLiteStore(tmp_path / "api.db"))
    client = TestClient(TestServer(create_app(rt)))
    await client.start_server()  # the app's cleanup context starts the runtime
    try:
        yield client, rt
    finally:
        await client.close()


async def post(rt: Runtime, *alerts: dict[str, Any]) -> IngestResult:
    """Ingest alerts given as API v2 JSON objects, and let the dispatcher route them."""
    posted = [(i, msgspec.convert(a, PostableAlert)) for i, a in enumerate(alerts)]
    result = await rt.ingester.ingest(posted)
    await rt.bus.drained()
    return result


async def advance(rt: Runtime, seconds: float) -> None:
    """Move the fake clock, fire what is due, and wait for the flushes it started."""
    clock = rt.clock
    assert isinstance(clock, FakeClock), "advance() needs a runtime on a FakeClock"
    clock.advance(seconds)
    rt.scheduler.run_due()
    for _ in range(3):  # work started by work: flushes, escalations, announcements
        await rt.dispatcher.settle()
        await rt.settle()
        await rt.bus.drained()
