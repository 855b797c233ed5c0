"""Alerts accepted per second by POST /api/v2/alerts, at several batch sizes.

Fresh alerts (new label sets), C concurrent connections, loopback only.

    python bench/ingest.py --alerts 20000 --concurrency 8 --batch 1 10 100
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
from common import Tocsin, percentile

CONFIG = """
route:
  receiver: quiet
  group_by: [alertname]
  group_wait: 30s
receivers:
  - name: quiet
"""


async def run(url: str, total: int, batch: int, concurrency: int, tag: str) -> dict[str, float]:
    bodies = [
        [{"labels": {"alertname": f"Bench{tag}", "instance": f"host-{i + j}", "job": "bench"},
          "annotations": {"summary": "benchmark alert"}} for j in range(batch)]
        for i in range(0, total, batch)
    ]
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[list[dict]] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)

    async def worker(s: aiohttp.ClientSession) -> None:
        nonlocal errors
        while not queue.empty():
            body = queue.get_nowait()
            t0 = time.perf_counter()
            async with s.post(f"{url}/api/v2/alerts", json=body) as r:
                await r.read()
                if r.status != 200:
                    errors += 1
            latencies.append((time.perf_counter() - t0) * 1000)

    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as s:
        start = time.perf_counter()
        await asyncio.gather(*(worker(s) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"alerts_per_s": total / elapsed, "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99), "errors": errors}


async def main(total: int, batches: list[int], concurrency: int) -> None:
    async with Tocsin(CONFIG) as t:
        for batch in batches:
            res = await run(t.url, total, batch, concurrency, tag=str(batch))
            print(f"batch {batch:>3}: {res['alerts_per_s']:>9.0f} alerts/s  "
                  f"p50 {res['p50_ms']:.2f} ms  p99 {res['p99_ms']:.2f} ms  errors {res['errors']}")
        print(f"peak RSS (VmHWM): {t.rss_peak_kib() / 1024:.1f} MiB")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 10, 100])
    args = ap.parse_args()
    asyncio.run(main(args.alerts, args.batch, args.concurrency))
