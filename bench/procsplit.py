"""Where a fresh alert's CPU and memory go, by process: the daemon and its database writer.

Starts tocsin as bench/run.py does (its routing config, a webhook sink), posts N fresh
alerts in batches of B over C connections, and prints for each process its user and
system CPU per alert over the load (from ``/proc/PID/stat``), and its peak and current
resident set (``VmHWM``, ``VmRSS``; bench/run.py's readings of ``/proc``) two seconds after the last answer:

    .venv/bin/python bench/procsplit.py --alerts 40000 --batch 10
    .venv/bin/python bench/procsplit.py --alerts 10000 --batch 100   # the memory phase's load
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # bench/run.py, beside this file


async def measure(args: argparse.Namespace) -> None:
    sink = run.Sink()
    await sink.start()
    tmp = Path(tempfile.mkdtemp(prefix="tocsin-bench-split-"))
    server = run.TocsinServer(run.ROUTING_CONFIG.format(url=sink.url("split")), tmp / "t")
    try:
        await server.start(timeout=30)
        pids = {"daemon": server.pid, **{f"writer {i}": c for i, c in enumerate(server.pids()[1:])}}
        before = {name: run.process_cpu_s(pid) for name, pid in pids.items()}
        res = await run.post_all(server.url, run.bodies_for("split", args.alerts, args.batch, "Split"),
                                 args.concurrency)
        await asyncio.sleep(2.0)
        print(f"{args.alerts} alerts at batch {args.batch}: {args.alerts / res['elapsed_s']:,.0f} alerts/s, "
              f"errors {len(res['errors'])}")
        for name, pid in pids.items():
            (u0, s0), (u1, s1) = before[name], run.process_cpu_s(pid)
            mem = run.process_memory_kib(pid)
            print(f"  {name:9} user {(u1 - u0) / args.alerts * 1e6:6.1f} µs/alert  system "
                  f"{(s1 - s0) / args.alerts * 1e6:5.1f} µs/alert  VmHWM {mem['VmHWM'] / 1024:6.1f} MiB  "
                  f"VmRSS {mem['VmRSS'] / 1024:6.1f} MiB")
    finally:
        await server.stop()
        await sink.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=40000)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=8)
    asyncio.run(measure(ap.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
