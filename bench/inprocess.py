"""CPU per alert of the pipeline itself, in one process, with no HTTP and no load generator.

The real runtime on a fake clock (``tocsin.testing.running``): N fresh alerts posted in
batches, every group flushed (a group per alert: ``group_by: [alertname, instance]``),
then the same alerts posted again (re-firing). Each phase's process CPU time divided by
N. Compares two checkouts of tocsin by running it with each one's interpreter:

    .venv/bin/python bench/inprocess.py --alerts 20000 --batch 100 --runs 5
    /path/to/other/checkout/.venv/bin/python bench/inprocess.py ...

``--storage postgresql`` runs it on PostgreSQL instead of SQLite: a server of its own
(``tocsin.testing.postgres``: Debian's ``postgresql`` package, ``fsync=off``), a new
database per run, and the server's CPU per alert beside tocsin's (its processes'
CPU time over the phase); ``--storage postgresql://...`` uses that database (emptied
first) and measures tocsin's CPU only.

Without ``--storage``, only what ``tocsin.testing`` has offered since the first release
is used, so an older checkout runs it unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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


class Server:
    """The PostgreSQL server's CPU time: the postmaster, its live processes and those ended."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.process = psutil.Process(pid)

    def cpu(self) -> float:
        import psutil

        t = self.process.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in self.process.children(recursive=True):
            try:
                c = child.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += c.user + c.system
        return total


async def post_all(rt: object, batches: list[list[dict]], concurrency: int) -> None:
    """Every batch, ``concurrency`` at a time (as that many clients would: their writes are
    committed together)."""
    for start in range(0, len(batches), concurrency):
        await asyncio.gather(*(post(rt, *b) for b in batches[start:start + concurrency]))


async def one_run(alerts: int, batch: int, storage: str | None = None,
                  server: Server | None = None, concurrency: int = 1,
                  freeze: bool = False) -> tuple[float, ...]:
    batches = [[{"labels": {"alertname": "Load", "instance": f"h{b}-{i}", "severity": "warning"}}
                for i in range(batch)] for b in range(alerts // batch)]
    n = len(batches) * batch
    kwargs = {}
    if storage is not None:  # a PostgreSQL database's URL
        from tocsin.store.postgres import PostgresStore

        kwargs["store"] = PostgresStore(storage)
    clocks = (lambda: (cpu(), server.cpu())) if server is not None else (lambda: (cpu(), 0.0))
    with tempfile.TemporaryDirectory() as d:
        async with running(CONFIG, Path(d), **kwargs) as rt:
            if storage is not None:
                await rt.store.clear()  # type: ignore[attr-defined]
            if freeze:  # as the daemon does once started (tocsin.daemon.heap)
                gc.collect()
                gc.freeze()
            t0 = clocks()
            await post_all(rt, batches, concurrency)
            t1 = clocks()
            await advance(rt, 2)
            t2 = clocks()
            await post_all(rt, batches, concurrency)
            t3 = clocks()
    gc.unfreeze()
    spans = [(t1, t0), (t2, t1), (t3, t2)]
    return tuple(1e6 * (a[k] - b[k]) / n for k in (0, 1) for a, b in spans)


def runs_on_postgresql(args: argparse.Namespace) -> list[tuple[float, ...]]:
    from tocsin.testing.postgres import PostgresServer

    if args.storage != "postgresql":
        return [asyncio.run(one_run(args.alerts, args.batch, args.storage, concurrency=args.concurrency))
                for _ in range(args.runs)]
    pg = PostgresServer.start()
    try:
        server = Server(int((pg.data / "postmaster.pid").read_text().split()[0]))
        out = []
        for _ in range(args.runs):
            url = pg.create_database()
            out.append(asyncio.run(one_run(args.alerts, args.batch, url, server, args.concurrency)))
            pg.drop_database(url)
        return out
    finally:
        pg.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=1, help="batches posted at once (default 1)")
    ap.add_argument("--freeze", action="store_true",
                    help="gc.freeze() once the runtime has started, as the daemon does")
    ap.add_argument("--storage", help="postgresql (a server of its own) or postgresql://... "
                                      "(default: SQLite)")
    args = ap.parse_args()
    if args.storage:
        runs = runs_on_postgresql(args)
    else:
        runs = [asyncio.run(one_run(args.alerts, args.batch, concurrency=args.concurrency,
                                    freeze=args.freeze))
                for _ in range(args.runs)]
    for i, phase in enumerate(("fresh", "flush", "re-firing")):
        values = sorted(r[i] for r in runs)
        line = (f"{phase:10} CPU µs per alert: median {statistics.median(values):6.1f}  "
                f"min {values[0]:6.1f}  max {values[-1]:6.1f}")
        if args.storage == "postgresql":
            server = sorted(r[i + 3] for r in runs)
            line += f"  | PostgreSQL server: median {statistics.median(server):6.1f}"
        print(line)


if __name__ == "__main__":
    main()
