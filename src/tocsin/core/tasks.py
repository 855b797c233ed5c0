"""The runtime's background work: one task group for its loops and its jobs.

Every task the runtime starts (the dispatcher's flushes, escalation steps,
expiries, remediation runs, maintenance, the long-lived loops) belongs to one
:class:`asyncio.TaskGroup`, opened when the runtime starts and closed when it
stops, so nothing it started can outlive it. Unlike a bare task group, a job
that fails is logged, not raised into the group: one broken job must not
cancel the others (the loops among them). Stopping waits for jobs up to a
deadline, then cancels what is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog

__all__ = ["Background"]

log = structlog.get_logger("tocsin.core.tasks")


class Background:
    """Loops (run until the group closes) and jobs (run to their end), in one task group."""

    def __init__(self) -> None:
        self._group: asyncio.TaskGroup | None = None
        self._loops: list[asyncio.Task[Any]] = []
        #: Jobs not finished yet: what a stop waits for.
        self._jobs: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    async def open(self) -> None:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()

    def loop(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start a long-lived loop; :meth:`dead` names those that ended early."""
        task = self._create(coro, name)
        self._loops.append(task)
        return task

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any] | None:
        """Start a job the runtime waits for at stop. After the group closed, the job is
        dropped (logged): nothing may start once the runtime has stopped."""
        if self._group is None:
            coro.close()
            log.warning("background job not started: the runtime is stopped", task=name)
            return None
        task = self._create(coro, name)
        self._jobs.add(task)
        self._idle.clear()
        task.add_done_callback(self._job_done)
        return task

    def _create(self, coro: Coroutine[Any, Any, Any], name: str | None) -> asyncio.Task[Any]:
        if self._group is None:
            raise RuntimeError("the task group is not open")
        return self._group.create_task(_logged(coro, name), name=name)

    def _job_done(self, task: asyncio.Task[Any]) -> None:
        self._jobs.discard(task)
        if not self._jobs:
            self._idle.set()

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
        group, self._group = self._group, None
        if group is None:
            return
        for task in (*self._loops, *self._jobs):
            task.cancel()
        await group.__aexit__(None, None, None)
        self._loops.clear()


async def _logged(coro: Coroutine[Any, Any, Any], name: str | None) -> Any:
    try:
        return await coro
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("background task failed", task=name, error=repr(exc), exc_info=exc)
        return None
