"""Time from POST /api/v2/alerts to the webhook receiving the notification.

Each alert gets its own group (a distinct alertname, group_by alertname) with
group_wait 0s, posted one at a time so deliveries do not queue behind each
other. Loopback only; bounded by --count.

    python bench/latency.py --count 1000
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
from aiohttp import web
from common import Tocsin, free_port, percentile

CONFIG = """
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1m
receivers:
  - name: hook
    webhook_configs: [{{url: "http://127.0.0.1:{port}/hook"}}]
storage: {{synchronous: NORMAL}}
"""


async def main(count: int) -> dict[str, float]:
    arrived: dict[str, float] = {}
    waiters: dict[str, asyncio.Future[float]] = {}

    async def hook(request: web.Request) -> web.Response:
        t = time.perf_counter()
        body = await request.json()
        name = body["groupLabels"]["alertname"]
        arrived[name] = t
        fut = waiters.get(name)
        if fut is not None and not fut.done():
            fut.set_result(t)
        return web.Response()

    port = free_port()
    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    latencies: list[float] = []
    try:
        async with Tocsin(CONFIG.format(port=port)) as t, aiohttp.ClientSession() as s:
            loop = asyncio.get_running_loop()
            for i in range(count):
                name = f"Latency{i}"
                waiters[name] = loop.create_future()
                start = time.perf_counter()
                async with s.post(f"{t.url}/api/v2/alerts",
                                  json=[{"labels": {"alertname": name, "i": str(i)}}]) as r:
                    assert r.status == 200, await r.text()
                done = await asyncio.wait_for(waiters[name], 10)
                latencies.append((done - start) * 1000)
    finally:
        await runner.cleanup()
    return {
        "count": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies),
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000)
    args = ap.parse_args()
    res = asyncio.run(main(args.count))
    print(f"POST-to-webhook latency over {res['count']} alerts: p50 {res['p50_ms']:.2f} ms, "
          f"p99 {res['p99_ms']:.2f} ms, max {res['max_ms']:.2f} ms")
