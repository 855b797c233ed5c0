"""The ingest journal: what ingest accepted, kept before the database has it.

With ``synchronous: NORMAL`` (the default), a commit survives a crash of the
process but not of the machine: SQLite writes it to the WAL without ``fsync``.
An append to a file survives the same. So ingest answers its 2xx once the
request's rows are appended to ``<database>.journal``, and the writer commits
them after, many requests to a transaction, with nobody waiting on the commit.

The file is a header (:data:`MAGIC`, then the 16-byte id of the database it
belongs to) and frames: a 16-byte head (body length, CRC-32 of the body, the
frame's sequence number, big-endian) and the body, the transaction's
operations in :mod:`marshal` format (the writer process's own format: both
ends are this Python), the last of which moves the database's mark to the
frame. The body goes to the writer as it was appended, not encoded again.

Each commit of journaled operations also sets the database's ``journal_mark``
to the last frame it holds, and a trigger refuses a mark that does not follow
the one before. So the database always holds the frames up to its mark and no
frame after it, even when a commit failed and the next one (already on its way
to the writer process) did not. When the store opens, the frames after the
mark are committed (:func:`read_frames`, :func:`replay`), and the file is
emptied. It is emptied too whenever every frame appended is
committed and it has grown past :data:`SETTLE_AT`.

A commit of journaled frames that fails (a full disk) does not lose them: they
are committed again, every :data:`RETRY` seconds and before each request ingest
takes, until that succeeds (:class:`Journaled`). Meanwhile the store reports the
failure and refuses every other write (nothing is committed ahead of them), so
ingest answers 503 and ``/-/ready`` is red; a restart commits them from the file.

A frame cut short (the process killed within the ``write``) was never answered;
it is dropped at the next start. A journal that belongs to another database (one
restored from a backup, or created anew) is not replayed into this one: it is
renamed ``<database>.journal.unreplayed`` and a warning names it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import marshal
import os
import sqlite3
import struct
import zlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

import structlog

from tocsin.store import StorageError
from tocsin.store.rows import Op
from tocsin.store.writer import FRAME_SQL, execute, transaction

__all__ = ["AHEAD", "MAGIC", "MARK_SQL", "SETTLE_AT", "Found", "Journal", "Journaled", "read_frames",
           "remove", "replay", "set_aside"]

log = structlog.get_logger("tocsin.store")

#: The file's first bytes; the database's id follows.
MAGIC = b"tocsin-journal\x00\x01"
#: A frame's head: body length, CRC-32 of the body, sequence number.
HEAD = struct.Struct(">IIQ")
#: Where the header ends and the frames begin.
START = len(MAGIC) + 16
#: The file is emptied once everything in it is committed and it is at least this big.
SETTLE_AT = 4 << 20
#: Seconds between attempts to commit journaled frames whose commit failed.
RETRY = 1.0
#: How far ahead of the commits the journal may run, in bytes of frames: past this, a
#: journaled write waits for its commit, as a write without the journal does. So the
#: transactions the writer is sent, and the frames held for them, stay about a megabyte
#: (about 1,000 alerts). At 256 KiB, an alert storm's ingest waited on commits (17,500
#: against 20,800 alerts/s, docs/performance.md).
AHEAD = 1 << 20

#: Sets the mark to a frame's sequence number: the frame's last operation. One row per
#: frame, so that a commit of many frames is one ``executemany``.
MARK_SQL = "UPDATE journal_mark SET seq = ? WHERE id = 1"


class Found(NamedTuple):
    """What :func:`read_frames` found: the whole frames, in order; ``dropped``, the bytes
    of a frame cut short at the end; ``foreign``, whether the file belongs to another
    database (then ``frames`` is empty)."""

    frames: list[tuple[int, list[Any]]]
    dropped: int
    foreign: bool


def read_frames(path: str, db_id: bytes) -> Found | None:
    """The frames of the journal at ``path``, if it is ``db_id``'s database's; None when
    there is no file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    if len(data) < START or data[:len(MAGIC)] != MAGIC:
        return Found([], len(data), foreign=bool(data))
    if data[len(MAGIC):START] != db_id:
        return Found([], 0, foreign=True)
    frames: list[tuple[int, list[Any]]] = []
    at = START
    while at + HEAD.size <= len(data):
        size, crc, seq = HEAD.unpack_from(data, at)
        body = data[at + HEAD.size:at + HEAD.size + size]
        if len(body) < size or zlib.crc32(body) != crc:
            break
        at += HEAD.size + size
        frames.append((seq, marshal.loads(body)))
    return Found(frames, len(data) - at, foreign=False)


def replay(conn: sqlite3.Connection, frames: list[tuple[int, list[Any]]]) -> tuple[int, int] | None:
    """Commit the ``frames`` the database behind ``conn`` does not hold (those after its
    mark), in one transaction that holds the write lock from the mark's reading on (a
    writer process of the daemon before may still be committing what it was sent). The
    frames committed and the mark after, or None when the frames do not follow on from
    the mark (they belong to a later state of the database than this one: it was
    restored from a backup); then nothing is written."""
    with transaction(conn, "BEGIN IMMEDIATE"):
        (mark,) = conn.execute("SELECT seq FROM journal_mark WHERE id = 1").fetchone()
        todo = [(seq, ops) for seq, ops in frames if seq > mark]
        if [seq for seq, _ in todo] != list(range(mark + 1, mark + 1 + len(todo))):
            return None  # (the transaction ends having written nothing)
        execute(conn, [op for _, frame in todo for op in frame])  # each frame ends in its mark's move
    return len(todo), mark + len(todo)


class Journal:
    """The open journal of one database: frames appended, and emptied when settled."""

    def __init__(self, path: str, db_id: bytes, seq: int) -> None:
        self.path = path
        self.db_id = db_id
        #: The last sequence number given to a frame.
        self.seq = seq
        self.size = 0
        self._fd: int | None = None

    def open(self) -> None:
        """Open the file, emptied (what it held is committed, or was set aside)."""
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.empty()

    def append(self, ops: Sequence[Op]) -> tuple[int, bytes]:
        """Append ``ops``, and the mark's move to it, as the next frame; its sequence number
        and body. Raises StorageError (the file is cut back to what it held before)."""
        fd = self._fd
        if fd is None:
            raise StorageError("the journal is closed")
        seq = self.seq + 1
        body = marshal.dumps([*((sql, params if isinstance(params, list | tuple) else list(params), many)
                                for sql, params, many in ops), (MARK_SQL, [(seq,)], True)])
        frame = HEAD.pack(len(body), zlib.crc32(body), seq) + body
        try:
            written = os.write(fd, frame)
            if written != len(frame):
                raise OSError(f"short write ({written} of {len(frame)} bytes)")
        except OSError as exc:
            with contextlib.suppress(OSError):  # else what is cut short is dropped at the next start
                os.ftruncate(fd, self.size)
            raise StorageError(f"the journal {self.path} could not be written: {exc}") from exc
        self.seq = seq
        self.size += len(frame)
        return seq, body

    def settle(self) -> None:
        """Every frame appended is committed: empty the file if it has grown big."""
        if self.size >= SETTLE_AT:
            self.empty()

    def empty(self) -> None:
        fd = self._fd
        if fd is None:
            return
        os.ftruncate(fd, 0)
        os.write(fd, MAGIC + self.db_id)
        self.size = START

    def close(self, *, settled: bool) -> None:
        """Close the file, emptied when ``settled`` (everything appended is committed)."""
        if self._fd is None:
            return
        try:
            if settled:
                self.empty()
        finally:
            os.close(self._fd)
            self._fd = None


def remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def set_aside(path: str) -> str:
    """Move a journal that cannot be replayed out of the way; where it went."""
    aside = path + ".unreplayed"
    os.replace(path, aside)
    return aside


class Journaled:
    """The journaled writes of one open store: appended to ``journal``, then committed
    through ``submit`` (the store's write queue, without waiting); frames whose commit
    failed are committed again through ``write`` (waiting), after the frames the
    database's mark (``mark()``) already holds are dropped."""

    def __init__(self, journal: Journal, *, submit: Callable[[list[Op]], asyncio.Future[None]],
                 write: Callable[[list[Op]], Awaitable[None]], mark: Callable[[], Awaitable[int]]) -> None:
        self.journal = journal
        self._submit = submit
        self._write = write
        self._mark = mark
        #: Frames appended whose commit is not known to have succeeded, in order.
        self._unsettled: collections.deque[tuple[int, bytes]] = collections.deque()
        #: The commit of the last frame submitted, until it is done.
        self.last: asyncio.Future[None] | None = None
        #: The bytes of the frames appended and not known to be committed.
        self.ahead = 0
        #: Why frames wait for a commit that failed, or None.
        self.failure: str | None = None
        self._retry: asyncio.Task[None] | None = None
        self._attempt: asyncio.Future[None] | None = None

    def append(self, ops: list[Op]) -> asyncio.Future[None] | None:
        """Journal ``ops`` and submit them for the next commit; the commit's future when
        the caller should wait for it (more than :data:`AHEAD` bytes are not committed
        yet), else None. Raises StorageError."""
        seq, body = self.journal.append(ops)
        self._unsettled.append((seq, body))
        self.ahead += len(body)
        # The frame as appended: the writer decodes it (tocsin.store.writer.merged).
        fut = self.last = self._submit([(FRAME_SQL, body, False)])
        fut.add_done_callback(lambda f: self._committed(f, seq))
        return fut if self.ahead > AHEAD else None

    def _committed(self, fut: asyncio.Future[None], seq: int) -> None:
        if fut is self.last:
            self.last = None
        if fut.cancelled() or fut.exception() is not None:
            if self.failure is None:
                why = "cancelled" if fut.cancelled() else str(fut.exception())
                self.failure = (f"journaled writes are not committed ({why}); they are kept in "
                                f"{self.journal.path}, and committed again every {RETRY:g} s")
                log.error("journaled writes not committed; ingest is refused until they are",
                          reason=why, path=self.journal.path)
                if self._retry is None or self._retry.done():
                    self._retry = asyncio.create_task(self._again(), name="tocsin-store-journal-retry")
            return
        self._drop_through(seq)
        if not self._unsettled and self.failure is None:
            self.journal.settle()

    async def _again(self) -> None:
        """Commit the unsettled frames again every :data:`RETRY` seconds until that succeeds."""
        while self.failure is not None:
            await asyncio.sleep(RETRY)
            try:
                await self.recover()
            except StorageError as exc:
                log.warning("journaled writes still not committed", error=str(exc), path=self.journal.path)

    async def recover(self) -> None:
        """Commit the unsettled frames the database does not hold, now: one attempt, shared
        by every caller meanwhile (ingest tries this before it refuses a request). Raises
        StorageError while that fails."""
        if self.failure is None:
            return
        if self._attempt is None or self._attempt.done():
            self._attempt = asyncio.ensure_future(self._commit_unsettled())
            self._attempt.add_done_callback(lambda t: t.cancelled() or t.exception())
        await asyncio.shield(self._attempt)

    async def _commit_unsettled(self) -> None:
        if self.last is not None:  # submitted before the failure: let them end first
            await asyncio.wait([self.last])
        self._drop_through(await self._mark())
        ops: list[Op] = [(FRAME_SQL, body, False) for _, body in self._unsettled]
        if ops:
            await self._write(ops)
        self._unsettled.clear()
        self.ahead = 0
        self.failure = None
        log.info("journaled writes committed again; ingest resumes", path=self.journal.path)
        self.journal.settle()

    def _drop_through(self, seq: int) -> None:
        """Frames up to ``seq`` are committed: no longer held."""
        while self._unsettled and self._unsettled[0][0] <= seq:
            self.ahead -= len(self._unsettled.popleft()[1])

    async def settled(self) -> None:
        """Once the frames submitted so far are committed (or have failed)."""
        if (fut := self.last) is not None:
            await asyncio.wait([fut])

    async def close(self) -> None:
        """After the store's queue is closed: stop retrying; close the file, emptied when
        every frame is committed (else the next start commits what it holds)."""
        for task in (self._retry, self._attempt):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, StorageError):
                    await task
        self._retry = self._attempt = None
        last = self.last
        settled = last is None or (last.done() and not last.cancelled() and last.exception() is None)
        self.journal.close(settled=settled and self.failure is None)
