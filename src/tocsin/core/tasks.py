"""The runtime's background work: one group for its loops and its jobs.

Every task the runtime starts (the dispatcher's flushes, escalation steps,
expiries, remediation runs, maintenance, the long-lived loops) belongs to one
:class:`Background`, opened when the runtime starts and closed when it stops,
so nothing it started can outlive it: what is left at close is cancelled and
awaited. A job that fails is logged, not raised into the group: one broken job
must not cancel the others (the loops among them). It is not an
:class:`asyncio.TaskGroup` because that costs about twice as much per task
(its own bookkeeping, and a wrapper coroutine to keep a failure from cancelling
the group), and a storm starts a flush task per group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog

__all__ = ["Background"]

log = structlog.get_logger("tocsin.core.tasks")


class Background:
    """Loops (run until the group closes) and jobs (run to their end), in one group."""

    def __init__(self) -> None:
        self._open = False
        self._loops: list[asyncio.Task[Any]] = []
        #: Jobs not finished yet: what a stop waits for.
        self._jobs: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    async def open(self) -> None:
        self._open = True

    def loop(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start a long-lived loop; :meth:`dead` names those that ended early."""
        task = self._create(coro, name)
        self._loops.append(task)
        return task

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any] | None:
        """Start a job the runtime waits for at stop. After the group closed, the job is
        dropped (logged): nothing may start once the runtime has stopped."""
        if not self._open:
            coro.close()
            log.warning("background job not started: the runtime is stopped", task=name)
            return None
        task = self._create(coro, name)
        self._jobs.add(task)
        self._idle.clear()
        return task

    def _create(self, coro: Coroutine[Any, Any, Any], name: str | None) -> asyncio.Task[Any]:
        if not self._open:
            coro.close()
            raise RuntimeError("the background group is not open")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._jobs.discard(task)
        if not self._jobs:
            self._idle.set()
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("background task failed", task=task.get_name(), error=repr(exc), exc_info=exc)

    def jobs(self) -> set[asyncio.Task[Any]]:
        """Jobs still running."""
        return {t for t in self._jobs if not t.done()}

    def dead(self) -> list[str]:
        """Loops that ended while the group is open: the runtime no longer works."""
        return [t.get_name() for t in self._loops if t.done()]

    async def settle(self) -> None:
        """Wait until no job is left (tests, and the fake clock): jobs may start jobs."""
        while self._jobs:
            await self._idle.wait()

    async def drain(self, timeout: float) -> set[asyncio.Task[Any]]:
        """Wait up to ``timeout`` for the jobs; cancel and return those still running."""
        if self._jobs:
            await asyncio.wait(set(self._jobs), timeout=timeout)
        return self.cancel_jobs()

    def cancel_jobs(self) -> set[asyncio.Task[Any]]:
        left = self.jobs()
        for task in left:
            task.cancel()
        return left

    async def close(self) -> None:
        """Cancel the loops and what jobs are left, and wait for all of them to end."""
        if not self._open:
            return
        self._open = False
        tasks = [*self._loops, *self._jobs]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loops.clear()
