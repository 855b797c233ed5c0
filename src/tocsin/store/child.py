"""The daemon's end of the writer process (:mod:`tocsin.store.writer`): starting
it, sending it transactions, and hearing back.

Transactions are sent as they come and answered in the order sent (the child
takes them one at a time), so the next one can wait in the pipe while the
child commits the last. A child that died fails what it was sent, and the next
commit starts another.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import marshal
import sqlite3
import sys

from tocsin.store import writer as _writer_module
from tocsin.store.rows import Op
from tocsin.store.writer import FRAME

__all__ = ["ChildWriter"]


class ChildWriter:
    """Commits through a writer process of its own: started when the store opens,
    and again by the first commit after one died."""

    def __init__(self, path: str, synchronous: str) -> None:
        self.path = path
        self.synchronous = synchronous
        self.proc: asyncio.subprocess.Process | None = None
        self._sent: collections.deque[asyncio.Future[None]] = collections.deque()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # By file path and without site-packages: the child imports the standard library only.
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", _writer_module.__file__, self.path, self.synchronous,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read_replies(self.proc),
                                           name="tocsin-store-writer-replies")

    async def _read_replies(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        why = "its output ended"
        try:
            while True:
                (size,) = FRAME.unpack(await proc.stdout.readexactly(FRAME.size))
                reply = marshal.loads(await proc.stdout.readexactly(size))
                fut = self._sent.popleft()
                if fut.done():
                    continue
                if reply is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(sqlite3.OperationalError(reply[1]))
        except (OSError, asyncio.IncompleteReadError) as exc:
            why = type(exc).__name__
        except (EOFError, ValueError, TypeError, IndexError) as exc:  # out of step: not to be trusted
            why = f"{type(exc).__name__}: {exc}"
            proc.kill()
        finally:
            if self.proc is proc:
                self.proc = None
            err = sqlite3.OperationalError(f"the database writer process exited ({why})")
            while self._sent:
                fut = self._sent.popleft()
                if not fut.done():
                    fut.set_exception(err)

    async def commit(self, ops: list[Op]) -> None:
        if self.proc is None or self.proc.returncode is not None:
            await self.start()
        proc = self.proc
        assert proc is not None
        assert proc.stdin is not None
        body = marshal.dumps([(sql, list(params) if many else params, many)
                              for sql, params, many in ops])
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sent.append(fut)
        proc.stdin.write(FRAME.pack(len(body)) + body)  # one write: frames never interleave
        with contextlib.suppress(OSError):  # the reader sees the child gone and fails what it was sent
            await proc.stdin.drain()
        await fut

    async def close(self) -> None:
        """Let the child finish what it was sent, and end it."""
        proc = self.proc
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._reader), 10)
            except TimeoutError:
                if proc is not None and proc.returncode is None:
                    proc.kill()
                await self._reader
            self._reader = None
        if proc is not None:
            await proc.wait()
        self.proc = None

