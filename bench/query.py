"""The query phase of bench/run.py: GET /api/v2/alerts at N active alerts (100,000).

One run: a fresh server loads N fresh alerts (batches of 100, C connections, the
ingest config: group_wait 30s, so nothing is sent meanwhile), then asks, one request
at a time, for

* ``all``: every alert, ``GET /api/v2/alerts`` (``--query-rounds`` times, 10);
* ``filtered``: ``GET /api/v2/alerts?filter=alertname="BenchQuery7"``, one alertname
  of 50, so N/50 alerts (``--query-rounds`` x 5 times).

Each is timed from sending the request to the last byte of the answer (p50/p99, ms),
and the answer's alert count is checked once per kind; the server's CPU time per
request is reported too. The client reads the bytes and does not decode them while
timing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import aiohttp
from common import percentile

#: --quick values (bench/run.py applies them when the option was left at its default).
QUICK = {"query_alerts": 500, "query_rounds": 3}

KINDS = {"all": "", "filtered": '?filter=alertname%3D%22BenchQuery7%22'}


def _run_attrs(*names: str) -> tuple[Any, ...]:
    """Names from bench/run.py as loaded: ``__main__`` when it is the script being run (a
    second import would make a second PhaseError that its handler does not catch)."""
    run = sys.modules.get("run") or sys.modules["__main__"]
    return tuple(getattr(run, n) for n in names)


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--query-alerts", type=int, default=100000, help="active alerts in the query run")
    ap.add_argument("--query-rounds", type=int, default=10,
                    help="GETs of every alert (filtered ones: five times as many)")


async def phase(server: Any, run_id: str, args: argparse.Namespace, count: int) -> dict[str, Any]:
    PhaseError, bodies_for, post_all = _run_attrs('PhaseError', 'bodies_for', 'post_all')

    res = await post_all(server.url, bodies_for(run_id, count, 100, "Query"), args.concurrency)
    out: dict[str, Any] = {"errors": len(res["errors"]), "error_sample": res["errors"][:3]}
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession() as s:
        for kind, query in KINDS.items():
            rounds = args.query_rounds * (5 if kind == "filtered" else 1)
            async with s.get(f"{server.url}/api/v2/alerts{query}", timeout=timeout) as r:
                found = len(json.loads(await r.read()))
            want = count if kind == "all" else len(range(7, count, 50))
            if found != want:
                raise PhaseError(f"{kind}: {found} alerts answered, {want} expected")
            times: list[float] = []
            cpu0 = server.cpu_s()
            for _ in range(rounds):
                t0 = time.perf_counter()
                async with s.get(f"{server.url}/api/v2/alerts{query}", timeout=timeout) as r:
                    await r.read()
                    if r.status != 200:
                        raise PhaseError(f"{kind}: HTTP {r.status}")
                times.append((time.perf_counter() - t0) * 1000)
            out[f"{kind}_p50_ms"] = percentile(times, 50)
            out[f"{kind}_p99_ms"] = percentile(times, 99)
            out[f"{kind}_cpu_ms"] = (server.cpu_s() - cpu0) * 1000 / rounds
    return out


def markdown(doc: Any) -> None:
    """The query section of bench/run.py's report."""
    point = int(next(iter(doc.res["query"])))
    doc.lines += [f"### Query: GET /api/v2/alerts at {point:,} active alerts, one request at a time", "",
                  f"`all`: every alert; `filtered`: `filter=alertname=\"BenchQuery7\"`, {point // 50:,} "
                  "alerts. Timed to the answer's last byte; server CPU per request.", ""]
    doc.figures("query", tuple(
        (f"{kind} {label}", f"{kind}_{key}", 1)
        for kind in KINDS for label, key in (("p50 ms", "p50_ms"), ("p99 ms", "p99_ms"),
                                             ("server CPU ms per request", "cpu_ms"))))
