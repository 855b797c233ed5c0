"""CPU per alert of the pipeline itself, in one process, with no HTTP and no load generator.

The real runtime on a fake clock (``tocsin.testing.running``): N fresh alerts posted in
batches, every group flushed (a group per alert: ``group_by: [alertname, instance]``),
then the same alerts posted again (re-firing). Each phase's process CPU time divided by
N. Compares two checkouts of tocsin by running it with each one's interpreter:

    .venv/bin/python bench/inprocess.py --alerts 20000 --batch 100 --runs 5
    /path/to/other/checkout/.venv/bin/python bench/inprocess.py ...

Only what ``tocsin.testing`` has offered since the first release is used, so an older
checkout runs it unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
from pathlib import Path

from tocsin.testing import advance, post, running

CONFIG = """
route:
  receiver: default
  group_by: [alertname, instance]
  group_wait: 1s
  group_interval: 2s
receivers:
  - name: default
storage:
  writer: thread
"""


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def one_run(alerts: int, batch: int) -> tuple[float, float, float]:
    batches = [[{"labels": {"alertname": "Load", "instance": f"h{b}-{i}", "severity": "warning"}}
                for i in range(batch)] for b in range(alerts // batch)]
    n = len(batches) * batch
    with tempfile.TemporaryDirectory() as d:
        async with running(CONFIG, Path(d)) as rt:
            t0 = cpu()
            for b in batches:
                await post(rt, *b)
            t1 = cpu()
            await advance(rt, 2)
            t2 = cpu()
            for b in batches:
                await post(rt, *b)
            t3 = cpu()
    return tuple(1e6 * x / n for x in (t1 - t0, t2 - t1, t3 - t2))  # type: ignore[return-value]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    runs = [asyncio.run(one_run(args.alerts, args.batch)) for _ in range(args.runs)]
    for i, phase in enumerate(("fresh", "flush", "re-firing")):
        values = sorted(r[i] for r in runs)
        print(f"{phase:10} CPU µs per alert: median {statistics.median(values):6.1f}  "
              f"min {values[0]:6.1f}  max {values[-1]:6.1f}")


if __name__ == "__main__":
    main()
