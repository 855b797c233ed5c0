"""tocsin as a user runs it: ``tocsin serve`` in a process of its own."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tocsin.testing.waiting import wait_until

__all__ = ["free_port", "serving"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def serving(config_text: str, tmp_path: Path, *, timeout: float = 20.0,
                  storage: str | None = None) -> AsyncIterator[str]:
    """``tocsin serve`` as a subprocess (installed plugins loaded as in production) on a
    free 127.0.0.1 port, its config, storage and log (``tocsin.log``) in ``tmp_path``
    (``storage``: another ``--storage``, a ``postgresql://`` URL for one). Yields its URL
    once ``/-/ready`` answers 200; stops it with SIGTERM after."""
    config = tmp_path / "tocsin.yml"
    config.write_text(config_text)
    log_path = tmp_path / "tocsin.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tocsin", "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
            "--storage", storage or str(tmp_path / "tocsin.db"), stdout=log, stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:

            async def ready() -> bool:
                if proc.returncode is not None:
                    raise RuntimeError(f"tocsin serve exited with {proc.returncode}:\n{log_path.read_text()}")
                try:
                    async with session.get(f"{url}/-/ready") as r:
                        return r.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    return False

            await wait_until(ready, timeout, interval=0.05, message=f"tocsin serve to be ready at {url}")
        yield url
    finally:
        if proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 15)
