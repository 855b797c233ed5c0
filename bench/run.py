"""Side-by-side benchmark of tocsin and Prometheus Alertmanager on this machine, in one run.

Sections (each taken --repeat times, the systems alternating, the median reported):

* ingest  -- N fresh alerts POSTed to /api/v2/alerts at each batch size, C connections
* refire  -- the same M alerts re-posted in rounds, as Prometheus re-sends firing alerts
* memory  -- peak RSS (VmHWM) of a fresh process after loading K active alerts
* latency -- POST to webhook arrival, group_wait 0s, one alert in flight at a time
* restart -- kill -9 at 100,000 active alerts: time to ready, alerts back, repeats (bench/restart.py)
* query   -- GET /api/v2/alerts, all and filtered, at 100,000 active alerts (bench/query.py)
* storm   -- issue 17's alert storm, with and without an inhibit rule (bench/storm.py)

Every run starts fresh server processes on 127.0.0.1 with the same Alertmanager-shaped
config, delivering to a webhook receiver inside this process; nothing leaves loopback.

    python bench/run.py --against alertmanager --write docs/performance.md --json /tmp/bench.json
    python bench/run.py --against alertmanager --quick --repeat 1      # smoke test, seconds
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
import query
import restart
import storm  # the storm phase lives in bench/storm.py
from common import ROOT, free_port, percentile

SECTIONS = ("ingest", "refire", "memory", "latency", "restart", "query", "storm")
START = "<!-- bench:start -->"
END = "<!-- bench:end -->"

# The same YAML is given to both systems (tocsin reads Alertmanager-shaped config).
# Fresh alerts spread over 50 alertnames, so 50 aggregation groups; nothing is due to
# be sent before group_wait, i.e. within the measured window of a run.
ROUTING_CONFIG = """\
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: hook
    webhook_configs:
      - url: "{url}"
"""

# Latency: every alert its own group ('...'), sent as soon as it arrives.
LATENCY_CONFIG = """\
route:
  receiver: hook
  group_by: ['...']
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 4h
receivers:
  - name: hook
    webhook_configs:
      - url: "{url}"
"""


class PhaseError(Exception):
    """A run that did not produce a figure; the message says why."""


# ---------------------------------------------------------------------------------------------
# The systems under test


def process_memory_kib(pid: int) -> dict[str, int]:
    """VmHWM (peak resident set) and VmRSS (current) of one process, in KiB (0 once gone)."""
    out = {"VmHWM": 0, "VmRSS": 0}
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in out:
                out[key] = int(rest.split()[0])
    return out


def process_cpu_s(pid: int) -> tuple[float, float]:
    """User and system CPU time (all threads) one process has used, in seconds (0 once gone)."""
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick
    return 0.0, 0.0


class Server:
    """A server process on a free loopback port, with its files in a temporary directory."""

    name = "?"
    #: ``taskset -c`` CPU list every server runs on (``--server-cpus``), or None: any CPU.
    cpus: str | None = None

    def __init__(self, config: str, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "config.yml"
        self.config_path.write_text(config)
        self.log_path = workdir / "server.log"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        return None

    async def start(self, timeout: float = 30.0, command: list[str] | None = None) -> None:
        argv = command or self.command()
        if self.cpus is not None:  # the server's children (tocsin's writer) inherit it
            argv = ["taskset", "-c", self.cpus, *argv]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env())
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as s:
            while True:
                if self.proc.poll() is not None:
                    raise PhaseError(f"{self.name} exited with {self.proc.returncode} at start: "
                                     f"{self.log_tail()}")
                try:
                    async with s.get(f"{self.url}/-/ready", timeout=aiohttp.ClientTimeout(total=1)) as r:
                        if r.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise PhaseError(f"{self.name} not ready within {timeout:.0f}s: {self.log_tail()}")
                await asyncio.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[int]:
        """The server process and its children (tocsin's database writer process)."""
        try:
            return [self.pid] + [c.pid for c in psutil.Process(self.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return [self.pid]

    def memory_kib(self) -> dict[str, int]:
        """VmHWM (peak resident set) and VmRSS (current) in KiB, each summed over the server's
        processes (the sum of each one's peak: at least the peak of their sum)."""
        out = {"VmHWM": 0, "VmRSS": 0}
        for pid in self.pids():
            for key, kib in process_memory_kib(pid).items():
                out[key] += kib
        return out

    def cpu_s(self) -> float:
        """CPU time (user + system, all threads) the server's processes have used, in seconds."""
        return sum(sum(process_cpu_s(pid)) for pid in self.pids())

    async def active_alerts(self, session: aiohttp.ClientSession) -> float:
        raise NotImplementedError

    async def _gauge(self, session: aiohttp.ClientSession, pattern: str) -> float:
        async with session.get(f"{self.url}/metrics", timeout=aiohttp.ClientTimeout(total=60)) as r:
            text = await r.text()
        found = re.findall(pattern, text, re.M)
        if not found:
            raise PhaseError(f"{self.name}: no metric matching {pattern!r}")
        return sum(float(v) for v in found)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Stop without blocking the loop (the webhook receiver lives on it)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait, 5)
                return
            await asyncio.sleep(0.05)

    def log_tail(self, chars: int = 600) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-chars:].strip().replace("\n", " | ")


def tocsin_env() -> dict[str, str]:
    """tocsin from this checkout's src/, as bench/common.py runs it."""
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    # As an installed tocsin starts: from cached bytecode (pip compiles it at install), not
    # compiling every module from source at each start (0.2 s of a restart, when the
    # environment says not to write bytecode).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


class TocsinServer(Server):
    name = "tocsin"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "tocsin", "serve", "--config", str(self.config_path),
                "--listen", f"127.0.0.1:{self.port}", "--storage", str(self.workdir / "tocsin.db"),
                "--log-level", "warning"]

    def env(self) -> dict[str, str]:
        return tocsin_env()

    async def active_alerts(self, session: aiohttp.ClientSession) -> float:
        return await self._gauge(session, r'^tocsin_alerts\{state="firing"\} (\S+)$')


def alertmanager_binary() -> str | None:
    for name in ("prometheus-alertmanager", "alertmanager"):
        path = shutil.which(name)
        if path:
            return path
    return None


class AlertmanagerServer(Server):
    name = "alertmanager"

    def command(self) -> list[str]:
        binary = alertmanager_binary()
        if binary is None:
            raise PhaseError("no prometheus-alertmanager or alertmanager binary on PATH")
        # As tests/peers.py::Alertmanager: no gossip, storage in the run's directory.
        return [binary, f"--config.file={self.config_path}", f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="]

    async def active_alerts(self, session: aiohttp.ClientSession) -> float:
        # Not yet flushed alerts are "unprocessed" (group_wait): every state counts, none resolved.
        return await self._gauge(session, r'^alertmanager_alerts\{state="\w+"\} (\S+)$')


SERVERS: dict[str, type[Server]] = {"tocsin": TocsinServer, "alertmanager": AlertmanagerServer}


def patched_tocsin(name: str, folder: str, switch: str) -> type[Server]:
    """tocsin with a patch for a measurement only: bench/``folder``/sitecustomize.py, loaded
    as the daemon starts and switched on by the environment variable ``switch``."""

    class Patched(TocsinServer):
        def env(self) -> dict[str, str]:
            env = super().env()
            env["PYTHONPATH"] = os.pathsep.join((str(Path(__file__).resolve().parent / folder),
                                                 env["PYTHONPATH"]))
            env[switch] = "1"
            return env

    Patched.name = name
    return Patched


# ---------------------------------------------------------------------------------------------
# The webhook receiver


class Sink:
    """Webhook receiver in this process. Each run posts to /hook/<run id>; arrival times are
    taken when the handler is entered, before the body is read."""

    def __init__(self) -> None:
        self.port = free_port()
        self.notifications: dict[str, int] = {}
        self.alerts: dict[str, int] = {}
        self.waiters: dict[tuple[str, str], asyncio.Future[float]] = {}
        self._runner: web.AppRunner | None = None

    def url(self, run_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{run_id}"

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        run_id = request.match_info["run"]
        body = await request.json()
        self.notifications[run_id] = self.notifications.get(run_id, 0) + 1
        alerts = body.get("alerts") or []
        self.alerts[run_id] = self.alerts.get(run_id, 0) + len(alerts)
        for a in alerts:
            seq = (a.get("labels") or {}).get("bench_seq")
            fut = self.waiters.get((run_id, seq)) if seq is not None else None
            if fut is not None and not fut.done() and a.get("status") == "firing":
                fut.set_result(arrived)
        return web.Response()

    async def start(self) -> None:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_post("/hook/{run}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


# ---------------------------------------------------------------------------------------------
# Load generation


def rfc3339(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_alert(run_id: str, i: int, starts: str, ends: str, kind: str) -> dict[str, Any]:
    """A Prometheus-shaped alert: 6 labels, 2 annotations, startsAt, endsAt, generatorURL."""
    return {
        "labels": {"alertname": f"Bench{kind}{i % 50}", "instance": f"host-{i}.example:9100",
                   "job": "node", "severity": "warning" if i % 3 else "critical",
                   "team": f"team-{i % 7}", "run": run_id},
        "annotations": {"summary": f"benchmark alert {i}",
                        "description": "synthetic alert posted by bench/run.py"},
        "startsAt": starts,
        "endsAt": ends,
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up+%3D%3D+0",
    }


def bodies_for(run_id: str, count: int, batch: int, kind: str, starts: float | None = None,
               ends_in: float = 600.0) -> list[bytes]:
    """Pre-serialized request bodies, so the client spends no time on JSON while measuring."""
    now = time.time()
    s, e = rfc3339(starts if starts is not None else now), rfc3339(now + ends_in)
    alerts = [make_alert(run_id, i, s, e, kind) for i in range(count)]
    return [json.dumps(alerts[i:i + batch]).encode() for i in range(0, count, batch)]


async def post_all(url: str, bodies: list[bytes], concurrency: int,
                   server: Server | None = None) -> dict[str, Any]:
    """POST every body to /api/v2/alerts over ``concurrency`` connections; time it, and count the
    CPU time used by the server and by this process (the load generator) meanwhile."""
    latencies: list[float] = []
    errors: list[str] = []
    it = iter(bodies)
    headers = {"Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=60)

    async def worker(s: aiohttp.ClientSession) -> None:
        for body in it:
            t0 = time.perf_counter()
            try:
                async with s.post(f"{url}/api/v2/alerts", data=body, headers=headers,
                                  timeout=timeout) as r:
                    text = await r.read()
                    if r.status != 200:
                        errors.append(f"HTTP {r.status}: {text[:200]!r}")
            except (aiohttp.ClientError, TimeoutError) as e:
                errors.append(f"{type(e).__name__}: {e}")
            latencies.append((time.perf_counter() - t0) * 1000)

    conn = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=conn) as s:
        cpu0 = server.cpu_s() if server else 0.0
        client0 = time.process_time()
        start = time.perf_counter()
        await asyncio.gather(*(worker(s) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        client = time.process_time() - client0
        cpu = (server.cpu_s() - cpu0) if server else 0.0
    return {"elapsed_s": elapsed, "requests": len(bodies), "latencies": latencies, "errors": errors,
            "server_cpu_s": cpu, "client_cpu_s": client}


# ---------------------------------------------------------------------------------------------
# The phases: each gets a started server and returns its figures


async def phase_ingest(server: Server, run_id: str, args: argparse.Namespace, batch: int) -> dict[str, Any]:
    bodies = bodies_for(run_id, args.alerts, batch, "Ingest")
    res = await post_all(server.url, bodies, args.concurrency, server)
    return {"alerts_per_s": args.alerts / res["elapsed_s"], "p50_ms": percentile(res["latencies"], 50),
            "p99_ms": percentile(res["latencies"], 99), "errors": len(res["errors"]),
            "error_sample": res["errors"][:3], "elapsed_s": res["elapsed_s"],
            "server_cpu_us_per_alert": res["server_cpu_s"] * 1e6 / args.alerts,
            "server_cpu_pct": 100 * res["server_cpu_s"] / res["elapsed_s"],
            "client_cpu_pct": 100 * res["client_cpu_s"] / res["elapsed_s"]}


async def phase_refire(server: Server, run_id: str, args: argparse.Namespace, _: int) -> dict[str, Any]:
    count, batch = args.refire_alerts, 100
    starts = time.time()
    first = await post_all(server.url, bodies_for(run_id, count, batch, "Refire", starts), args.concurrency)
    errors, latencies, elapsed, cpu = list(first["errors"]), [], 0.0, 0.0
    for _round in range(args.refire_rounds):
        await asyncio.sleep(args.refire_interval)
        # As Prometheus: same labels and startsAt, endsAt moved ahead at every send.
        bodies = bodies_for(run_id, count, batch, "Refire", starts, ends_in=240.0)
        res = await post_all(server.url, bodies, args.concurrency, server)
        errors += res["errors"]
        latencies += res["latencies"]
        elapsed += res["elapsed_s"]
        cpu += res["server_cpu_s"]
    return {"alerts_per_s": count * args.refire_rounds / elapsed,
            "server_cpu_us_per_alert": cpu * 1e6 / (count * args.refire_rounds),
            "first_post_alerts_per_s": count / first["elapsed_s"],
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "errors": len(errors), "error_sample": errors[:3]}


async def phase_memory(server: Server, run_id: str, args: argparse.Namespace, count: int) -> dict[str, Any]:
    before = server.memory_kib()
    res = await post_all(server.url, bodies_for(run_id, count, 100, "Memory"), args.concurrency)
    await asyncio.sleep(args.settle)
    mem = server.memory_kib()
    async with aiohttp.ClientSession() as s:
        active = await server.active_alerts(s)
    errors = list(res["errors"])
    if int(active) != count:
        errors.append(f"{int(active)} active alerts after loading {count}")
    return {"vmhwm_mib": mem["VmHWM"] / 1024, "vmrss_mib": mem["VmRSS"] / 1024,
            "idle_vmhwm_mib": before["VmHWM"] / 1024, "active_alerts": active,
            "load_alerts_per_s": count / res["elapsed_s"], "errors": len(errors), "error_sample": errors[:3]}


async def phase_latency(server: Server, run_id: str, args: argparse.Namespace, count: int,
                        sink: Sink) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors: list[str] = []
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession() as s:
        for i in range(count):
            seq = str(i)
            fut = sink.waiters[(run_id, seq)] = loop.create_future()
            now = time.time()
            body = json.dumps([{
                "labels": {"alertname": "BenchLatency", "bench_seq": seq, "instance": f"host-{i}",
                           "run": run_id},
                "annotations": {"summary": "latency probe"},
                "startsAt": rfc3339(now), "endsAt": rfc3339(now + 300), "generatorURL": "http://127.0.0.1/",
            }]).encode()
            start = time.perf_counter()
            try:
                async with s.post(f"{server.url}/api/v2/alerts", data=body, headers=headers,
                                  timeout=aiohttp.ClientTimeout(total=10)) as r:
                    await r.read()
                    if r.status != 200:
                        errors.append(f"HTTP {r.status}")
                        continue
                arrived = await asyncio.wait_for(fut, args.latency_wait)
                latencies.append((arrived - start) * 1000)
            except (aiohttp.ClientError, TimeoutError) as e:
                errors.append(f"alert {i}: {type(e).__name__} {e}".strip())
                if len(errors) > max(5, count // 20):
                    raise PhaseError(f"giving up after {len(errors)} lost notifications: {errors[:3]}") from e
            finally:
                sink.waiters.pop((run_id, seq), None)
    if not latencies:
        raise PhaseError(f"no notification arrived: {errors[:3]}")
    return {"p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "max_ms": max(latencies), "delivered": len(latencies), "errors": len(errors),
            "error_sample": errors[:3]}


# ---------------------------------------------------------------------------------------------
# Running: fresh processes per run, systems alternating, medians


async def one_run(system: str, section: str, point: int, args: argparse.Namespace, sink: Sink,
                  tmp: Path, counter: list[int]) -> dict[str, Any]:
    counter[0] += 1
    run_id = f"r{counter[0]}"
    config = {"latency": LATENCY_CONFIG, "restart": restart.CONFIG}.get(section, ROUTING_CONFIG)
    config = config.format(url=sink.url(run_id))
    if system == "tocsin" and args.tocsin_writer:
        config += f"storage:\n  writer: {args.tocsin_writer}\n"
    server = SERVERS[system](config, tmp / f"{run_id}-{system}")
    phase: Callable[..., Awaitable[dict[str, Any]]]
    if section in ("latency", "restart"):
        with_sink = phase_latency if section == "latency" else restart.phase

        async def phase(srv: Server, rid: str, a: argparse.Namespace, p: int) -> dict[str, Any]:
            return await with_sink(srv, rid, a, p, sink)
    else:
        phase = {"ingest": phase_ingest, "refire": phase_refire, "memory": phase_memory,
                 "query": query.phase}[section]
    t0 = time.monotonic()
    try:
        await server.start(timeout=args.start_timeout)
        try:
            result = await asyncio.wait_for(phase(server, run_id, args, point), args.timeout)
        except TimeoutError:
            raise PhaseError(f"timed out after {args.timeout:g} s") from None
        if not server.alive():
            raise PhaseError(f"{system} exited during the run: {server.log_tail()}")
        result["notifications"] = sink.notifications.get(run_id, 0)
        result["ok"] = True
    except PhaseError as e:
        result = {"ok": False, "failure": str(e)}
    except Exception as e:  # a bug in a phase must not hide the other figures
        result = {"ok": False, "failure": f"{type(e).__name__}: {e}",
                  "traceback": traceback.format_exc(limit=5)}
    finally:
        await server.stop()
        if not args.keep:
            shutil.rmtree(server.workdir, ignore_errors=True)
    result["wall_s"] = round(time.monotonic() - t0, 2)
    return result


NUMERIC_SKIP = {"ok", "wall_s"}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in runs if r.get("ok")]
    median: dict[str, float] = {}
    if good:
        for key, value in good[0].items():
            if key in NUMERIC_SKIP or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            median[key] = statistics.median(r[key] for r in good)
        # Errors are summed, not medianed: one failed request in any run must show.
        median["errors"] = sum(r.get("errors", 0) for r in good)
    return {"median": median, "runs": runs, "failures": [r["failure"] for r in runs if not r.get("ok")]}


def points_for(section: str, args: argparse.Namespace) -> list[int]:
    return {"ingest": args.batches, "refire": [args.refire_alerts], "memory": args.memory,
            "latency": [args.latency_count], "restart": [args.restart_alerts],
            "query": [args.query_alerts]}[section]


async def run_all(args: argparse.Namespace, systems: list[str]) -> dict[str, Any]:
    sink = Sink()
    await sink.start()
    results: dict[str, Any] = {}
    counter = [0]
    try:
        with tempfile.TemporaryDirectory(prefix="tocsin-bench-run-") as tmp:
            for section in SECTIONS:
                if section in args.skip:
                    continue
                if section == "storm":
                    results[section] = await storm.phase(args, systems, summarize, log)
                    continue
                results[section] = {}
                for point in points_for(section, args):
                    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
                    for rep in range(args.repeat):
                        for system in systems:  # alternating: tocsin, AM, tocsin, AM, ...
                            r = await one_run(system, section, point, args, sink, Path(tmp), counter)
                            runs[system].append(r)
                            log(f"{section:<7} {point:>6} rep {rep + 1}/{args.repeat} {system:<12} "
                                + brief(section, r))
                    results[section][str(point)] = {s: summarize(runs[s]) for s in systems}
    finally:
        await sink.stop()
    return results


def brief(section: str, r: dict[str, Any]) -> str:
    if not r.get("ok"):
        return f"FAILED: {r['failure']}"
    if section in ("ingest", "refire"):
        return f"{r['alerts_per_s']:.0f} alerts/s p99 {r['p99_ms']:.1f} ms errors {r['errors']}"
    if section == "restart":
        return (f"ready {r['ready_s']:.2f} s back {r['alerts_back']:.0f} alerts notified "
                f"{r['alerts_notified_before']}, then {r['repeated']} ({r['alerts_repeated']} alerts)")
    if section == "query":
        return f"all p50 {r['all_p50_ms']:.0f} ms filtered p50 {r['filtered_p50_ms']:.1f} ms"
    if section == "memory":
        return f"VmHWM {r['vmhwm_mib']:.1f} MiB active {r['active_alerts']:.0f} errors {r['errors']}"
    return f"p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms errors {r['errors']}"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Profile of tocsin during ingest at batch 100


def _short(path: str) -> str:
    path = path.replace(str(ROOT / "src") + "/", "")
    return re.sub(r"^.*/(site|dist)-packages/", "", re.sub(r"^.*/lib/python3\.\d+/", "", path))


async def profile_tocsin(args: argparse.Namespace, top: int = 15) -> dict[str, Any]:
    """Profile tocsin while it ingests --alerts fresh alerts at batch 100: py-spy when it can
    attach, else cProfile (tocsin launched under ``python -m cProfile``)."""
    sink = Sink()
    await sink.start()
    tmp = Path(tempfile.mkdtemp(prefix="tocsin-bench-prof-"))
    try:
        pyspy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
        if pyspy:
            try:
                return await _profile_pyspy(pyspy, args, sink, tmp, top)
            except PhaseError as e:
                log(f"py-spy failed ({e}); falling back to cProfile")
        return await _profile_cprofile(args, sink, tmp, top)
    finally:
        await sink.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def _profile_pyspy(pyspy: str, args: argparse.Namespace, sink: Sink, tmp: Path,
                         top: int) -> dict[str, Any]:
    server = TocsinServer(ROUTING_CONFIG.format(url=sink.url("prof")), tmp / "pyspy")
    out = tmp / "pyspy.txt"
    await server.start(timeout=args.start_timeout)
    spy = None
    try:
        spy = subprocess.Popen([pyspy, "record", "--pid", str(server.pid), "--rate", "1000", "--nonblocking",
                                "--subprocesses", "--format", "raw", "--nolineno", "--output", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        await asyncio.sleep(1.0)  # let it attach
        if spy.poll() is not None:
            raise PhaseError(spy.stderr.read().decode(errors="replace").strip()[-300:] if spy.stderr else "")
        res = await asyncio.wait_for(post_all(server.url, bodies_for("prof", args.alerts, 100, "Ingest"),
                                              args.concurrency), args.timeout)
        spy.send_signal(signal.SIGINT)
        for _ in range(200):
            if spy.poll() is not None:
                break
            await asyncio.sleep(0.05)
        else:
            spy.kill()
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        await server.stop()
    if not out.exists():
        raise PhaseError("py-spy wrote no output")
    self_count: dict[str, int] = {}
    total_count: dict[str, int] = {}
    samples = 0
    for line in out.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        samples += count
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        self_count[frames[-1]] = self_count.get(frames[-1], 0) + count
        for f in set(frames):
            total_count[f] = total_count.get(f, 0) + count

    def label(frame: str) -> str:
        m = re.match(r"^(.*) \((.*)\)$", frame)
        return f"{m.group(1)} ({_short(m.group(2))})" if m else frame

    rows = [{"function": label(f), "self_pct": 100 * c / samples, "total_pct": 100 * total_count[f] / samples}
            for f, c in sorted(self_count.items(), key=lambda kv: -kv[1])[:top]]
    return {"tool": "py-spy 0.4 `record --rate 1000 --nonblocking --subprocesses --nolineno`, attached "
                    "by pid, idle samples excluded, every thread of the daemon and of its database "
                    "writer process counted",
            "samples": samples, "alerts": args.alerts, "alerts_per_s": args.alerts / res["elapsed_s"],
            "errors": len(res["errors"]), "rows": rows}


async def _profile_cprofile(args: argparse.Namespace, sink: Sink, tmp: Path, top: int) -> dict[str, Any]:
    import pstats

    server = TocsinServer(ROUTING_CONFIG.format(url=sink.url("prof")), tmp / "cprofile")
    prof = tmp / "tocsin.prof"
    cmd = server.command()
    cmd[1:1] = ["-m", "cProfile", "-o", str(prof)]
    await server.start(timeout=args.start_timeout, command=cmd)
    try:
        res = await asyncio.wait_for(post_all(server.url, bodies_for("prof", args.alerts, 100, "Ingest"),
                                              args.concurrency), args.timeout)
    finally:
        await server.stop(timeout=60)
    if not prof.exists():
        raise PhaseError("cProfile wrote no profile (did tocsin exit cleanly on SIGTERM?)")
    st = pstats.Stats(str(prof))
    total = st.total_tt  # type: ignore[attr-defined]
    entries = st.stats  # type: ignore[attr-defined]
    rows = []
    ranked = sorted(entries.items(), key=lambda kv: -kv[1][2])[:top]
    for (file, line, func), (_cc, _nc, tt, ct, _callers) in ranked:
        rows.append({"function": f"{func} ({_short(file)}:{line})", "self_pct": 100 * tt / total,
                     "total_pct": 100 * ct / total})
    return {"tool": "cProfile (tocsin launched under python -m cProfile; whole process lifetime)",
            "samples": None, "alerts": args.alerts, "alerts_per_s": args.alerts / res["elapsed_s"],
            "errors": len(res["errors"]), "rows": rows}


# ---------------------------------------------------------------------------------------------
# Report


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    models = re.findall(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    return {"cpu_model": models[0] if models else platform.processor() or "?",
            "cpus": len(re.findall(r"^processor\s*:", cpuinfo, re.M)) or os.cpu_count(),
            "memory_gib": round(int(mem.group(1)) / 1024 / 1024, 1) if mem else None,
            "kernel": platform.release()}


def versions(systems: list[str]) -> dict[str, str]:
    tocsin = subprocess.run([sys.executable, "-c", "import tocsin; print(tocsin.__version__)"],
                            capture_output=True, text=True, env=tocsin_env(), timeout=30).stdout.strip()
    out = {"python": platform.python_version(), "tocsin": tocsin or "?", "aiohttp": aiohttp.__version__,
           "uvloop": "installed" if importlib.util.find_spec("uvloop") else "not installed"}
    if "alertmanager" in systems:
        binary = alertmanager_binary()
        if binary:
            v = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
            out["alertmanager"] = (v.stdout or v.stderr).splitlines()[0].strip()
    return out


def command_line() -> str:
    exe = sys.executable
    with contextlib.suppress(ValueError):
        rel = os.path.relpath(exe)
        if not rel.startswith(".."):
            exe = rel
    return shlex.join([exe, *sys.argv])


def fmt(v: float | None, digits: int = 0) -> str:
    if v is None or v != v:
        return "-"
    return f"{v:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not b or a != a or b != b:
        return "-"
    return f"{a / b:.2f}x"


def cell(summary: dict[str, Any], key: str, digits: int = 0) -> str:
    if summary["median"]:
        return fmt(summary["median"].get(key), digits)
    return "FAILED"


def get(summary: dict[str, Any], key: str) -> float | None:
    return summary["median"].get(key)


AM = "Alertmanager"


class _Markdown:
    """The report as Markdown, a section per measurement."""

    def __init__(self, report: dict[str, Any]) -> None:
        self.meta, self.res, self.systems = report["meta"], report["results"], report["systems"]
        self.both = len(self.systems) == 2
        self.o = self.systems[1] if self.both else None
        self.a = self.meta["args"]
        self.lines: list[str] = []

    def head(self, cols: list[str]) -> None:
        self.lines.append("| " + " | ".join(cols) + " |")
        self.lines.append("|" + "|".join(" ---: " if i else " --- " for i in range(len(cols))) + "|")

    def row(self, cells: list[str]) -> None:
        self.lines.append("| " + " | ".join(cells) + " |")

    def failures(self, section: str) -> None:
        for point, by_sys in self.res.get(section, {}).items():
            for s, summ in by_sys.items():
                for f in summ["failures"]:
                    self.lines.append(f"- **{s}, {section} {point}: failed** — {f}")

    def all_systems(self, by: dict[str, Any], key: str) -> str:
        return " / ".join(cell(by[s], key) for s in self.systems)

    def preamble(self) -> None:
        meta, a = self.meta, self.a
        self.lines += [
            f"Measured {meta['date']} with `{meta['command']}`",
            "",
            f"- machine: {meta['machine']['cpu_model']}, {meta['machine']['cpus']} CPUs, "
            f"{meta['machine']['memory_gib']} GiB RAM, Linux {meta['machine']['kernel']}; "
            "the load generator, the webhook receiver and the server under test share it",
            f"- versions: tocsin {meta['versions']['tocsin']}, Python {meta['versions']['python']} "
            f"(uvloop {meta['versions']['uvloop']}), aiohttp {meta['versions']['aiohttp']}"
            + (f"; {meta['versions'].get('alertmanager', 'alertmanager ?')}" if self.both else ""),
            f"- every figure is the median of {a['repeat']} runs (errors: the sum over them); each run "
            "starts fresh server processes, the systems alternating (tocsin, Alertmanager, tocsin, …)",
            "",
        ]

    def figures(self, section: str, figures: tuple[tuple[str, str, int], ...]) -> None:
        """A row per figure (label, key, digits) of a section measured at one point."""
        self.head(["", "tocsin"] + ([AM, "tocsin/AM"] if self.both else []))
        by = next(iter(self.res[section].values()))
        for label, key, d in figures:
            row = [label, cell(by["tocsin"], key, d)]
            if self.both:
                row += [cell(by[self.o], key, d), ratio(get(by["tocsin"], key), get(by[self.o], key))
                        if key != "errors" else ""]
            self.row(row)
        self.failures(section)
        self.lines.append("")

    def ingest(self) -> None:
        a, both, o = self.a, self.both, self.o
        self.lines += [f"### Ingest: {a['alerts']:,} fresh alerts, {a['concurrency']} connections", "",
                       "Server CPU: user + system time of the server's processes (all threads; tocsin's "
                       "database writer process included) per alert accepted, "
                       "and over the run's wall time; load generator CPU: this process's CPU time over the "
                       "run's wall time (100 % is one CPU"
                       + (" busy); pairs read tocsin / Alertmanager." if both else " busy)."), ""]
        cols = ["batch", "tocsin alerts/s"] + ([f"{AM} alerts/s", "tocsin/AM"] if both else [])
        cols += ["tocsin p50 / p99 ms"] + ([f"{AM} p50 / p99 ms"] if both else [])
        cols += ["server CPU µs/alert", "server CPU %", "load generator CPU %", "errors"]
        self.head(cols)
        for point, by in self.res["ingest"].items():
            t = by["tocsin"]
            row = [point, cell(t, "alerts_per_s")]
            if both:
                rate = get(t, "alerts_per_s"), get(by[o], "alerts_per_s")
                row += [cell(by[o], "alerts_per_s"), ratio(*rate)]
            row += [f"{cell(t, 'p50_ms', 1)} / {cell(t, 'p99_ms', 1)}"]
            if both:
                row += [f"{cell(by[o], 'p50_ms', 1)} / {cell(by[o], 'p99_ms', 1)}"]
            row += [self.all_systems(by, key)
                    for key in ("server_cpu_us_per_alert", "server_cpu_pct", "client_cpu_pct", "errors")]
            self.row(row)
        self.failures("ingest")
        self.lines.append("")

    def refire(self) -> None:
        a = self.a
        self.lines += [f"### Re-firing: the same {a['refire_alerts']:,} alerts re-posted "
                       f"{a['refire_rounds']} times (batches of 100, {a['concurrency']} connections, "
                       f"{a['refire_interval']} s apart)", ""]
        self.figures("refire", (("re-post alerts/s", "alerts_per_s", 0),
                                ("re-post server CPU µs/alert", "server_cpu_us_per_alert", 1),
                                ("first post alerts/s", "first_post_alerts_per_s", 0),
                                ("re-post p50 ms", "p50_ms", 1), ("re-post p99 ms", "p99_ms", 1),
                                ("errors", "errors", 0)))

    def memory(self) -> None:
        a, both, o = self.a, self.both, self.o
        self.lines += ["### Memory: peak RSS (VmHWM) after loading N active alerts",
                       "",
                       f"A fresh server per point, loaded in batches of 100 over {a['concurrency']} "
                       f"connections, read {a['settle']} s after the last answer; tocsin's figures are the "
                       "sum over its two processes (the daemon and its database writer).", ""]
        cols = ["active alerts", "tocsin VmHWM MiB"] + ([f"{AM} VmHWM MiB", "tocsin/AM"] if both else [])
        cols += ["tocsin VmRSS MiB"] + ([f"{AM} VmRSS MiB"] if both else []) + ["errors"]
        self.head(cols)
        for point, by in self.res["memory"].items():
            t = by["tocsin"]
            row = [f"{int(point):,}", cell(t, "vmhwm_mib", 1)]
            if both:
                row += [cell(by[o], "vmhwm_mib", 1), ratio(get(t, "vmhwm_mib"), get(by[o], "vmhwm_mib"))]
            row += [cell(t, "vmrss_mib", 1)] + ([cell(by[o], "vmrss_mib", 1)] if both else [])
            row += [self.all_systems(by, "errors")]
            self.row(row)
        first = next(iter(self.res["memory"].values()))
        idle = " / ".join(f"{s} {cell(first[s], 'idle_vmhwm_mib', 1)} MiB" for s in self.systems)
        self.lines += ["", f"Idle, just started: {idle}."]
        self.failures("memory")
        self.lines.append("")

    def latency(self) -> None:
        self.lines += [f"### Latency: POST to webhook arrival, {self.a['latency_count']:,} alerts one at a "
                       "time, group_wait 0s, one group per alert", ""]
        self.figures("latency", (("p50 ms", "p50_ms", 2), ("p99 ms", "p99_ms", 2), ("max ms", "max_ms", 2),
                                 ("lost / errors", "errors", 0)))

    def profile(self, prof: dict[str, Any] | None) -> None:
        if not prof:
            return
        self.lines += ["### Profile: tocsin ingesting at batch 100", ""]
        if prof.get("failure"):
            self.lines += [f"Profile not taken: {prof['failure']}", ""]
            return
        self.lines += [f"{prof['tool']}; {prof['alerts']:,} fresh alerts at "
                       f"{prof['alerts_per_s']:,.0f} alerts/s while profiled"
                       + (f", {prof['samples']:,} samples" if prof.get("samples") else "") + ".", "",
                       "| self % | total % | function |", "| ---: | ---: | --- |"]
        self.lines += [f"| {r['self_pct']:.1f} | {r['total_pct']:.1f} | `{r['function']}` |"
                       for r in prof["rows"]]
        self.lines.append("")


def markdown(report: dict[str, Any]) -> str:
    doc = _Markdown(report)
    doc.preamble()
    for section in SECTIONS:
        if section in doc.res:
            module = {"restart": restart, "query": query}.get(section)
            if section != "storm":
                module.markdown(doc) if module else getattr(doc, section)()
    if "storm" in doc.res:
        doc.lines += storm.markdown(doc.res["storm"], doc.systems, argparse.Namespace(**doc.a))
    doc.profile(report.get("profile"))
    return "\n".join(doc.lines).rstrip() + "\n"


def write_doc(path: Path, block: str) -> None:
    inner = f"{START}\n{block}{END}"
    if path.exists():
        text = path.read_text()
        if START in text and END in text:
            before, _, rest = text.partition(START)
            _, _, after = rest.partition(END)
            path.write_text(before + inner + after)
            return
        path.write_text(text.rstrip() + "\n\n" + inner + "\n")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# Performance\n\n{inner}\n")


# ---------------------------------------------------------------------------------------------


def _cpu_list(text: str) -> set[int]:
    """``0,2-3`` as ``{0, 2, 3}`` (taskset's list form)."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--against", choices=["alertmanager"], help="also measure this system, side by side")
    ap.add_argument("--alerts", type=int, default=20000, help="fresh alerts per ingest run")
    ap.add_argument("--concurrency", type=int, default=8, help="concurrent connections")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 10, 100], help="alerts per request")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported")
    ap.add_argument("--memory", type=int, nargs="+", default=[10000, 100000], help="active alerts loaded")
    ap.add_argument("--latency-count", type=int, default=1000, help="alerts in the latency run")
    ap.add_argument("--refire-alerts", type=int, default=10000, help="alerts re-posted in the refire run")
    ap.add_argument("--refire-rounds", type=int, default=3, help="re-post rounds after the first post")
    ap.add_argument("--refire-interval", type=float, default=1.0, help="seconds between rounds")
    restart.add_args(ap)
    query.add_args(ap)
    ap.add_argument("--skip", nargs="+", choices=SECTIONS, default=[], help="sections not to run")
    ap.add_argument("--quick", action="store_true",
                    help="tiny numbers for a smoke test (200 alerts, memory 500, latency 20)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds one run of one phase may take")
    ap.add_argument("--start-timeout", type=float, default=30.0, help="seconds a server may take to be ready")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds between loading and reading memory")
    ap.add_argument("--latency-wait", type=float, default=5.0, help="seconds to wait for one notification")
    ap.add_argument("--profile", action="store_true",
                    help="also profile tocsin during ingest at batch 100 (py-spy, else cProfile)")
    ap.add_argument("--keep", action="store_true", help="keep the servers' directories (logs, databases)")
    ap.add_argument("--tocsin-writer", choices=("process", "thread"),
                    help="tocsin's storage.writer (default: the config default, process)")
    ap.add_argument("--server-cpus", metavar="LIST",
                    help="run every server on these CPUs only (taskset -c LIST, e.g. 0): how it scales")
    ap.add_argument("--client-cpus", metavar="LIST",
                    help="run the load generator (this process) on these CPUs only, e.g. 1")
    storm.add_arguments(ap)
    ap.add_argument("--write", type=Path, metavar="MD", help="write the tables between the bench markers")
    ap.add_argument("--json", type=Path, metavar="PATH", help="write every figure as JSON")
    args = ap.parse_args(argv)
    if args.quick:
        defaults = {"alerts": 200, "memory": [500], "latency_count": 20, "refire_alerts": 200,
                    "refire_interval": 0.0, "timeout": 30.0, "settle": 0.2, **storm.QUICK,
                    **restart.QUICK, **query.QUICK}
        for key, value in defaults.items():
            if getattr(args, key) == ap.get_default(key):
                setattr(args, key, value)
    if args.repeat < 1 or args.alerts < 1 or args.concurrency < 1:
        ap.error("--repeat, --alerts and --concurrency must be positive")
    return args


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    systems = ["tocsin"] + ([args.against] if args.against else [])
    if args.against == "alertmanager" and alertmanager_binary() is None:
        raise SystemExit("no prometheus-alertmanager or alertmanager binary on PATH "
                         "(apt-get install -y prometheus-alertmanager)")
    report: dict[str, Any] = {
        "meta": {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "command": command_line(),
                 "machine": machine(), "versions": versions(systems),
                 "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}},
        "systems": systems,
    }
    t0 = time.monotonic()
    report["results"] = await run_all(args, systems)
    if args.profile:
        try:
            report["profile"] = await profile_tocsin(args)
        except Exception as e:
            report["profile"] = {"failure": f"{type(e).__name__}: {e}"}
    report["meta"]["duration_s"] = round(time.monotonic() - t0, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    Server.cpus = args.server_cpus
    if args.client_cpus:
        os.sched_setaffinity(0, _cpu_list(args.client_cpus))
    report = asyncio.run(amain(args))
    text = markdown(report)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    if args.write:
        write_doc(args.write, text)
    failed = any(s["failures"] for section in report["results"].values()
                 for by in section.values() for s in by.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
