"""A load generator for ``POST /api/v2/alerts`` that knows exactly what was accepted.

Each posted alert is new: its label ``n`` is unique within the run. A batch counts as
accepted only when its request got a 2xx answer; a request that failed on the way (the
connection refused, reset or cut by a ``kill -9``) has an unknown outcome and is counted
apart, never as accepted (whether its alerts were stored or not is fine either way).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiohttp

__all__ = ["AlertLoad", "LoadFigures"]


@dataclass
class LoadFigures:
    """What the load generator saw, request by request."""

    #: ``n`` label -> the labels of every alert whose request was answered 2xx.
    accepted: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Alerts in requests that failed on the way (outcome unknown).
    unknown: int = 0
    #: Alerts in requests answered with something other than a 2xx.
    refused: int = 0
    #: Every non-2xx status seen, with its count.
    statuses: dict[int, int] = field(default_factory=dict)
    requests: int = 0


class AlertLoad:
    """``workers`` concurrent connections, each posting batches of ``batch`` new alerts
    with ``pause`` seconds between requests, spread over ``groups`` alert names; to ``url``,
    or round-robin to each of several (replicas)."""

    def __init__(self, url: str | list[str], *, tag: str, groups: int = 8, workers: int = 3,
                 batch: int = 4, pause: float = 0.05) -> None:
        self.urls = [f"{u}/api/v2/alerts" for u in ([url] if isinstance(url, str) else url)]
        self.tag = tag
        self.groups = groups
        self.workers = workers
        self.batch = batch
        self.pause = pause
        self.figures = LoadFigures()
        self._next = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def _new_batch(self) -> list[dict]:
        alerts = []
        for _ in range(self.batch):
            n = self._next
            self._next += 1
            labels = {"alertname": f"Crash{n % self.groups}", "n": f"{self.tag}-{n}",
                      "job": "loadgen"}
            alerts.append({"labels": labels, "annotations": {"summary": f"alert {n}"}})
        return alerts

    async def _post(self, session: aiohttp.ClientSession, alerts: list[dict]) -> None:
        fig = self.figures
        url = self.urls[fig.requests % len(self.urls)]
        fig.requests += 1
        try:
            async with session.post(url, json=alerts) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, ConnectionError):
            fig.unknown += len(alerts)
            await asyncio.sleep(0.05)  # the daemon is down or going down: do not spin
            return
        if 200 <= status < 300:
            for a in alerts:
                fig.accepted[a["labels"]["n"]] = a["labels"]
        else:
            fig.refused += len(alerts)
            fig.statuses[status] = fig.statuses.get(status, 0) + 1

    async def _worker(self) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        # A connection per request: a kept-alive connection to a killed daemon would only
        # add "server disconnected" failures that say nothing about tocsin.
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            while not self._stop.is_set():
                await self._post(session, self._new_batch())
                await asyncio.sleep(self.pause)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(), name=f"load {i}")
                       for i in range(self.workers)]

    async def stop(self) -> None:
        """Stop posting; requests in flight finish (and are counted) first."""
        self._stop.set()
        await asyncio.gather(*self._tasks)
