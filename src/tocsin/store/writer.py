"""The SQLite writer process: commits transactions sent to it over a pipe.

The daemon's store can commit in a child process instead of aiosqlite's thread
(``storage.writer: process``, the default for the daemon). A commit then runs
on its own interpreter lock, beside the event loop: in a thread, the sqlite3
module hands the lock back and forth at every statement step, and under load
the commit spends most of its time waiting for the event loop to let go of it.

The protocol is one exchange per transaction, over the child's stdin and
stdout: a frame (4-byte big-endian length, then :mod:`marshal` data) holding a
list of ``(sql, params, many)`` operations, answered by a frame holding
``None`` when the transaction committed, or ``(error type, message)`` when it
was rolled back. marshal is the interpreter's own format: both ends are the
same Python (the daemon starts the child with ``sys.executable``), and the pipe
is private to them. The child imports nothing but the standard library (it
runs with ``-I -S``, for a small resident set), reads no configuration but its
arguments (database path and ``synchronous``), and exits when its stdin
closes: when the daemon closes the store, and when the daemon dies (``kill -9``
included), once the transaction in hand is committed or rolled back.

It ignores SIGINT. A Ctrl-C in a terminal goes to the whole foreground process
group, the child included; the daemon stops on it by draining what it accepted
and closing the store, which ends the child once everything sent is committed.
"""

from __future__ import annotations

import contextlib
import marshal
import re
import signal
import sqlite3
import struct
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

__all__ = ["FRAME", "FRAME_SQL", "execute", "main", "merged", "run_transaction", "transaction"]

#: The frame header: the length of the marshal data that follows.
FRAME = struct.Struct(">I")


#: An operation whose parameters are the marshal data of a list of operations, as a
#: journal frame holds them (:mod:`tocsin.store.journal`): sent to this process as they
#: were appended, not encoded a second time.
FRAME_SQL = "-- journal frame"

#: The table a write statement changes.
_TABLE = re.compile(r"\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|DELETE\s+FROM|UPDATE)\s+(\w+)", re.IGNORECASE)
#: A table the rest of it reads (a subquery's, a join's).
_READS = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)", re.IGNORECASE)

_touched: dict[str, frozenset[str] | None] = {}


def _tables(sql: str) -> frozenset[str] | None:
    """The tables ``sql`` writes or reads, or None when that is not known (then it is taken
    to touch every one). A write that reads another table (a notice names the last history
    row; an incident's row is dropped where its alert's row implies it) does not commute
    with writes to that table."""
    if sql not in _touched:
        if len(_touched) >= 256:  # the statements are the store's own, a few dozen
            _touched.clear()
        m = _TABLE.match(sql)
        _touched[sql] = None if m is None else frozenset(
            t.lower() for t in (m.group(1), *_READS.findall(sql, m.end())))
    return _touched[sql]


def _joining(out: list[tuple[str, Any, bool]], sql: str, tables: frozenset[str]) -> list[Any] | None:
    """The rows of the latest ``executemany`` of ``sql`` in ``out`` that nothing after it
    keeps apart (touches one of ``tables``), or None."""
    for earlier, rows, earlier_many in reversed(out):
        if earlier_many and earlier == sql:
            return rows
        touched = _tables(earlier)
        if touched is None or touched & tables:
            return None
    return None


def merged(ops: Sequence[Sequence[Any]]) -> list[tuple[str, Any, bool]]:
    """``ops`` with each ``executemany`` merged into an earlier one of the same statement when
    nothing between them touches a table it touches: statements on different tables
    commute, and the order of those on one table is kept. A batch of requests that each
    write alerts, incidents and history is then three statements, not three per request.
    A :data:`FRAME` operation stands for the operations its marshal data holds."""
    out: list[tuple[str, Any, bool]] = []
    for sql, params, many in ops:
        if sql == FRAME_SQL:
            for inner in marshal.loads(params):
                _merge(out, *inner)
        else:
            _merge(out, sql, params, many)
    return out


def _merge(out: list[tuple[str, Any, bool]], sql: str, params: Any, many: bool) -> None:
    tables = _tables(sql) if many else None
    into = _joining(out, sql, tables) if tables is not None else None
    if into is not None:
        into.extend(params)
    else:
        out.append((sql, list(params) if many else params, many))


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, begin: str = "BEGIN") -> Iterator[None]:
    """A transaction begun with ``begin``, committed when the block ends, rolled back whole
    when it raises."""
    conn.execute(begin)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def execute(conn: sqlite3.Connection, ops: Sequence[Sequence[Any]]) -> None:
    """Every operation, with each ``executemany`` merged as :func:`merged` allows."""
    for sql, params, many in merged(ops):
        if many:
            conn.executemany(sql, params)
        else:
            conn.execute(sql, params)


def run_transaction(conn: sqlite3.Connection, ops: Sequence[Sequence[Any]]) -> None:
    """Every operation in one transaction, rolled back whole on any error. Consecutive
    ``executemany`` of the same statement are merged into one."""
    with transaction(conn):
        execute(conn, ops)


def connect(path: str, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=5000")
    # The daemon's checkpointer copies the WAL into the database, off the commit path.
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


def _read_exactly(stream: IO[bytes], n: int) -> bytes | None:
    data = stream.read(n)
    return data if data is not None and len(data) == n else None


def serve(conn: sqlite3.Connection, rd: IO[bytes], wr: IO[bytes]) -> None:
    """Answer transactions until ``rd`` ends."""
    while True:
        head = _read_exactly(rd, FRAME.size)
        if head is None:
            return
        body = _read_exactly(rd, FRAME.unpack(head)[0])
        if body is None:
            return
        try:
            run_transaction(conn, marshal.loads(body))
            reply = marshal.dumps(None)
        except (sqlite3.Error, EOFError, ValueError, TypeError) as exc:
            reply = marshal.dumps((type(exc).__name__, str(exc)))
        wr.write(FRAME.pack(len(reply)) + reply)
        wr.flush()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m tocsin.store.writer DATABASE SYNCHRONOUS", file=sys.stderr)
        return 2
    conn = connect(args[0], args[1])
    try:
        serve(conn, sys.stdin.buffer, sys.stdout.buffer)
    except BrokenPipeError:  # the daemon is gone; what was committed stays committed
        pass
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    # The daemon ends this process when it stops, after the last commit (see above).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(main())
