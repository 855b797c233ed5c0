"""Group commit: writes from concurrent callers committed together.

Each caller queues its operations and waits; a loop takes everything queued,
hands it to the store's commit as one transaction, and answers every caller
with the outcome. Under load this turns many small commits into few larger
ones; alone, a write still gets its own commit. A caller is answered only once
its operations are committed (or have failed), and the commit goes on even if
the caller is cancelled meanwhile. A record nothing waits on is posted instead
(:meth:`GroupCommit.post`): it goes with the next commit, and the caller goes on.
Both stores write through it: SQLite (:mod:`tocsin.store.sqlite`) and
PostgreSQL (:mod:`tocsin.store.postgres`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from tocsin.store import StorageError
from tocsin.store.rows import Op

__all__ = ["Commit", "GroupCommit"]

log = structlog.get_logger("tocsin.store")

#: Commits ``ops`` in one transaction, or raises (a :class:`StorageError` says why in
#: the words a caller gets; anything else is logged and reported as a failed write).
Commit = Callable[[list[Op]], Awaitable[None]]

_Batch = list[tuple[list[Op], asyncio.Future[None]]]


def _answer(batch: _Batch, error: StorageError | None) -> None:
    for _, fut in batch:
        if not fut.done():
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(error)


def _posted(fut: asyncio.Future[None], what: str) -> None:
    if not fut.cancelled() and (exc := fut.exception()) is not None:
        log.error(f"{what} not recorded", error=str(exc))


class GroupCommit:
    """The write queue of one store. ``slots`` transactions may be in flight at once:
    what comes in while they run waits for a slot and goes as one."""

    def __init__(self, commit: Commit, *, slots: int = 1, name: str = "tocsin-store-writer",
                 linger: float = 0.0) -> None:
        self._commit = commit
        self._slots = slots
        self._name = name
        #: How long a commit that nobody waits for (only :meth:`submit` and :meth:`post`
        #: queued) waits for more to join it; a :meth:`write` or :meth:`hurry` ends the wait.
        self.linger = linger
        self._pending: _Batch = []
        self._wakeup = asyncio.Event()
        self._urgent = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._loop(), name=self._name)

    def submit(self, ops: list[Op]) -> asyncio.Future[None]:
        """Queue ``ops``; the future of their commit (a StorageError when it fails).
        Raises StorageError when closed."""
        return self._enqueue(ops)

    def _enqueue(self, ops: list[Op]) -> asyncio.Future[None]:
        if self._task is None or self._closing:
            raise StorageError("the store is closed")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((ops, fut))
        self._wakeup.set()
        return fut

    async def write(self, ops: list[Op]) -> None:
        """Once ``ops`` are committed. Raises StorageError."""
        # The commit goes on even if this caller is cancelled: it is a task of its own,
        # which answers only the futures not done (a cancelled caller's is).
        fut = self._enqueue(ops)
        self._urgent.set()
        await fut

    def hurry(self) -> None:
        """Commit what is queued without lingering: someone waits for it now."""
        self._urgent.set()

    def post(self, ops: list[Op], what: str) -> None:
        """Queue ``ops`` for the next commit without waiting for it: for records that
        nothing waits on (a delivery attempt), which then share the commit of the
        writes queued after them (a delivery's notification-log entry). A failed
        commit is logged, naming ``what``. Raises StorageError when closed."""
        self._enqueue(ops).add_done_callback(lambda fut: _posted(fut, what))

    async def close(self) -> None:
        """Commit what is queued, refuse what comes after, and end the loop."""
        self._closing = True
        self._wakeup.set()
        self._urgent.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        slots = asyncio.Semaphore(self._slots)
        in_flight: set[asyncio.Task[None]] = set()
        while True:
            await self._wakeup.wait()
            if self.linger and not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), self.linger)
            await slots.acquire()
            self._urgent.clear()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if not batch:
                slots.release()
                if self._closing:
                    break
                continue
            task = asyncio.create_task(self._run(batch))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            task.add_done_callback(lambda _: slots.release())
            if self._closing:
                self._wakeup.set()  # once more, to find nothing left (closing refuses writes) and end
        if in_flight:
            await asyncio.wait(in_flight)

    async def _run(self, batch: _Batch) -> None:
        ops = [op for item, _ in batch for op in item]
        try:
            await self._commit(ops)
            error = None
        except StorageError as exc:
            error = exc
        except Exception as exc:  # anything unforeseen: no caller is left waiting
            log.error("database write failed", error=str(exc), exc_info=exc)
            error = StorageError(f"database write failed: {exc}")
        _answer(batch, error)
