"""Starting real processes for tests: tocsin itself and peers (Prometheus, Alertmanager)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tocsin.testing import wait_until

__all__ = ["Alertmanager", "Daemon", "WebhookReceiver", "free_port", "require_binary"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_binary(*names: str) -> str:
    """The path of the first binary found; skip loudly if none, but fail under CI=true."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    msg = (
        f"MISSING PEER BINARY {' or '.join(names)}: install it "
        "(apt-get install -y prometheus prometheus-alertmanager) to run this test"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


async def wait_http(url: str, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    """Until ``url`` answers 200; RuntimeError as soon as ``proc`` exits, AssertionError
    after ``timeout``."""
    async with aiohttp.ClientSession() as s:

        async def ok() -> bool:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
            try:
                async with s.get(url, timeout=aiohttp.ClientTimeout(total=1)) as r:
                    return r.status == 200
            except (aiohttp.ClientError, TimeoutError):
                return False

        await wait_until(ok, timeout, 0.05, message=f"{url} to answer 200")


class Alertmanager:
    """The real Alertmanager on a free loopback port, without gossip, storage in ``workdir``."""

    def __init__(self, workdir: Path, config: str, args: Sequence[str] = ()) -> None:
        self.workdir = workdir
        self.config = config
        #: More command-line flags (``--web.external-url=...``).
        self.args = list(args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    async def start(self) -> None:
        binary = require_binary("prometheus-alertmanager", "alertmanager")
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "am.yml").write_text(self.config)
        with (self.workdir / "am.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [binary, f"--config.file={self.workdir / 'am.yml'}",
                 f"--storage.path={self.workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=", *self.args],
                stdout=log, stderr=subprocess.STDOUT,
            )
        await wait_http(f"{self.url}/-/ready", timeout=30, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)


class WebhookReceiver:
    """A local HTTP endpoint that records Alertmanager webhook messages."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        #: The status every request is answered with (messages are recorded regardless).
        self.status = 200
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self._arrived:
            self.messages.append(body)
            self._arrived.notify_all()
        return web.Response(status=self.status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[dict]:
        """Wait until at least ``count`` messages arrived; return them all."""
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.messages) >= count), timeout
            )
        return list(self.messages)


class Daemon:
    """``tocsin serve`` as a subprocess on a free loopback port."""

    def __init__(self, config: Path, storage: Path | str, log: Path) -> None:
        #: A SQLite file, or a ``postgresql://`` URL (``--storage`` takes either).
        self.config = config
        self.storage = storage
        self.log_path = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    async def start(self, extra: Sequence[str] = ()) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tocsin", "serve", "--config", str(self.config),
             "--listen", f"127.0.0.1:{self.port}", "--storage", str(self.storage), *extra],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        await wait_http(f"{self.url}/-/ready", proc=self.proc)

    def kill9(self, *, children: bool = False) -> None:
        """SIGKILL the daemon; with ``children``, its database writer process too, at once,
        as systemd's kill of the unit's cgroup does (then nothing the daemon had sent the
        writer is committed by it after the daemon's death)."""
        assert self.proc is not None
        if children:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
                for kid in kids:
                    os.kill(int(kid), signal.SIGKILL)
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    async def wait_log(self, text: str, count: int = 1, timeout: float = 15.0) -> None:
        """Wait until ``text`` appears ``count`` times in the daemon's output."""
        await wait_until(lambda: self.logs().count(text) >= count, timeout, 0.02,
                         message=f"{text!r} x{count} in the daemon's log")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def post_alerts(self, alerts: list[dict]) -> tuple[int, str]:
        async with aiohttp.ClientSession() as s, s.post(f"{self.url}/api/v2/alerts", json=alerts) as r:
            return r.status, await r.text()

    async def get_alerts(self) -> list[dict]:
        async with aiohttp.ClientSession() as s, s.get(f"{self.url}/api/v2/alerts") as r:
            assert r.status == 200
            return await r.json()
