"""A real runtime on a fake clock, and the ways a test drives it and looks into it: config,
plugins, alerts in, timers fired, the HTTP API, events, dead letters, remediation runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from aiohttp.test_utils import TestClient, TestServer

from tocsin import hookimpl
from tocsin.config.document import Config, load_config
from tocsin.config.types import dec_hook
from tocsin.core.clock import FakeClock
from tocsin.core.events import Event, NotificationFailed, NotificationSent
from tocsin.core.facade import Facade
from tocsin.core.models import Notification, PostableAlert
from tocsin.ingest.pipeline import IngestResult
from tocsin.plugins import PluginInfo, PluginManager, channel_kinds, remediation_kinds
from tocsin.runtime import Runtime
from tocsin.store import Store
from tocsin.store.sqlite import SQLiteStore
from tocsin.web.app import create_app

if TYPE_CHECKING:
    from tocsin.channels import ChannelKind
    from tocsin.core.records import RemediationRun
    from tocsin.remediation import RemediationKind
    from tocsin.store import DeadLetter

__all__ = [
    "EventRecorder", "NotificationRecorder", "advance", "api_client", "channel_config", "channel_kind",
    "dead_letters", "installed_plugin", "make_config", "make_plugins", "post", "remediation_kind",
    "remediation_runs", "running",
]

E = TypeVar("E", bound=Event)
S = TypeVar("S", bound=msgspec.Struct)


class NotificationRecorder:
    """A plugin that records every notification; ``ok`` decides what it answers."""

    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.notifications: list[Notification] = []

    @hookimpl
    def tocsin_notify(self, runtime: Facade, notification: Notification) -> bool:
        self.notifications.append(notification)
        return self.ok


class EventRecorder:
    """A plugin that records every event on the bus (``tocsin_observe``).

    ``of(cls)`` lists the events of one class; ``sent`` and ``failed`` are the
    ``NotificationSent`` and ``NotificationFailed`` events, the ones a channel test checks.
    """

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def tocsin_observe(self, runtime: Facade, event: Event) -> None:
        self.events.append(event)

    def of(self, cls: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, cls)]

    @property
    def sent(self) -> list[NotificationSent]:
        return self.of(NotificationSent)

    @property
    def failed(self) -> list[NotificationFailed]:
        return self.of(NotificationFailed)


def make_plugins(plugins: Iterable[object] = (), *, builtins: bool = True) -> PluginManager:
    """A plugin manager with the installed plugins (unless ``builtins`` is False) and ``plugins``."""
    pm = PluginManager()
    if builtins:
        pm.load_entry_points()
    for plugin in plugins:
        pm.register(plugin)
    return pm


def make_config(text: str, pm: PluginManager | None = None) -> Config:
    """A config loaded from YAML ``text`` with the kinds of ``pm``'s plugins (default: the
    installed ones); :class:`ConfigError`, listing every problem by its YAML path, if invalid."""
    pm = pm or make_plugins()
    return load_config(text, channel_kinds(pm), remediation_kinds=remediation_kinds(pm))


def installed_plugin(name: str) -> PluginInfo:
    """How tocsin finds the plugin of entry point ``name``: ``module``, ``distribution``,
    ``version``, and ``loaded`` (or the import ``error``)."""
    found = [info for info in make_plugins().infos if info.name == name]
    assert found, f"no plugin {name!r} in the tocsin.plugins entry points"
    return found[0]


def channel_kind(name: str, plugins: Iterable[object] = ()) -> ChannelKind:
    """The channel kind ``name`` as tocsin finds it (installed plugins, and ``plugins``)."""
    return channel_kinds(make_plugins(plugins))[name]


def remediation_kind(name: str, plugins: Iterable[object] = ()) -> RemediationKind:
    """The remediation kind ``name`` as tocsin finds it (installed plugins, and ``plugins``)."""
    return remediation_kinds(make_plugins(plugins))[name]


def channel_config(cls: type[S], entry: dict[str, Any]) -> S:
    """One config entry (e.g. a ``<kind>_configs`` item, as YAML would give it) decoded
    into its Struct ``cls`` the way a config file is: URLs, secrets and durations included."""
    return msgspec.convert(entry, cls, dec_hook=dec_hook)


@asynccontextmanager
async def running(
    config: str | Config,
    tmp_path: Path,
    *,
    plugins: Iterable[object] = (),
    clock: FakeClock | None = None,
    db_name: str = "tocsin.db",
    store: Store | None = None,
) -> AsyncIterator[Runtime]:
    """A real runtime (SQLite store ``db_name`` in ``tmp_path``, or ``store``, unopened) on
    ``clock`` (default: a new FakeClock), with the installed plugins and ``plugins``;
    stopped on the way out."""
    pm = make_plugins(plugins)
    cfg = make_config(config, pm) if isinstance(config, str) else config
    rt = Runtime(cfg, pm, clock=clock or FakeClock(), store=store or SQLiteStore(tmp_path / db_name))
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
    store: Store | None = None,
) -> AsyncIterator[tuple[TestClient, Runtime]]:
    """The HTTP API of a real runtime (fake clock; SQLite store ``api.db`` in ``tmp_path``, or
    ``store``, unopened) under aiohttp's test client."""
    pm = make_plugins(plugins)
    cfg = make_config(config, pm) if isinstance(config, str) else config
    rt = Runtime(cfg, pm, clock=clock or FakeClock(), store=store or SQLiteStore(tmp_path / "api.db"))
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


def dead_letters(rt: Runtime) -> list[DeadLetter]:
    """The runtime's dead letters: notifications it gave up on (``error``, ``attempts``...)."""
    return rt.dead_letters.list()


def remediation_runs(rt: Runtime) -> list[RemediationRun]:
    """The runtime's remediation runs, newest first (``state``, ``outcome``, ``rendered``...)."""
    return rt.remediator.list()
