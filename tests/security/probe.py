"""Watching a running daemon while it is attacked: how long its health check takes to answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import aiohttp

__all__ = ["HealthProbe", "probing"]


@dataclass
class HealthProbe:
    """Latencies (seconds) of ``GET /-/healthy`` asked one after another, ``interval`` apart.
    A request that fails or takes longer than ``timeout`` counts as ``timeout``."""

    url: str
    interval: float = 0.01
    timeout: float = 30.0
    latencies: list[float] = field(default_factory=list)
    failures: int = 0

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as s:
            while True:
                t0 = time.perf_counter()
                try:
                    async with s.get(f"{self.url}/-/healthy") as r:
                        await r.read()
                        if r.status != 200:
                            self.failures += 1
                except (aiohttp.ClientError, TimeoutError):
                    self.failures += 1
                self.latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(self.interval)

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)

    def summary(self) -> str:
        return (f"{len(self.latencies)} health checks: p50 {self.quantile(0.5) * 1000:.1f} ms, "
                f"p99 {self.quantile(0.99) * 1000:.1f} ms, worst {self.worst * 1000:.1f} ms, "
                f"{self.failures} failed")


@asynccontextmanager
async def probing(url: str, *, interval: float = 0.01) -> AsyncIterator[HealthProbe]:
    """Probe ``url``'s health check in the background for the body of the ``async with``;
    the probe's figures are final when the block ends."""
    probe = HealthProbe(url, interval=interval)
    task = asyncio.create_task(probe.run())
    try:
        yield probe
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
