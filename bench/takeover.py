"""How long a follower takes to start leading, with N alerts held (replicas on PostgreSQL).

Two replicas run in this process on a PostgreSQL server of the benchmark's own
(``tocsin.testing.postgres``: initdb in a temporary directory, ``fsync=off``). N fresh
alerts are posted to the leader, in batches; once the follower holds them all (through the
change feed) the leader stops and its lease session ends, as at a ``kill -9``. Reported:
the time the follower's ``Runtime.lead()`` takes (reading what it must, routing what it
holds, starting the loops), and the time from the lease session's end to the follower
leading (which includes up to a second before its next try for the lease). Nothing leaves
loopback.

    python bench/takeover.py                     # 1000 and 5000 alerts
    python bench/takeover.py --alerts 3000 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import structlog

from tocsin.runtime import Runtime
from tocsin.store.postgres import PostgresStore
from tocsin.testing import make_config, make_plugins, post, wait_until
from tocsin.testing.postgres import PostgresServer

CONFIG = """
route:
  receiver: quiet
  group_by: [alertname, shard]
  group_wait: 30s
receivers:
  - name: quiet
storage:
  replicas: true
"""


def alerts(count: int, start: int) -> list[dict[str, Any]]:
    return [{"labels": {"alertname": "Bench", "shard": str(i % 50), "instance": f"h{i}"}}
            for i in range(start, start + count)]


async def one_run(url: str, count: int) -> tuple[float, float]:
    pm = make_plugins()
    cfg = make_config(CONFIG, pm)
    a = Runtime(cfg, pm, store=PostgresStore(url, replicas=True, name="a"))
    b = Runtime(cfg, pm, store=PostgresStore(url, replicas=True, name="b"))
    await a.start()
    await wait_until(lambda: a.leading, timeout=15)
    await b.start()
    for start in range(0, count, 500):
        await post(a, *alerts(min(500, count - start), start))
    await wait_until(lambda: len(b.alerts) >= count, timeout=60, message="the follower holds every alert")
    took: list[float] = []
    lead = b.lead

    async def timed() -> None:
        began = time.perf_counter()
        await lead()
        took.append(time.perf_counter() - began)

    b.lead = timed  # type: ignore[method-assign]
    assert a.leadership is not None
    await a.stop()
    a.leadership.lease.drop()
    ended = time.perf_counter()
    await wait_until(lambda: b.leading, timeout=30, message="the follower leads")
    failover = time.perf_counter() - ended
    await b.stop()
    assert b.leadership is not None
    b.leadership.lease.drop()
    return took[0], failover


async def main(args: argparse.Namespace) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    server = PostgresServer.start()
    try:
        print("| alerts held | lead() (s) | lease end to leading (s) |")
        print("| ---: | ---: | ---: |")
        for count in args.alerts:
            runs = [await one_run(server.create_database(), count) for _ in range(args.repeat)]
            lead = statistics.median(r[0] for r in runs)
            failover = statistics.median(r[1] for r in runs)
            print(f"| {count} | {lead:.3f} | {failover:.2f} |")
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the median is reported")
    asyncio.run(main(parser.parse_args()))
