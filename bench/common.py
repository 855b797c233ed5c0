"""Shared pieces of the benchmarks: a tocsin subprocess and a webhook sink, on loopback only."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


class Tocsin:
    def __init__(self, config: str) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="tocsin-bench-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = Path(self.dir.name) / "tocsin.yml"
        cfg.write_text(config)
        self.cmd = [sys.executable, "-m", "tocsin", "serve", "--config", str(cfg),
                    "--listen", f"127.0.0.1:{self.port}",
                    "--storage", str(Path(self.dir.name) / "tocsin.db"), "--log-level", "warning"]
        self.proc: subprocess.Popen | None = None

    async def __aenter__(self) -> Tocsin:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as s:
            while True:
                try:
                    async with s.get(f"{self.url}/-/ready") as r:
                        if r.status == 200:
                            return self
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("tocsin did not start")
                await asyncio.sleep(0.05)

    def rss_peak_kib(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(20)
        self.dir.cleanup()
