"""What taking the webhook POSTs off the event loop would save it: a measurement of the lever.

Issue 17's first lever puts delivery's HTTP sends in a process of their own. This script
measures what that saves the event loop before anything is built, with the webhook
channel's own HTTP client (:mod:`tocsin.channels.keepalive`) and a webhook sink in a
process of its own (bench/flushcost.py's). N POSTs of a storm-sized body, 200 in
flight at a time (a storm's flushes), on uvloop, two ways, alternating:

* ``in-loop``: each POST sent from the event loop, as tocsin sends today;
* ``worker``: each POST handed to a worker process, the hand-overs of one turn of the
  loop written as one frame on a pipe (MessagePack), the worker sending them with the
  same client and writing back the statuses of one turn of its loop as one frame. The
  cheapest hand-over there is: no rendering or redaction moved, nothing recorded.

Printed: the event loop's CPU per POST (its thread's time: the semaphore and the futures
this script adds are in both), the worker's, and POSTs a second.

    .venv/bin/python bench/sendworker.py --posts 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port
from flushcost import SINK

from tocsin.channels import keepalive

IN_FLIGHT = 200
BODY = (b'{"receiver":"r1","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"Storm",'
        b'"instance":"host-1","team":"team-1","severity":"warning"},"annotations":{"summary":"s"}}]}') * 4
HEADERS = {"Content-Type": "application/json"}

WORKER = r"""
import asyncio, os, struct, sys
import msgspec, uvloop
from tocsin.channels import keepalive

async def main():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", 0))
    out, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(1, "wb", 0))
    enc, dec, pool, answers = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(), keepalive.Pool(), []

    def flush():
        frame = enc.encode(answers)
        answers.clear()
        out.write(struct.pack("<I", len(frame)) + frame)

    async def send(i, url, headers, body):
        answer = await pool.request(keepalive._target(url), "POST", headers, body)
        if not answers:
            loop.call_soon(flush)
        answers.append((i, answer.status))

    while True:
        (size,) = struct.unpack("<I", await reader.readexactly(4))
        for i, url, headers, body in dec.decode(await reader.readexactly(size)):
            asyncio.ensure_future(send(i, url, headers, body))

uvloop.run(main())
"""


async def in_loop(url: str, posts: int) -> tuple[float, float]:
    pool, target, slots = keepalive.Pool(), keepalive._target(url), asyncio.Semaphore(IN_FLIGHT)

    async def one() -> None:
        async with slots:
            answer = await pool.request(target, "POST", HEADERS, BODY)
            assert answer.status == 200

    t0 = time.thread_time()
    await asyncio.gather(*(one() for _ in range(posts)))
    pool.close()
    return time.thread_time() - t0, 0.0


async def worker(url: str, posts: int) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", WORKER,
                                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None
    assert proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout
    enc, dec = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder()
    waiting: dict[int, asyncio.Future[int]] = {}
    pending: list[Any] = []

    def flush() -> None:
        frame = enc.encode(pending)
        pending.clear()
        stdin.write(struct.pack("<I", len(frame)) + frame)

    async def answers() -> None:
        while True:
            (size,) = struct.unpack("<I", await stdout.readexactly(4))
            for i, status in dec.decode(await stdout.readexactly(size)):
                waiting.pop(i).set_result(status)

    reading = asyncio.ensure_future(answers())
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with slots:
            waiting[i] = fut = loop.create_future()
            if not pending:
                loop.call_soon(flush)
            pending.append((i, url, HEADERS, BODY))
            assert await fut == 200

    await asyncio.sleep(0.5)  # the worker started
    child = psutil.Process(proc.pid)
    t0, w0 = time.thread_time(), sum(child.cpu_times()[:2])
    await asyncio.gather(*(one(i) for i in range(posts)))
    spent, worker_spent = time.thread_time() - t0, sum(child.cpu_times()[:2]) - w0
    reading.cancel()
    proc.kill()
    await proc.wait()
    return spent, worker_spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import uvloop

    port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(port)])
    url = f"http://127.0.0.1:{port}/sendworker"
    figures: dict[str, list[tuple[float, float, float]]] = {"in-loop": [], "worker": []}
    try:
        time.sleep(1.0)
        for _ in range(args.repeat):
            for name, how in (("in-loop", in_loop), ("worker", worker)):
                wall = time.perf_counter()
                spent, worker_spent = uvloop.run(how(url, args.posts))
                wall = time.perf_counter() - wall - (0.5 if name == "worker" else 0.0)
                row = (spent * 1e6 / args.posts, worker_spent * 1e6 / args.posts, args.posts / wall)
                figures[name].append(row)
                print(f"{name:8} loop {row[0]:5.1f} µs/POST  worker {row[1]:5.1f} µs/POST  "
                      f"{row[2]:6.0f} POSTs/s", flush=True)
    finally:
        sink.terminate()
        sink.wait()
    print(f"medians of {args.repeat}")
    for name, rows in figures.items():
        loop_us, worker_us, rate = (statistics.median(r[i] for r in rows) for i in range(3))
        print(f"{name:8} loop {loop_us:5.1f} µs/POST  worker {worker_us:5.1f} µs/POST  {rate:6.0f} POSTs/s")


if __name__ == "__main__":
    main()
