"""Ingest on PostgreSQL next to SQLite, with one tocsin and with two replicas.

Each setup starts fresh ``tocsin serve`` processes on 127.0.0.1 and posts N fresh alerts
(new label sets, batches of B, C connections) to ``POST /api/v2/alerts``; with two
replicas the requests go round-robin to both (as Prometheus sends to every replica, and
each replica's change feed reads what the other committed). Reported per setup, the
median of --repeat runs: alerts accepted per second, and CPU time per alert in
microseconds, of the tocsin processes (with SQLite's writer process) and, apart, of the
PostgreSQL server (its backends). PostgreSQL is a server of the benchmark's own
(``tocsin.testing.postgres``: initdb in a temporary directory, ``fsync=off``), a new
database per run; nothing leaves loopback.

    python bench/ha.py                      # about a minute
    python bench/ha.py --alerts 2000 --repeat 1
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, free_port

sys.path.insert(0, str(ROOT / "src"))
from tocsin.testing.postgres import PostgresServer

CONFIG = """
route:
  receiver: quiet
  group_by: [alertname]
  group_wait: 30s
receivers:
  - name: quiet
storage:
  replicas: {replicas}
"""

#: (name, storage, replicas)
SETUPS = [("SQLite, 1 tocsin", "sqlite", 1), ("PostgreSQL, 1 tocsin", "postgresql", 1),
          ("PostgreSQL, 1 replica", "postgresql-replicas", 1),
          ("PostgreSQL, 2 replicas", "postgresql-replicas", 2)]


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its children, in seconds."""
    total = 0.0
    try:
        procs = [psutil.Process(pid)]
        procs += procs[0].children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def postmaster(server: PostgresServer) -> int:
    return int((server.data / "postmaster.pid").read_text().split()[0])


async def ready(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as s:
        while True:
            try:
                async with s.get(f"{url}/-/ready") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("tocsin did not start")
            await asyncio.sleep(0.05)


async def post_all(urls: list[str], total: int, batch: int, concurrency: int, tag: str) -> tuple[float, int]:
    """Post ``total`` fresh alerts; the seconds it took and the requests not answered 200."""
    bodies = [[{"labels": {"alertname": f"Bench{(i + j) % 50}", "instance": f"{tag}-{i + j}"},
                "annotations": {"summary": "benchmark alert"}} for j in range(batch)]
              for i in range(0, total, batch)]
    targets = itertools.cycle(urls)
    work = [(next(targets), b) for b in bodies]
    errors = 0

    async def worker(s: aiohttp.ClientSession) -> None:
        nonlocal errors
        while work:
            url, body = work.pop()
            async with s.post(f"{url}/api/v2/alerts", json=body) as r:
                await r.read()
                errors += r.status != 200

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        began = time.perf_counter()
        await asyncio.gather(*(worker(s) for _ in range(concurrency)))
        return time.perf_counter() - began, errors


async def one_run(storage: str, count: int, server: PostgresServer | None, args: argparse.Namespace,
                  tag: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-ha-") as tmp:
        cfg = Path(tmp) / "tocsin.yml"
        cfg.write_text(CONFIG.format(replicas="true" if storage == "postgresql-replicas" else "false"))
        where = str(Path(tmp) / "tocsin.db") if server is None else server.create_database()
        procs, urls = [], []
        try:
            for _ in range(count):
                port = free_port()
                urls.append(f"http://127.0.0.1:{port}")
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "tocsin", "serve", "--config", str(cfg), "--listen",
                     f"127.0.0.1:{port}", "--storage", where, "--log-level", "warning"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    env={**os.environ, "PYTHONPATH": str(ROOT / "src")}))
                await ready(urls[-1], procs[-1])
            await post_all(urls, 200, args.batch, args.concurrency, f"warm{tag}")
            await asyncio.sleep(0.5)
            tocsin0 = sum(cpu_seconds(p.pid) for p in procs)
            pg0 = cpu_seconds(postmaster(server)) if server else 0.0
            elapsed, errors = await post_all(urls, args.alerts, args.batch, args.concurrency, tag)
            await asyncio.sleep(0.5)  # followers finish reading what the feed told them
            tocsin_cpu = sum(cpu_seconds(p.pid) for p in procs) - tocsin0
            pg_cpu = (cpu_seconds(postmaster(server)) - pg0) if server else 0.0
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(20)
            if server is not None:
                server.drop_database(where)
    return {"alerts_per_s": args.alerts / elapsed, "tocsin_us": tocsin_cpu / args.alerts * 1e6,
            "postgres_us": pg_cpu / args.alerts * 1e6, "errors": errors}


async def main(args: argparse.Namespace) -> None:
    server = PostgresServer.start()
    version = server.sql("SHOW server_version").strip()
    print(f"{args.alerts} fresh alerts per run, batches of {args.batch}, {args.concurrency} connections, "
          f"median of {args.repeat} runs; {os.cpu_count()} CPUs; PostgreSQL {version}")
    print("| setup | alerts/s | tocsin CPU µs/alert | PostgreSQL CPU µs/alert | errors |")
    print("| --- | ---: | ---: | ---: | ---: |")
    try:
        results: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in SETUPS}
        for run in range(args.repeat):  # the setups alternate: a slower minute hurts all alike
            for name, storage, count in SETUPS:
                pg = None if storage == "sqlite" else server
                results[name].append(await one_run(storage, count, pg, args, f"{run}{count}{storage}"))
        for name, _, _ in SETUPS:
            runs = results[name]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            pg = f"{med['postgres_us']:.0f}" if "PostgreSQL" in name else "-"
            print(f"| {name} | {med['alerts_per_s']:.0f} | {med['tocsin_us']:.0f} | {pg} | "
                  f"{sum(r['errors'] for r in runs):.0f} |")
    finally:
        server.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    asyncio.run(main(ap.parse_args()))
