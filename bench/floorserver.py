"""One floor server of bench/floor.py: aiohttp and msgspec, and (as asked) an append or a
committed SQLite row per alert before the answer; nothing else. bench/floor.py starts it:

    python bench/floorserver.py --port P [--db PATH | --journal PATH]

The SQLite row goes through tocsin's own group commit (:class:`tocsin.store.batching.GroupCommit`)
and transaction (:func:`tocsin.store.writer.run_transaction`), in one writer thread, with WAL
and ``synchronous=NORMAL`` as tocsin's default: the floor is that of the same machinery.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import importlib.util
import os
import sqlite3
import sys

import msgspec
from aiohttp import web

from tocsin.store.batching import GroupCommit
from tocsin.store.rows import Op
from tocsin.store.writer import connect, run_transaction

INSERT = "INSERT OR REPLACE INTO alerts VALUES (?, ?)"


class PostableAlert(msgspec.Struct):
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: str = ""
    endsAt: str = ""
    generatorURL: str = ""


class Rows:
    """The alerts table, written in one thread through a group commit."""

    def __init__(self, path: str) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="floor-writer")
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self.queue = GroupCommit(self._commit, name="floor-writer")

    def _open(self) -> None:
        self._conn = connect(self._path, "NORMAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS alerts (key TEXT PRIMARY KEY, body BLOB NOT NULL)")

    async def _commit(self, ops: list[Op]) -> None:
        assert self._conn is not None
        await asyncio.get_running_loop().run_in_executor(self._pool, run_transaction, self._conn, ops)

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self._open)
        self.queue.start()


def floor_app(db: str | None, journal: str | None = None) -> web.Application:
    decode = msgspec.json.Decoder(list[PostableAlert]).decode
    pack = msgspec.msgpack.Encoder().encode
    key = msgspec.json.Encoder().encode
    rows = Rows(db) if db else None
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if journal else None

    async def post(request: web.Request) -> web.Response:
        try:
            alerts = decode(await request.read())
        except msgspec.ValidationError as e:
            return web.Response(status=400, text=str(e))
        if fd is not None:
            os.write(fd, pack(alerts))
        if rows is not None:
            found = [(key(sorted(a.labels.items())).decode(), pack(a)) for a in alerts]
            await rows.queue.write([(INSERT, found, True)])
        return web.Response()

    async def ready(_: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def on_startup(_: web.Application) -> None:
        if rows is not None:
            await rows.start()

    app = web.Application(client_max_size=1 << 26)
    app.router.add_post("/api/v2/alerts", post)
    app.router.add_get("/-/ready", ready)
    app.on_startup.append(on_startup)
    return app


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--db", help="SQLite file for one row per alert (none: nothing stored)")
    ap.add_argument("--journal", help="file each request's alerts are appended to")
    args = ap.parse_args(argv)
    if importlib.util.find_spec("uvloop") is not None:  # as tocsin serve does
        import uvloop
        uvloop.install()
    web.run_app(floor_app(args.db, args.journal), host="127.0.0.1", port=args.port, access_log=None,
                print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
