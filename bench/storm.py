"""The alert storm of issue 17, side by side with Alertmanager: what an outage costs.

20,000 fresh alerts (``--alerts``) POSTed in batches of 10 over 8 connections to a
fresh server with bench/storm.yml: ``group_by: [alertname, instance]`` so every
alert is its own group, group_wait 1s, group_interval 2s, four sub-routes (one
with ``continue``), five webhook receivers in this process. Variants: ``plain``,
and ``inhibit`` (plus the rule "critical mutes warning, equal alertname and
instance"). Each run reports:

* alerts/s accepted and the POSTs' p99 (ms), errors;
* notifications expected (the receivers each alert routes to) and delivered, and
  how many arrived within group_wait + 2 s of their alert's POST (the issue's bound);
* the server's CPU time (its processes summed, from /proc) per alert, over the POSTs
  and over the whole storm (POSTs, then the wait for the notifications);
* tocsin only: the event-loop lag over the storm, from ``tocsin_event_loop_lag_seconds``
  (p99 and max as the upper bounds of their histogram buckets).

    .venv/bin/python bench/storm.py --against alertmanager --repeat 3 --json /tmp/storm.json
    .venv/bin/python bench/storm.py --alerts 500 --repeat 1       # a smoke run, seconds

``--gc-log`` prints every collection of tocsin's cyclic collector over 4 ms, after each
run (bench/gcprobe/sitecustomize.py).

``--ungated`` adds ``tocsin-ungated``: tocsin with its ingest gate never closing
(bench/ungated/sitecustomize.py), the bound of what the gate trades for notifications
on time.

The sink shares this process with the load generator: an arrival is stamped when
its handler starts, so a busy client makes delays look longer, never shorter.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # (a module import: run.py imports this one for its storm phase)
from common import free_port, percentile

HERE = Path(__file__).resolve().parent
INHIBIT = """\
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname, instance]
"""
GROUP_WAIT = 1.0
BOUND = GROUP_WAIT + 2.0  # the bound on a notification's delay after its POST
VARIANTS = ("plain", "inhibit")


def storm_config(url: str, inhibit: bool) -> str:
    text = (HERE / "storm.yml").read_text().replace("{url}", url)
    return text + (INHIBIT if inhibit else "")


def receivers_of(alert: dict[str, Any]) -> list[str]:
    """The receivers bench/storm.yml routes an alert to (Alertmanager's rules: siblings in
    order, the first match stops unless it continues; the root's receiver if none matched)."""
    labels = alert["labels"]
    team, critical = labels["team"], labels["severity"] == "critical"
    out = ["r1"] if team in ("team-0", "team-1") else []
    if critical:
        out.append("r2")
    elif team == "team-2":
        out.append("r3")
    elif team == "team-3":
        out.append("r4")
    return out or ["r0"]


class Sink:
    """Webhook receiver: the first arrival of each (receiver, instance), and a count of all."""

    def __init__(self) -> None:
        self.port = free_port()
        self.first: dict[tuple[str, str], float] = {}
        self.notifications = 0
        self.wanted = 0
        self.all_in = asyncio.Event()
        self.runner: web.AppRunner | None = None

    def url(self, run_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/{run_id}"

    def reset(self, wanted: int) -> None:
        self.first.clear()
        self.notifications = 0
        self.wanted = wanted
        self.all_in.clear()

    async def handle(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        receiver = request.match_info["receiver"]
        body = await request.json()
        self.notifications += 1
        for a in body.get("alerts") or []:
            if a.get("status") == "firing":
                self.first.setdefault((receiver, a["labels"]["instance"]), arrived)
        if len(self.first) >= self.wanted:
            self.all_in.set()
        return web.Response()

    async def start(self) -> None:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_post("/{run}/{receiver}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def post_storm(url: str, batches: list[list[dict[str, Any]]], concurrency: int,
                     sent: dict[str, float]) -> tuple[list[float], list[str]]:
    """POST every batch; ``sent`` gets each alert's instance -> when its POST began."""
    latencies: list[float] = []
    errors: list[str] = []
    it = iter(batches)
    headers = {"Content-Type": "application/json"}

    async def worker(s: aiohttp.ClientSession) -> None:
        for batch in it:
            body = json.dumps(batch).encode()
            t0 = time.monotonic()
            for a in batch:
                sent[a["labels"]["instance"]] = t0
            try:
                async with s.post(f"{url}/api/v2/alerts", data=body, headers=headers,
                                  timeout=aiohttp.ClientTimeout(total=60)) as r:
                    await r.read()
                    if r.status != 200:
                        errors.append(f"HTTP {r.status}")
            except (aiohttp.ClientError, TimeoutError) as e:
                errors.append(f"{type(e).__name__}: {e}")
            latencies.append((time.monotonic() - t0) * 1000)

    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as s:
        await asyncio.gather(*(worker(s) for _ in range(concurrency)))
    return latencies, errors


class Scrape(NamedTuple):
    """What tocsin's /metrics says at one moment: the loop-lag histogram (cumulative count
    per bucket bound) and the ingest requests its gate has held so far."""

    lag: dict[float, float]
    held: float


async def scrape(server: run.Server) -> Scrape | None:
    """tocsin's figures from /metrics (None for Alertmanager)."""
    if not server.name.startswith("tocsin"):
        return None
    async with aiohttp.ClientSession() as s, s.get(f"{server.url}/metrics") as r:
        text = await r.text()
    found = re.findall(r'^tocsin_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M)
    held = re.findall(r'^tocsin_ingest_held_total (\S+)$', text, re.M)
    return Scrape({float(le): float(v) for le, v in found}, float(held[0]) if held else 0.0)


def lag_figures(before: Scrape, after: Scrape) -> dict[str, float]:
    """p99 and max of the lag seen between two scrapes, as bucket upper bounds (ms), and the
    requests held between them."""
    held = after.held - before.held
    bounds = sorted(after.lag)
    counts = [after.lag[b] - before.lag.get(b, 0.0) for b in bounds]
    total = counts[-1]
    if total <= 0:
        return {}
    p99 = next(b for b, c in zip(bounds, counts, strict=True) if c >= 0.99 * total)
    worst = next(b for b, c in zip(bounds, counts, strict=True) if c >= total)
    return {"lag_samples": total, "lag_p99_ms": p99 * 1000, "lag_max_ms": worst * 1000, "held": held}


def cpu_children_s(server: run.Server) -> float:
    """CPU time of the server's child processes (tocsin's database writer), in seconds."""
    total = 0
    for pid in server.pids()[1:]:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def storm(server: run.Server, run_id: str, args: argparse.Namespace, sink: Sink) -> dict[str, Any]:
    now = time.time()
    starts, ends = run.rfc3339(now), run.rfc3339(now + 600)
    alerts = [run.make_alert(run_id, i, starts, ends, "Storm") for i in range(args.alerts)]
    expected = {(r, a["labels"]["instance"]) for a in alerts for r in receivers_of(a)}
    batches = [alerts[i:i + args.batch] for i in range(0, len(alerts), args.batch)]
    sent: dict[str, float] = {}
    sink.reset(len(expected))
    lag0 = await scrape(server)
    cpu0, child0 = server.cpu_s(), cpu_children_s(server)
    own0 = time.process_time()
    t0 = time.monotonic()
    latencies, errors = await post_storm(server.url, batches, args.concurrency, sent)
    elapsed = time.monotonic() - t0
    cpu_ingest = server.cpu_s() - cpu0
    # Wait for every notification, or until the bound plus a grace has passed the last POST.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sink.all_in.wait(), BOUND + args.grace)
    cpu_all = server.cpu_s() - cpu0
    cpu_child = cpu_children_s(server) - child0
    own = time.process_time() - own0
    span = time.monotonic() - t0
    lag1 = await scrape(server)
    delays = [sink.first[k] - sent[k[1]] for k in expected if k in sink.first]
    out = {"alerts_per_s": args.alerts / elapsed, "p50_ms": percentile(latencies, 50),
           "p99_ms": percentile(latencies, 99), "errors": len(errors), "error_sample": errors[:3],
           "expected": len(expected), "delivered": len(delays),
           "in_bound": sum(1 for d in delays if d <= BOUND),
           "notifications": sink.notifications,
           "delay_p50_s": percentile(delays, 50) if delays else 0.0,
           "delay_p99_s": percentile(delays, 99) if delays else 0.0,
           "delay_max_s": max(delays, default=0.0),
           "cpu_us_per_alert_ingest": cpu_ingest * 1e6 / args.alerts,
           "cpu_us_per_alert_storm": cpu_all * 1e6 / args.alerts,
           "cpu_us_per_alert_children": cpu_child * 1e6 / args.alerts,
           "bench_cpu_share": own / span}
    if lag0 is not None and lag1 is not None:
        out.update(lag_figures(lag0, lag1))
    return out


def server_class(system: str, gc_log: bool = False) -> type[run.Server]:
    """bench/run.py's server of ``system``, or ``tocsin-ungated``: tocsin with its ingest
    gate never closing (bench/ungated/sitecustomize.py); with ``gc_log``, tocsin writing its
    collector's longer collections to its log (bench/gcprobe/sitecustomize.py). Made here at
    call time: bench/run.py imports this module while it is still being made itself."""
    if system == "tocsin" and gc_log:
        return run.patched_tocsin("tocsin", "gcprobe", "TOCSIN_BENCH_GCPROBE")
    if system != "tocsin-ungated":
        return run.SERVERS[system]
    return run.patched_tocsin("tocsin-ungated", "ungated", "TOCSIN_BENCH_UNGATED")


def gc_lines(server: run.Server) -> list[str]:
    """The collections bench/gcprobe logged, if any."""
    try:
        text = server.log_path.read_text(errors="replace")
    except OSError:
        return []
    return [line.split("gc-probe: ", 1)[1] for line in text.splitlines() if "gc-probe: " in line]


async def one_run(system: str, variant: str, args: argparse.Namespace, sink: Sink, tmp: Path,
                  n: int) -> dict[str, Any]:
    run_id = f"s{n}"
    config = storm_config(sink.url(run_id), variant == "inhibit")
    gc_log = getattr(args, "gc_log", False)
    server = server_class(system, gc_log)(config, tmp / f"{run_id}-{system}")
    try:
        await server.start()
        result = await asyncio.wait_for(storm(server, run_id, args, sink), args.timeout)
        if not server.alive():
            raise run.PhaseError(f"{system} exited during the run: {server.log_tail()}")
        result["ok"] = True
    except (run.PhaseError, TimeoutError) as e:
        result = {"ok": False, "failure": f"{type(e).__name__}: {e}"}
    finally:
        await server.stop()
        if gc_log:
            for line in gc_lines(server):
                print(f"  {system} collection: {line}", file=sys.stderr)
        shutil.rmtree(server.workdir, ignore_errors=True)
    return result


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    good = [r for r in runs if r.get("ok")]
    if not good:
        return {}
    keys = [k for k, v in good[0].items() if isinstance(v, int | float) and not isinstance(v, bool)]
    return {k: statistics.median(r[k] for r in good if k in r) for k in keys}


def line(system: str, variant: str, m: dict[str, float]) -> str:
    if not m:
        return f"{variant:8} {system:12} no good run"
    text = (f"{variant:8} {system:12} {m['alerts_per_s']:7.0f} alerts/s  p99 {m['p99_ms']:7.1f} ms  "
            f"errors {m['errors']:.0f}  delivered {m['delivered']:.0f}/{m['expected']:.0f} "
            f"(in {BOUND:g}s: {m['in_bound']:.0f}; delay p50 {m['delay_p50_s']:.2f}s "
            f"p99 {m['delay_p99_s']:.2f}s max {m['delay_max_s']:.2f}s)  "
            f"CPU µs/alert ingest {m['cpu_us_per_alert_ingest']:.0f} storm {m['cpu_us_per_alert_storm']:.0f}"
            f" (children {m.get('cpu_us_per_alert_children', 0):.0f})"
            f"  bench CPU {m.get('bench_cpu_share', 0):.0%}")
    if "lag_p99_ms" in m:
        text += (f"  loop lag p99 <= {m['lag_p99_ms']:g} ms max <= {m['lag_max_ms']:g} ms"
                 f"  requests held {m.get('held', 0):.0f}")
    return text


Summarize = Callable[[list[dict[str, Any]]], dict[str, Any]]


def by_median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"median": medians(runs), "runs": runs,
            "failures": [r["failure"] for r in runs if not r.get("ok")]}


async def run_storms(args: argparse.Namespace, systems: list[str], summarize: Summarize = by_median,
                     log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Each variant of ``args.variants``, ``args.repeat`` times, the systems alternating:
    {variant: {system: summarize(its runs)}}. bench/run.py's ``storm`` phase calls this too."""
    sink = Sink()
    await sink.start()
    report: dict[str, Any] = {}
    n = 0
    try:
        with tempfile.TemporaryDirectory(prefix="tocsin-bench-storm-") as tmp:
            for variant in args.variants:
                runs: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
                for rep in range(args.repeat):
                    for system in systems:  # alternating
                        n += 1
                        r = await one_run(system, variant, args, sink, Path(tmp), n)
                        runs[system].append(r)
                        text = (line(system, variant, medians([r])) if r["ok"]
                                else f"{variant} {system} FAILED {r['failure']}")
                        if log is not None:
                            log(f"storm {variant:<7} rep {rep + 1}/{args.repeat} {text}")
                        else:
                            print(text, file=sys.stderr, flush=True)
                report[variant] = {s: summarize(runs[s]) for s in systems}
    finally:
        await sink.stop()
    return report


# -- bench/run.py's storm phase ------------------------------------------------------------------

def add_arguments(ap: argparse.ArgumentParser) -> None:
    """bench/run.py's options for its ``storm`` phase."""
    ap.add_argument("--storm-alerts", type=int, default=20000, help="fresh alerts per storm run")
    ap.add_argument("--storm-variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                    help="storms to run: plain, and with the inhibit rule")
    ap.add_argument("--storm-grace", type=float, default=5.0,
                    help=f"seconds past the bound ({BOUND:g}s after the last POST) to wait for notifications")


#: bench/run.py --quick
QUICK = {"storm_alerts": 200}


async def phase(args: argparse.Namespace, systems: list[str], summarize: Summarize,
                log: Callable[[str], None]) -> dict[str, Any]:
    """bench/run.py's ``storm`` phase: :func:`run_storms` with run.py's options."""
    storm_args = argparse.Namespace(alerts=args.storm_alerts, batch=10, concurrency=args.concurrency,
                                    repeat=args.repeat, variants=args.storm_variants,
                                    grace=args.storm_grace, timeout=args.timeout)
    return await run_storms(storm_args, systems, summarize, log)


FIGURES = (
    ("alerts/s accepted", "alerts_per_s", 0),
    ("POST p50 / p99 ms", ("p50_ms", "p99_ms"), 1),
    ("errors", "errors", 0),
    ("notifications delivered / expected", ("delivered", "expected"), 0),
    (f"delivered within {BOUND:g} s of the POST", "in_bound", 0),
    ("delay after the POST, p50 / p99 s", ("delay_p50_s", "delay_p99_s"), 2),
    ("server CPU µs per alert, ingest / whole storm",
     ("cpu_us_per_alert_ingest", "cpu_us_per_alert_storm"), 0),
    ("of which the database writer process", "cpu_us_per_alert_children", 0),
    ("event-loop lag p99 / max ms (bucket bounds)", ("lag_p99_ms", "lag_max_ms"), 0),
)


def _cell(median: dict[str, float], key: str | tuple[str, ...], digits: int) -> str:
    keys = (key,) if isinstance(key, str) else key
    values = [median.get(k) for k in keys]
    if not median:
        return "FAILED"
    return " / ".join("-" if v is None else f"{v:,.{digits}f}" for v in values)


def markdown(res: dict[str, Any], systems: list[str], args: argparse.Namespace) -> list[str]:
    """bench/run.py's report of the storm phase: a table per variant."""
    names = {"tocsin": "tocsin", "alertmanager": "Alertmanager"}
    out = [f"### Alert storm: {args.storm_alerts:,} fresh alerts, batch 10, {args.concurrency} connections, "
           "bench/storm.yml (a group per alert, group_wait 1s, five webhook receivers)", ""]
    for variant, by in res.items():
        title = "no inhibit rule" if variant == "plain" else "with the inhibit rule"
        out += [f"{title}:", "", "| | " + " | ".join(names.get(s, s) for s in systems) + " |",
                "| --- |" + " ---: |" * len(systems)]
        for label, key, digits in FIGURES:
            cells = [_cell(by[s]["median"], key, digits) for s in systems]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        for s in systems:
            out += [f"- **{s}, storm {variant}: failed** — {f}" for f in by[s]["failures"]]
        out.append("")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", choices=["alertmanager"], help="also measure this system, side by side")
    ap.add_argument("--alerts", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported")
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    ap.add_argument("--grace", type=float, default=5.0,
                    help=f"seconds past the bound ({BOUND:g}s after the last POST) to wait for stragglers")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--json", type=Path, help="write every figure as JSON")
    ap.add_argument("--gc-log", action="store_true",
                    help="print each collection of tocsin's cyclic collector over 4 ms (monotonic time, "
                         "generation, duration, objects freed)")
    ap.add_argument("--ungated", action="store_true",
                    help="also tocsin with its ingest gate never closing (a measurement of the gate)")
    args = ap.parse_args(argv)
    systems = ["tocsin", *(["tocsin-ungated"] if args.ungated else []),
               *([args.against] if args.against else [])]
    report = asyncio.run(run_storms(args, systems))
    print("medians of", args.repeat)
    for variant, by in report.items():
        for system, r in by.items():
            print(line(system, variant, r["median"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0 if all(r["median"] for by in report.values() for r in by.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
