"""A real runtime on a fake clock, and the ways a test drives it: config, plugins, alerts in,
timers fired, the HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
from aiohttp.test_utils import TestClient, TestServer

from tocsin import hookimpl
from tocsin.config.document import Config, load_config
from tocsin.core.clock import FakeClock
from tocsin.core.facade import Facade
from tocsin.core.models import Notification, PostableAlert
from tocsin.ingest.pipeline import IngestResult
from tocsin.plugins import PluginManager, channel_kinds, remediation_kinds
from tocsin.runtime import Runtime
from tocsin.store.sqlite import SQLiteStore
from tocsin.web.app import create_app

__all__ = ["NotificationRecorder", "advance", "api_client", "make_config", "make_plugins", "post", "running"]


class NotificationRecorder:
    """A plugin that records every notification; ``ok`` decides what it answers."""

    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.notifications: list[Notification] = []

    @hookimpl
    def tocsin_notify(self, runtime: Facade, notification: Notification) -> bool:
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
