"""The dashboard's alert list with 10,000 active alerts: how long ``GET /`` takes.

A real daemon (loopback only) is loaded with ``--count`` alerts (50 alert names, one
instance each, three severities, 20 clusters, an inhibition rule and a few silences, so
that muting has work to do), then each page is asked for ``--requests`` times:

* ``server``: the time the daemon took to make the page (its ``Server-Timing`` header);
* ``client``: from sending the request to the last byte of the HTML (what a browser
  has before it can paint; the page's stylesheet and scripts are cached after the first
  visit, and the scripts are deferred);
* ``first``: the first request after loading, which computes what later ones reuse;
* ``changing``: a request after each of ``--requests`` re-posts of one alert with a new
  annotation, so that nothing computed for the previous request can be reused;
* ``first paint`` (with ``--browser``, when Playwright and Debian's chromium are there):
  the first contentful paint of ``/`` in a fresh browser page, 5 loads, as the browser
  reports it (``performance.getEntriesByType("paint")``).

    python bench/dashboard.py --count 10000 --requests 20 --browser
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
from common import Tocsin, percentile

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 1h
  group_interval: 1h
  repeat_interval: 24h
receivers:
  - name: default
inhibit_rules:
  - source_matchers: ['severity="critical"', 'alertname="A0"']
    target_matchers: ['severity="warning"']
    equal: [cluster]
storage: {synchronous: NORMAL}
"""

CHROMIUM = "/usr/bin/chromium"
PAGES = ("/", "/?group_by=instance", "/api/v2/alerts")


def alert(i: int, note: str = "") -> dict:
    return {"labels": {"alertname": f"A{i % 50}", "instance": f"host-{i}.example:9100",
                       "cluster": f"c{i % 20}", "severity": ("critical", "warning", "info")[i % 3],
                       "job": "node"},
            "annotations": {"summary": f"Disk {i} is filling up{note}",
                            "runbook_url": "https://runbooks.example/disk"}}


async def load(s: aiohttp.ClientSession, url: str, count: int) -> None:
    for k in range(0, count, 1000):
        batch = [alert(i) for i in range(k, min(count, k + 1000))]
        async with s.post(f"{url}/api/v2/alerts", json=batch) as r:
            assert r.status == 200, await r.text()
    for i in range(5):
        body = {"matchers": [{"name": "instance", "value": f"host-{i}.example:9100", "isRegex": False}],
                "startsAt": "2000-01-01T00:00:00Z", "endsAt": "2100-01-01T00:00:00Z",
                "createdBy": "bench", "comment": "bench"}
        async with s.post(f"{url}/api/v2/silences", json=body) as r:
            assert r.status == 200, await r.text()


async def timed(s: aiohttp.ClientSession, url: str) -> tuple[float, float]:
    """(client ms, server ms: NaN when the answer has no Server-Timing)."""
    start = time.perf_counter()
    async with s.get(url) as r:
        await r.read()
        assert r.status == 200, r.status
        header = r.headers.get("Server-Timing", "")
    client = (time.perf_counter() - start) * 1000
    server = float(header.split("dur=")[1]) if "dur=" in header else float("nan")
    return client, server


def summary(name: str, samples: list[tuple[float, float]]) -> dict[str, float | str]:
    client = [c for c, _ in samples]
    server = [s for _, s in samples]
    return {"page": name, "server_p50": percentile(server, 50), "server_p99": percentile(server, 99),
            "client_p50": percentile(client, 50), "client_p99": percentile(client, 99)}


async def main(count: int, requests: int, browser: bool) -> list[dict[str, float | str]]:
    out: list[dict[str, float | str]] = []
    async with Tocsin(CONFIG) as t, aiohttp.ClientSession() as s:
        await load(s, t.url, count)
        await asyncio.sleep(1)  # let the dispatcher route what was posted
        for page in PAGES:
            first = await timed(s, t.url + page)
            samples = [await timed(s, t.url + page) for _ in range(requests)]
            out.append({**summary(page, samples), "first_server": first[1], "first_client": first[0]})
        for page in PAGES[:2]:
            samples = []
            for n in range(requests):
                async with s.post(f"{t.url}/api/v2/alerts", json=[alert(7, f" ({n})")]) as r:
                    assert r.status == 200
                samples.append(await timed(s, t.url + page))
            out.append(summary(f"{page} changing", samples))
        if browser:
            paints = await first_paint(t.url + "/")
            out.append({"page": "/ first paint", "client_p50": percentile(paints, 50),
                        "client_p99": max(paints), "server_p50": "", "server_p99": ""})
    return out


async def first_paint(url: str, loads: int = 5) -> list[float]:
    """First contentful paint of ``url`` in milliseconds, each in a new page of chromium."""
    from playwright.async_api import async_playwright

    out = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            for _ in range(loads):
                page = await browser.new_page()
                await page.goto(url, wait_until="load")
                fcp = await page.evaluate(
                    "() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime")
                out.append(float(fcp) if fcp is not None else float("nan"))
                await page.close()
        finally:
            await browser.close()
    return out


def _ms(v: float | str) -> str:
    return "-" if isinstance(v, str) or v != v else f"{v:.0f}"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--browser", action="store_true", help="also the first paint in chromium (Playwright)")
    args = ap.parse_args()
    rows = asyncio.run(main(args.count, args.requests, args.browser))
    print(f"{args.count} alerts, {args.requests} requests per page (ms)")
    print("| page | server p50 | server p99 | client p50 | client p99 | first: server | first: client |")
    print("| --- | --: | --: | --: | --: | --: | --: |")
    for r in rows:
        cells = [r["server_p50"], r["server_p99"], r["client_p50"], r["client_p99"],
                 r.get("first_server", ""), r.get("first_client", "")]
        print(f"| `{r['page']}` | " + " | ".join(_ms(c) for c in cells) + " |")
