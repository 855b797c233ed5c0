"""The restart phase of bench/run.py: kill -9 at N active alerts (100,000), then time to ready.

One run: a fresh server loads N fresh alerts (batches of 100, C connections) with
``group_by: [alertname]`` (50 groups), group_wait 5s, group_interval 5m. The alerts are
posted a group after another (each group's in about a second, with a ``startsAt`` of
just before), so each group is notified once, with all its alerts, and every alert has
been notified once the notifications have stopped (no new one for ``--restart-quiet``
seconds, and the server's CPU use under a tenth of a CPU). Then the server is killed
with SIGKILL and started again on the same storage, and the run reports:

* ``ready_s``: from starting the process to the first 200 from ``/-/ready`` (polled
  every 10 ms), interpreter start-up and imports included;
* ``alerts_back``: the active alerts the restarted server holds (its own gauge);
* ``repeated``: notifications that arrive within group_wait + 2 s after the restart,
  and ``alerts_repeated``, the alerts in them; ``alerts_notified_before``, the alerts in
  the notifications before the kill: when that is N, every alert was notified and
  repeat_interval is 4h, so any notification after the restart is a repeat (when it is
  less, a group's late alerts missed its one notification, and a notification of them
  after the restart is due, not repeated);
* ``vmrss_mib``: the restarted server's resident set once ready (tocsin: both processes);
* tocsin only: ``bytes_per_alert``, the database's live pages (page_count less the
  freelist, WAL included, read through a read-only connection) over N, and
  ``table_bytes``, the same per table and index (SQLite's dbstat, when the sqlite3
  module has it).

Alertmanager keeps no alerts across a restart (its issue #2370): it is ready at once
with none back, and its notification log is only saved every 15 minutes and at a
clean stop, so nothing is repeated because nothing is left to repeat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

GROUP_WAIT = 5.0

CONFIG = f"""\
route:
  receiver: hook
  group_by: [alertname]
  group_wait: {GROUP_WAIT:g}s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: hook
    webhook_configs:
      - url: "{{url}}"
"""

#: --quick values (bench/run.py applies them when the option was left at its default).
QUICK = {"restart_alerts": 500, "restart_quiet": 1.0}


def _run_attrs(*names: str) -> tuple[Any, ...]:
    """Names from bench/run.py as loaded: ``__main__`` when it is the script being run (a
    second import would make a second PhaseError that its handler does not catch)."""
    run = sys.modules.get("run") or sys.modules["__main__"]
    return tuple(getattr(run, n) for n in names)


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--restart-alerts", type=int, default=100000, help="active alerts at the kill -9")
    ap.add_argument("--restart-quiet", type=float, default=3.0,
                    help="seconds without a new notification before the kill")


def db_bytes(path: Path) -> tuple[int, dict[str, int]]:
    """Live bytes of the SQLite database at ``path`` (WAL included), and per table/index."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        live = pages - conn.execute("PRAGMA freelist_count").fetchone()[0]
        tables: dict[str, int] = {}
        with contextlib.suppress(sqlite3.Error):  # dbstat is a compile-time option
            found = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
            for name, total in found:
                tables[name] = int(total)
        return live * size, tables
    finally:
        conn.close()


async def _quiet(server: Any, sink: Any, run_id: str, quiet: float, limit: float) -> None:
    """Until no notification arrived for ``quiet`` seconds and the server used less than a
    tenth of a CPU over the last of them (a flush of a big group, its notification log
    row unwritten yet, is not over when its notification arrives); at most ``limit``."""
    deadline = time.monotonic() + limit
    seen, since = sink.notifications.get(run_id, 0), time.monotonic()
    cpu = server.cpu_s()
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        now, used, cpu = sink.notifications.get(run_id, 0), server.cpu_s() - cpu, server.cpu_s()
        if now != seen or used > 0.1:
            seen, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


async def _load(url: str, run_id: str, count: int, concurrency: int) -> list[str]:
    """Post fresh alerts, 100 a request, a group (alertname) after another, each group's
    with a ``startsAt`` of just before it is posted: a group whose first alert started
    more than group_wait ago is notified at once (as Alertmanager does), before the rest
    of its alerts are in. The errors."""
    make_alert, post_all = _run_attrs("make_alert", "post_all")
    errors: list[str] = []
    for group in range(min(count, 50)):
        now = time.time()
        s, e = _rfc3339(now), _rfc3339(now + 86400)
        alerts = [make_alert(run_id, i, s, e, "Restart") for i in range(group, count, 50)]
        bodies = [json.dumps(alerts[i:i + 100]).encode() for i in range(0, len(alerts), 100)]
        errors += (await post_all(url, bodies, concurrency))["errors"]
    return errors


def _rfc3339(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _alive(pids: list[int]) -> bool:
    return any(os.path.exists(f"/proc/{pid}") for pid in pids)


async def _ready(server: Any, timeout: float) -> float:
    """Start ``server`` again and return the seconds to its first ready answer."""
    with server.log_path.open("ab") as log:
        t0 = time.perf_counter()
        server.proc = subprocess.Popen(server.command(), stdout=log, stderr=log,
                                       stdin=subprocess.DEVNULL, env=server.env())
    async with aiohttp.ClientSession() as s:
        while True:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with s.get(f"{server.url}/-/ready", timeout=aiohttp.ClientTimeout(total=1)) as r:
                    if r.status == 200:
                        return time.perf_counter() - t0
            if server.proc.poll() is not None or time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"{server.name} not ready again: {server.log_tail()}")
            await asyncio.sleep(0.01)


async def phase(server: Any, run_id: str, args: argparse.Namespace, count: int, sink: Any) -> dict[str, Any]:
    (PhaseError,) = _run_attrs("PhaseError")

    errors = await _load(server.url, run_id, count, args.concurrency)
    await asyncio.sleep(GROUP_WAIT)  # the last group's wait
    await _quiet(server, sink, run_id, args.restart_quiet, 300)
    before, alerts_before = sink.notifications.get(run_id, 0), sink.alerts.get(run_id, 0)
    children = server.pids()[1:]
    os.kill(server.pid, signal.SIGKILL)
    await asyncio.to_thread(server.proc.wait, 10)
    deadline = time.monotonic() + 10
    # tocsin's writer process ends once its stdin closes and its transaction in hand is done.
    while _alive(children) and time.monotonic() < deadline:  # noqa: ASYNC110 -- another's process
        await asyncio.sleep(0.01)
    try:
        ready_s = await _ready(server, args.start_timeout)
    except RuntimeError as e:
        raise PhaseError(str(e)) from None
    mem = server.memory_kib()
    async with aiohttp.ClientSession() as s:
        back = await server.active_alerts(s)
    await asyncio.sleep(GROUP_WAIT + 2)
    out: dict[str, Any] = {
        "ready_s": ready_s, "alerts_back": back, "vmrss_mib": mem["VmRSS"] / 1024,
        "notified_before": before, "alerts_notified_before": alerts_before,
        "repeated": sink.notifications.get(run_id, 0) - before,
        "alerts_repeated": sink.alerts.get(run_id, 0) - alerts_before,
        "errors": len(errors), "error_sample": errors[:3],
    }
    db = server.workdir / "tocsin.db"
    if db.exists():
        total, tables = db_bytes(db)
        out["bytes_per_alert"] = total / count
        out["table_bytes"] = tables
    return out


def markdown(doc: Any) -> None:
    """The restart section of bench/run.py's report."""
    AM, cell, get, ratio = _run_attrs('AM', 'cell', 'get', 'ratio')

    by = next(iter(doc.res["restart"].values()))
    point = int(next(iter(doc.res["restart"])))
    doc.lines += [f"### Restart: kill -9 at {point:,} active alerts", "",
                  "Time from starting the process again to its first ready answer; alerts it holds "
                  "then; notifications before the kill and after the restart, and the alerts in them "
                  "(when every alert was in one before the kill, each after the restart is a repeat); "
                  "live database bytes per active alert (tocsin).", ""]
    doc.head(["", "tocsin"] + ([AM, "tocsin/AM"] if doc.both else []))
    for label, key, d in (("ready after start, s", "ready_s", 2), ("alerts back", "alerts_back", 0),
                          ("notifications before the kill", "notified_before", 0),
                          ("alerts in them", "alerts_notified_before", 0),
                          ("notifications after the restart", "repeated", 0),
                          ("alerts in them", "alerts_repeated", 0),
                          ("RSS once ready, MiB", "vmrss_mib", 1),
                          ("database bytes per active alert", "bytes_per_alert", 0)):
        row = [label, cell(by["tocsin"], key, d)]
        if doc.both:
            row += [cell(by[doc.o], key, d), ratio(get(by["tocsin"], key), get(by[doc.o], key))
                    if key in ("ready_s", "vmrss_mib") else ""]
        doc.row(row)
    good = [r for r in by["tocsin"]["runs"] if r.get("ok") and r.get("table_bytes")]
    if good:
        tables = good[-1]["table_bytes"]
        doc.lines += ["", "tocsin's database by table and index (last run, bytes per active alert): "
                      + ", ".join(f"{name} {size / point:,.0f}" for name, size in tables.items()
                                  if size / point >= 1) + "."]
    doc.failures("restart")
    doc.lines.append("")
