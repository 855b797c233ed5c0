"""Running the daemon in the foreground: load, listen, handle signals, stop."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import structlog
from aiohttp import web

from tocsin.app import create_app
from tocsin.config import Config, ConfigError, load_config, parse_listen
from tocsin.plugins import PluginManager, channel_kinds, remediation_kinds
from tocsin.runtime import Runtime
from tocsin.validate import Problem

__all__ = ["ConfigLoader", "load_plugins", "serve"]

log = structlog.get_logger("tocsin.daemon")


def load_plugins() -> PluginManager:
    pm = PluginManager()
    pm.load_entry_points()
    return pm


@dataclass
class ConfigLoader:
    """Reads the config file and applies command-line overrides, at start and on reload."""

    path: Path
    pm: PluginManager
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def load(self) -> Config:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([Problem("", f"cannot read config: {exc.strerror}")], str(self.path)) from None
        config = load_config(text, channel_kinds(self.pm), source=str(self.path),
                             remediation_kinds=remediation_kinds(self.pm))
        disabled = [n for n in config.document.plugins.disable if self.pm.has_plugin(n)]
        if disabled:
            for name in disabled:
                self.pm.unregister(name=name)
            config = load_config(text, channel_kinds(self.pm), source=str(self.path),
                             remediation_kinds=remediation_kinds(self.pm))
        return self._override(config)

    def _override(self, config: Config) -> Config:
        doc = config.document
        if self.overrides.get("listen"):
            doc = msgspec.structs.replace(doc, server=msgspec.structs.replace(
                doc.server, listen=self.overrides["listen"]))
        if self.overrides.get("storage"):
            doc = msgspec.structs.replace(doc, storage=msgspec.structs.replace(
                doc.storage, path=self.overrides["storage"]))
        if doc is config.document:
            return config
        return dataclasses.replace(config, document=doc)


async def serve(loader: ConfigLoader) -> int:
    config = loader.load()
    runtime = Runtime(config, loader.pm)
    host, port = parse_listen(config.server.listen)

    async def reload() -> None:
        try:
            new = loader.load()
        except ConfigError as exc:
            log.error("reload rejected; the running config stays", error=exc.render())
            runtime.counters["config_reload_failures"] += 1
            raise
        if new.server.listen != runtime.config.server.listen or new.storage != runtime.config.storage:
            log.warning("server.listen and storage changes take effect at the next restart")
        await runtime.reload(new)

    app = create_app(runtime, reload)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    log.info("listening", address=f"{host}:{port}", config=str(loader.path),
             storage=config.storage.path, summary=config.summary())

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[None]] = set()

    def on_hup() -> None:
        task = loop.create_task(_quiet(reload()))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await site.stop()
        await runner.shutdown()
        await runner.cleanup()
    return 0


async def _quiet(coro: Any) -> None:
    try:
        await coro
    except ConfigError:
        pass  # already logged
