"""The storm's POSTs alone: how fast a server takes them when nothing is notified meanwhile.

bench/storm.py's alerts, batches, connections and config (bench/storm.yml), with one
change: ``group_wait`` is 60 s instead of 1 s, so no group falls due while the 20,000
fresh alerts come in. Each server then does all of its ingest work (validation,
fingerprints, grouping, incidents, the commits) and none of its notification work.
Its alerts/s is the ceiling of the storm's alerts/s for a server that notifies on time:
notifying can only take from it. Side by side with Alertmanager, the systems alternating:

    .venv/bin/python bench/stormingest.py --against alertmanager --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run
import storm


async def one_run(system: str, args: argparse.Namespace, sink: storm.Sink, tmp: Path,
                  n: int) -> dict[str, float]:
    run_id = f"i{n}"
    config = storm.storm_config(sink.url(run_id), False).replace("group_wait: 1s", "group_wait: 60s")
    server = run.SERVERS[system](config, tmp / f"{run_id}-{system}")
    try:
        await server.start()
        now = time.time()
        starts, ends = run.rfc3339(now), run.rfc3339(now + 600)
        alerts = [run.make_alert(run_id, i, starts, ends, "Storm") for i in range(args.alerts)]
        batches = [alerts[i:i + args.batch] for i in range(0, len(alerts), args.batch)]
        cpu0, child0 = server.cpu_s(), storm.cpu_children_s(server)
        t0 = time.monotonic()
        latencies, errors = await storm.post_storm(server.url, batches, args.concurrency, {})
        elapsed = time.monotonic() - t0
        await asyncio.sleep(0.5)  # the last commits, counted with the POSTs
        return {"alerts_per_s": args.alerts / elapsed, "p99_ms": storm.percentile(latencies, 99),
                "errors": len(errors), "cpu_us": (server.cpu_s() - cpu0) * 1e6 / args.alerts,
                "children_us": (storm.cpu_children_s(server) - child0) * 1e6 / args.alerts}
    finally:
        await server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


async def main_async(args: argparse.Namespace) -> None:
    systems = ["tocsin", *([args.against] if args.against else [])]
    sink = storm.Sink()
    await sink.start()
    results: dict[str, list[dict[str, float]]] = {s: [] for s in systems}
    try:
        with tempfile.TemporaryDirectory(prefix="tocsin-bench-stormingest-") as tmp:
            for n in range(args.repeat):
                for system in systems:
                    r = await one_run(system, args, sink, Path(tmp), n)
                    results[system].append(r)
                    print(f"{system:13} {r['alerts_per_s']:7.0f} alerts/s  p99 {r['p99_ms']:6.1f} ms  "
                          f"errors {r['errors']:.0f}  CPU µs/alert {r['cpu_us']:.0f} "
                          f"(children {r['children_us']:.0f})", flush=True)
    finally:
        await sink.stop()
    print(f"medians of {args.repeat}")
    for system, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"{system:13} {med['alerts_per_s']:7.0f} alerts/s  p99 {med['p99_ms']:6.1f} ms  "
              f"CPU µs/alert {med['cpu_us']:.0f} (children {med['children_us']:.0f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", choices=["alertmanager"], help="also measure this system, side by side")
    ap.add_argument("--alerts", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
