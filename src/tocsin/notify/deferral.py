"""A sent notification's records give way to the sends still due.

Once a notification is sent, what is left of its delivery is bookkeeping:
the write that makes its notification-log entry, its incidents' "notified"
events and its attempt durable; the dead letters it supersedes; its log line,
metrics and event. In an alert storm (thousands of groups due within a second,
each its own notification) that bookkeeping is about a quarter of the event
loop's time per notification, and it runs between the sends of the groups
waiting their turn: each later notification leaves that much later.

:class:`Deferral` holds that bookkeeping while groups wait for a flush worker
(the dispatcher's queues are not empty) and the loop has no time to spare (it
is busy, as :mod:`tocsin.dispatch.backpressure` measures it: a queue behind a
slow receiver, with the loop idle, holds nothing). It lets it all go together
when the last queue empties, or :data:`MOST` seconds after the first one
held, whichever comes first: :data:`CHUNK` at a time, so their writes share
commits and the loop serves ingest and due timers between two chunks. In the
usual case nothing is held: a delivery does its bookkeeping before its flush
ends.

What holding changes, in a storm only:

* a notification's records are durable up to :data:`MOST` seconds after it
  was sent, not within its flush. The notification log in memory learns of the
  send at once, so the group's next flush knows what was sent; but a
  ``kill -9`` within that window sends those notifications again at the next
  start. (Alertmanager keeps its notification log in memory and writes it to
  disk every 15 minutes by default.)
* its log line, metrics and ``notification.sent`` event come as late.
* a storage error while writing them is logged; the flush has ended already,
  as delivered.

A stop lets go of what is held first, and waits for it as for any work in
flight; from then on nothing is held.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

__all__ = ["CHUNK", "MOST", "Deferral"]

log = structlog.get_logger("tocsin.notify.deferral")

#: Seconds the first record held waits at most, whatever is still due.
MOST = 5.0

#: Records let go in one turn of the loop: their writes share a commit, and between
#: two runs of them the loop serves what else is waiting.
CHUNK = 64

Job = Coroutine[Any, Any, None]


def _nothing() -> None:
    return None


class _Batch:
    """Jobs let go together, and how many of them were started."""

    __slots__ = ("jobs", "started")

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self.started = 0


class Deferral:
    """Bookkeeping held while ``owed()`` says groups wait for a flush worker on a busy loop.

    ``spawn`` starts what is let go as background work (None once the runtime has
    stopped). :meth:`poke` is called when the dispatcher's queues empty.
    """

    def __init__(self, owed: Callable[[], bool], spawn: Callable[[Job, str], asyncio.Task[Any] | None],
                 *, most: float = MOST) -> None:
        self._owed = owed
        self._spawn = spawn
        self.most = most
        self._held: list[Job] = []
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        #: Called when a first job is held while none is held or being written, and when the
        #: last written (the daemon turns the cyclic collector off meanwhile:
        #: :class:`tocsin.daemon.heap.StormPause`; once written, the jobs are gone, and the
        #: first collection has little left to walk).
        self.on_hold: Callable[[], None] = _nothing
        self.on_release: Callable[[], None] = _nothing
        #: Batches held or being written.
        self._open = 0
        #: Jobs held, and jobs held that failed (metrics, tests).
        self.total = 0
        self.failed = 0

    def __len__(self) -> int:
        return len(self._held)

    def holds(self) -> bool:
        """Whether bookkeeping done now would be held (sends are owed, and not closed)."""
        return not self._closed and self._owed()

    def hold(self, job: Job) -> None:
        """Keep ``job`` until the queues empty or :attr:`most` seconds have passed."""
        if not self._held:
            self._opened()
        self._held.append(job)
        self.total += 1
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.most, self.release)

    def poke(self) -> None:
        """Let go of what is held if no group waits any more."""
        if self._held and not self._owed():
            self.release()

    def release(self) -> None:
        """Start everything held, together."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        held, self._held = self._held, []
        if not held:
            return
        batch = _Batch(held)
        task = self._spawn(self._run(batch), "delivery records")
        if task is None:
            log.warning("delivery records dropped: the runtime is stopped", records=len(held))
            self._ended(batch)
            return
        task.add_done_callback(lambda _: self._ended(batch))  # however it ends, even unstarted

    def close(self) -> None:
        """A stop: let go of what is held, and hold nothing from now on."""
        self._closed = True
        self.release()

    async def _run(self, batch: _Batch) -> None:
        """Run ``batch`` :data:`CHUNK` jobs at a time."""
        jobs = batch.jobs
        while batch.started < len(jobs):
            chunk = jobs[batch.started:batch.started + CHUNK]
            batch.started += len(chunk)
            for r in await asyncio.gather(*chunk, return_exceptions=True):
                if isinstance(r, Exception):
                    self.failed += 1
                    log.error("delivery records not written", error=f"{type(r).__name__}: {r}")

    def _ended(self, batch: _Batch) -> None:
        """A batch is written, or given up (cancelled, not started): what it never
        started is closed."""
        for job in batch.jobs[batch.started:]:
            job.close()
        self._closed_one()

    def _opened(self) -> None:
        self._open += 1
        if self._open == 1:
            self.on_hold()

    def _closed_one(self) -> None:
        self._open -= 1
        if not self._open:
            self.on_release()
