"""Running the daemon in the foreground: load, listen, handle signals, stop.

Under systemd (``Type=notify``, see ``systemd/tocsin.service``) the daemon tells the
service manager how it is doing through ``$NOTIFY_SOCKET`` (:mod:`tocsin.daemon.sdnotify`):

- ``READY=1`` once the runtime has started and the listener accepts connections;
- ``RELOADING=1`` when a reload (SIGHUP or ``POST /-/reload``) begins, and ``READY=1``
  when it is over, whether the new config was taken or rejected;
- ``STOPPING=1`` when a stop (SIGTERM, SIGINT) begins;
- ``WATCHDOG=1`` every half ``WatchdogSec=`` from a task on the event loop, so a wedged
  loop (or a dead background loop of the runtime, or a store that failed because its
  database file was removed or replaced) stops the pings and systemd restarts us. A
  PostgreSQL server that cannot be reached does not: that passes without a restart.

A stop first closes the listener, then gives requests being answered, group flushes and
the background work in flight ``server.shutdown_timeout`` in total to finish; what is
still running then is given up (its groups notify again at the next start).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import ssl
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import structlog
import yaml
from aiohttp import web

from tocsin.config.document import Config, ConfigError, load_config, parse_listen
from tocsin.config.server import DEFAULT_PATH, StorageConfig, parse_storage
from tocsin.config.types import Secret
from tocsin.config.validate import Problem
from tocsin.daemon import fdlimit, heap, sdnotify
from tocsin.plugins import PluginManager, channel_kinds, remediation_kinds
from tocsin.runtime import Runtime
from tocsin.store import StorageError
from tocsin.web.app import create_app
from tocsin.web.connections import ConnectionGuard, ConnectionLimits, GuardedSite

__all__ = ["ConfigLoader", "load_plugins", "serve", "tls_context"]

log = structlog.get_logger("tocsin.daemon.serve")

#: However little of ``server.shutdown_timeout`` the HTTP side left, the runtime gets at
#: least this long to drain accepted alerts and persist.


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
        config = self._decode(text)
        disabled = [n for n in config.document.plugins.disable if self.pm.has_plugin(n)]
        if disabled:
            for name in disabled:
                self.pm.unregister(name=name)
            config = self._decode(text)
        return self._override(config)

    def _decode(self, text: str) -> Config:
        return load_config(text, channel_kinds(self.pm), source=str(self.path),
                           remediation_kinds=remediation_kinds(self.pm), failed_plugins=self.pm.failures())

    def reload(self) -> tuple[Config, dict[str, object]]:
        """:meth:`load` at a reload, after loading the plugins installed since start (or
        that failed to load, or that the config disabled before). Returns the config and the
        plugins registered before it (for :meth:`restore`). On a ``ConfigError`` the
        plugins are put back as they were."""
        before = dict(self.pm.list_name_plugin())
        self.pm.load_entry_points(reloading=True)
        try:
            config = self.load()
        except ConfigError:
            self.restore(before)
            raise
        added = {name for name, _ in self.pm.list_name_plugin()} - before.keys()
        infos = {i.name: i for i in self.pm.infos}
        for name in sorted(added):
            info = infos.get(name)
            log.info("plugin loaded at reload", plugin=name, distribution=info and info.distribution,
                     version=info and info.version)
        for impl in self.pm.hook.tocsin_register_routes.get_hookimpls():
            if impl.plugin_name in added:
                log.warning("a plugin loaded at reload serves its HTTP routes from the next restart",
                            plugin=impl.plugin_name)
        return config, before

    def restore(self, before: dict[str, object]) -> None:
        """The plugins registered as in ``before``, when a reload's config is not taken."""
        for name, _ in self.pm.list_name_plugin():
            if name not in before:
                self.pm.unregister(name=name)
        for name, plugin in before.items():
            if plugin is not None and not self.pm.has_plugin(name):
                self.pm.register(plugin, name=name)

    def _override(self, config: Config) -> Config:
        doc = config.document
        if self.overrides.get("listen"):
            doc = msgspec.structs.replace(doc, server=msgspec.structs.replace(
                doc.server, listen=self.overrides["listen"]))
        if self.overrides.get("storage"):
            storage = _storage_override(doc.storage, self.overrides["storage"])
            doc = msgspec.structs.replace(doc, storage=storage)
        elif self.overrides.get("default_storage") and doc.storage.url is None \
                and doc.storage.path == DEFAULT_PATH:  # the file names no storage
            storage = _storage_override(doc.storage, self.overrides["default_storage"], "--default-storage")
            doc = msgspec.structs.replace(doc, storage=storage)
        if doc is config.document:
            return config
        return dataclasses.replace(config, document=doc)


def _storage_override(storage: StorageConfig, text: str, flag: str = "--storage") -> StorageConfig:
    """``--storage`` (or ``--default-storage``, when the file names no storage): a
    PostgreSQL URL (``storage.url``), or ``sqlite:PATH`` or a path (``storage.path``);
    either replaces both keys of the file."""
    try:
        where = parse_storage(text)
    except ValueError as exc:
        raise ConfigError([Problem(flag, str(exc))], "command line") from None
    if where.kind == "postgresql":
        return msgspec.structs.replace(storage, url=Secret(text), path=DEFAULT_PATH)
    return msgspec.structs.replace(storage, url=None, path=where.target)


# -- TLS ----------------------------------------------------------------------------------


class _EncryptedKey(Exception):
    pass


def _no_password() -> bytes:
    # Called by OpenSSL for an encrypted key; without it OpenSSL would prompt on the terminal.
    raise _EncryptedKey


def _tls_error(config: Config, name: str, message: str) -> ConfigError:
    problem = Problem(f"server.tls.{name}", message)
    try:  # the line of the key in the file, as for any other config error
        from tocsin.config.yaml import with_line

        problem = with_line(problem, yaml.compose(config.original, Loader=yaml.SafeLoader))
    except Exception:  # without a line number the message still says what is wrong
        pass
    return ConfigError([problem], config.source)


def tls_context(config: Config) -> ssl.SSLContext:
    """The server-side SSL context for ``server.tls`` (TLS 1.2 or newer).

    Relative paths are relative to the config file's directory. Raises ConfigError naming
    ``server.tls.cert_file`` or ``server.tls.key_file`` when a file cannot be read or used.
    """
    tls = config.server.tls
    assert tls is not None
    base = Path(config.source).parent if config.source else Path.cwd()
    paths = {name: base / Path(getattr(tls, name)).expanduser() for name in ("cert_file", "key_file")}
    for name, path in paths.items():
        try:
            path.read_bytes()
        except OSError as exc:
            raise _tls_error(config, name, f"cannot read {path}: {exc.strerror or exc}") from None
    cert, key = paths["cert_file"], paths["key_file"]
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.load_verify_locations(cafile=cert)
    except ssl.SSLError as exc:
        raise _tls_error(config, "cert_file",
                         f"{cert}: no PEM certificate in it ({exc.reason or exc})") from None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key, password=_no_password)
    except _EncryptedKey:
        raise _tls_error(config, "key_file",
                         f"{key}: the private key is encrypted; tocsin needs an unencrypted PEM key "
                         "(keep the file readable only by the service)") from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            message = f"{key}: not the private key of the certificate in server.tls.cert_file ({cert})"
        else:
            message = f"{key}: no usable PEM private key in it ({exc.reason or exc})"
        raise _tls_error(config, "key_file", message) from None
    return ctx


# -- the runtime as the daemon runs it -------------------------------------------------------


# -- serving ----------------------------------------------------------------------------------


async def serve(loader: ConfigLoader) -> int:
    """Run the daemon until SIGTERM or SIGINT; the exit status."""
    config = loader.load()
    ssl_context: ssl.SSLContext | None = None
    if config.server.tls is not None:
        try:
            ssl_context = tls_context(config)
        except ConfigError as exc:
            print(exc.render(), file=sys.stderr)
            return 1
    return await _Server(loader, config, ssl_context, fdlimit.raise_limit()).run()


class _Server:
    """One run of the daemon: the runtime behind its HTTP app, signals, reload, stop."""

    def __init__(self, loader: ConfigLoader, config: Config, ssl_context: ssl.SSLContext | None,
                 files: fdlimit.FileLimit) -> None:
        self.loader = loader
        self.config = config
        self.ssl_context = ssl_context
        self.runtime = Runtime(config, loader.pm)
        self.host, self.port = parse_listen(config.server.listen)
        self.url = f"{'https' if ssl_context is not None else 'http'}://{self.host}:{self.port}"
        self.stop = asyncio.Event()
        self.stopping = False
        self.reload_lock = asyncio.Lock()
        self.files = files
        self.connections = ConnectionGuard(_connection_limits(config, files), self.runtime.metrics)
        # In-flight HTTP requests get at most the shutdown timeout; what it leaves goes to the runtime.
        self.runner = web.AppRunner(create_app(self.runtime, self.reload, self.connections),
                                    handle_signals=False, access_log=None,
                                    shutdown_timeout=float(config.server.shutdown_timeout))
        self.site: GuardedSite | None = None

    async def run(self) -> int:
        # The watchdog and the reloads SIGHUP starts: tasks of this run, ended with it.
        async with asyncio.TaskGroup() as tasks:
            watchdog = _start_watchdog(tasks, self.runtime, lambda: self.stopping)
            try:
                return await self._serve(tasks)
            finally:
                if watchdog is not None:
                    watchdog.cancel()

    async def _serve(self, tasks: asyncio.TaskGroup) -> int:
        heap.pause()  # until the start-up heap is frozen, below
        error = await self._listen()
        if error is not None:
            print(f"{self.config.source or 'config'}: {error}", file=sys.stderr)
            await self.runner.cleanup()
            return 1
        log.info("listening", address=f"{self.host}:{self.port}", tls=self.ssl_context is not None,
                 config=str(self.loader.path), storage=str(self.config.storage.location),
                 summary=self.config.summary())
        log.info("open files", limit=self.files.soft, hard_limit=self.files.hard,
                 raised_from=self.files.raised_from, reserved=fdlimit.RESERVED,
                 max_connections=self.connections.limits.max_connections)
        log.debug("start-up heap frozen", objects=heap.freeze())
        storm = heap.StormPause()  # no collection between a storm's sends
        self.runtime.deferral.on_hold, self.runtime.deferral.on_release = storm.hold, storm.release
        sdnotify.ready(_status(self.runtime, self.url, "ready"))
        self._handle_signals(tasks)
        try:
            await self.stop.wait()
        finally:
            await self._shutdown()
        return 0

    async def _listen(self) -> str | None:
        """Start the runtime and the listener; what went wrong, or None."""
        try:
            await self.runner.setup()  # starts the runtime
        except StorageError as exc:
            return f"storage: {exc}"
        self.site = GuardedSite(self.runner, self.host, self.port, guard=self.connections,
                                ssl_context=self.ssl_context)
        try:
            await self.site.start()
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            return f"server.listen: cannot listen on {self.host}:{self.port}: {reason}"
        return None

    def _handle_signals(self, tasks: asyncio.TaskGroup) -> None:
        loop = asyncio.get_running_loop()

        def on_stop(name: str) -> None:
            if self.stop.is_set():
                log.info("already stopping", signal=name)
            self.stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_stop, sig.name)
        loop.add_signal_handler(signal.SIGHUP,
                                lambda: tasks.create_task(_quiet(self.reload()), name="reload"))

    async def _shutdown(self) -> None:
        self.stopping = True
        timeout = float(self.runtime.config.server.shutdown_timeout)
        self.runtime.stop_by = time.monotonic() + timeout
        sdnotify.stopping(f"stopping: finishing work in flight (up to {timeout:g}s)")
        log.info("stopping", shutdown_timeout=timeout)
        if self.site is not None:
            await self.site.stop()  # accept no more connections
        await self.runner.cleanup()  # answer requests in flight, then stop the runtime
        # Removed only now: while stopping, a second SIGTERM or a SIGHUP must not kill us.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        log.info("stopped")

    async def reload(self) -> None:
        """Load the config file and apply it; on a failure the running config stays."""
        if self.stopping:
            log.warning("reload ignored: stopping")
            return
        async with self.reload_lock:
            sdnotify.reloading("reloading the config")
            status = "reload failed; running the previous config"
            try:
                try:
                    new, plugins = self.loader.reload()
                except ConfigError as exc:
                    log.error("reload rejected; the running config stays", error=exc.render())
                    status = f"reload rejected ({len(exc.problems)} error(s)); running the previous config"
                    _reload_failed(self.runtime)
                    raise
                try:
                    await self._apply(new)
                except Exception:
                    self.loader.restore(plugins)
                    raise
                status = _status(self.runtime, self.url, "config reloaded")
                log.debug("heap frozen again", objects=heap.refreeze())
            finally:
                sdnotify.ready(status)

    async def _apply(self, new: Config) -> None:
        old = self.runtime.config
        if new.server.listen != old.server.listen or new.storage != old.storage:
            log.warning("server.listen and storage changes take effect at the next restart")
        if new.server.tls != old.server.tls:
            log.warning("server.tls changes take effect at the next restart")
        try:
            await self.runtime.reload(new)
        except Exception:
            _reload_failed(self.runtime)
            raise
        self.connections.configure(_connection_limits(new, self.files))


def _connection_limits(config: Config, files: fdlimit.FileLimit) -> ConnectionLimits:
    limits = fdlimit.connection_limits(config.server, files)
    if limits.max_connections > files.room:
        log.warning("server.max_connections leaves fewer descriptors than tocsin keeps back for "
                    "deliveries and the database; raise LimitNOFILE (ulimit -n) or lower it",
                    max_connections=limits.max_connections, open_files_limit=files.soft,
                    reserved=fdlimit.RESERVED)
    return limits


def _reload_failed(runtime: Runtime) -> None:
    """A reload failed and the running config stays. Metrics of failed reloads hook in here."""
    runtime.counters["config_reload_failures"] += 1


def _status(runtime: Runtime, url: str, what: str) -> str:
    return f"{what}: {url}; {runtime.config.summary()}"


def _start_watchdog(tasks: asyncio.TaskGroup, runtime: Runtime, stopping: Any) -> asyncio.Task[None] | None:
    interval = sdnotify.watchdog_interval()
    if interval is None:
        return None
    log.info("systemd watchdog enabled", interval_s=round(interval, 3))
    return tasks.create_task(_watchdog(runtime, interval, stopping), name="watchdog")


async def _watchdog(runtime: Runtime, interval: float, stopping: Any) -> None:
    """Ping while the event loop runs this task, the runtime's loops are alive and its
    store has not failed (only a restart mends that: its database file is gone)."""
    reported = False
    while True:
        dead = [] if stopping() else runtime.dead_loops()
        # A failure that passes by itself (a database server that cannot be reached) is
        # no reason to restart: /-/ready shows it, and tocsin resumes once it is back.
        failure = None if stopping() or not runtime.store.needs_restart else runtime.store.failure
        if not dead and failure is None:
            sdnotify.watchdog()
        elif not reported:
            reported = True
            if dead:
                log.error("background loop ended; no more watchdog pings, so systemd restarts tocsin",
                          loops=dead)
                sdnotify.status(f"broken: background loop(s) {', '.join(dead)} ended")
            else:
                log.error("storage failed; no more watchdog pings, so systemd restarts tocsin",
                          reason=failure)
                sdnotify.status(f"broken: {failure}")
        await asyncio.sleep(interval)


async def _quiet(coro: Any) -> None:
    try:
        await coro
    except ConfigError:
        pass  # already logged
    except Exception:
        log.exception("reload failed; the running config stays")
