"""CPU per notification of the storm's flushes, in one process, apart from ingest.

The real runtime on a fake clock (``tocsin.testing.running``) with bench/storm.yml (a
group per alert, five webhook receivers) and its alerts (bench/run.py's ``make_alert``):
N fresh alerts ingested, then the clock moved past group_wait and every flush waited
for: the flush, mute hooks, delivery (redaction, rendering, the HTTP POST), the
notification-log and history rows. The webhook sink runs in a process of its own, so
what is counted is tocsin's: this process and its database writer process, over the
flushes, divided by the notifications delivered (on uvloop, with the start-up heap
frozen and the collector's thresholds set as the daemon sets them). Then
the clock moves on by group_interval and every group flushes again with nothing new to
send, as each does every group_interval for as long as its alerts fire: the CPU of
those flushes per group is the second figure.
Unlike bench/storm.py's figure it does not depend on how ingest and delivery share
the loop, nor much on how busy the machine is, so two checkouts can be compared run
against run:

    .venv/bin/python bench/flushcost.py --alerts 5000 --runs 5
    PYTHONPATH=/path/to/other/checkout/src .venv/bin/python bench/flushcost.py ...
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from common import free_port
from run import make_alert
from storm import receivers_of, storm_config

from tocsin.daemon import heap
from tocsin.daemon.logsetup import configure_logging
from tocsin.store.sqlite import SQLiteStore
from tocsin.testing import advance, post, running

SINK = """
import sys
from aiohttp import web
async def ok(request):
    await request.read()
    return web.Response()
app = web.Application(client_max_size=1 << 30)
app.router.add_post("/{tail:.*}", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def cpu(me: psutil.Process, sink: psutil.Process) -> float:
    """This process's CPU time and its children's (the database writer; not the sink's)."""
    t = me.cpu_times()
    total = t.user + t.system
    for child in me.children(recursive=True):
        if child.pid == sink.pid:
            continue
        try:
            c = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += c.user + c.system
    return total


async def one_run(alerts: int, url: str, sink: psutil.Process,
                  inhibit: bool) -> tuple[float, int, float, int]:
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    batch = [make_alert("flushcost", i, stamp, "0001-01-01T00:00:00Z", "Storm") for i in range(alerts)]
    expected = sum(len(receivers_of(a)) for a in batch)
    me = psutil.Process()
    with tempfile.TemporaryDirectory() as d:
        from tocsin.core.clock import FakeClock

        # The daemon's store: SQLite, committed by a writer process of its own.
        store = SQLiteStore(Path(d) / "tocsin.db", writer="process")
        async with running(storm_config(url, inhibit), Path(d), clock=FakeClock(now), store=store) as rt:
            for start in range(0, alerts, 10):
                await post(rt, *batch[start:start + 10])
            heap.freeze()  # as the daemon does after start-up: the collector's thresholds with it
            before = cpu(me, sink)
            await advance(rt, 1.5)
            after = cpu(me, sink)
            sent = len(rt.nflog)  # an entry per group and receiver notified
            # group_interval later every group flushes again, with nothing new to send.
            groups = len(rt.dispatcher.groups)
            await advance(rt, 2.0)
            again = cpu(me, sink)
            if len(rt.nflog) != sent:
                print("  warning: the flushes with nothing new sent something", file=sys.stderr)
    if sent != expected:
        print(f"  warning: {sent} notifications sent, {expected} expected", file=sys.stderr)
    return 1e6 * (after - before) / max(1, sent), sent, 1e6 * (again - after) / max(1, groups), groups


def run_loop(coro: Any) -> Any:
    """On uvloop when it is installed, as ``tocsin serve`` runs."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--inhibit", action="store_true", help="with the storm's inhibit rule")
    args = ap.parse_args()
    configure_logging("warning")  # as bench/storm.py runs the daemon
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SINK, str(port)])
    try:
        time.sleep(1.0)
        sink = psutil.Process(proc.pid)
        figures, again = [], []
        for i in range(args.runs):
            url = f"http://127.0.0.1:{port}/flushcost"
            us, sent, us_again, groups = run_loop(one_run(args.alerts, url, sink, args.inhibit))
            figures.append(us)
            again.append(us_again)
            print(f"run {i + 1}: {us:.0f} µs of CPU per notification ({sent} sent); "
                  f"{us_again:.0f} µs per flush with nothing new ({groups} groups)", flush=True)
        print(f"median: {statistics.median(figures):.0f} µs of CPU per notification, "
              f"{statistics.median(again):.0f} µs per flush with nothing new")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
