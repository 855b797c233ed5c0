"""What stands in for the daemon's delivery and task group in a replay.

:class:`RecordingDelivery` makes the notification-log decision the daemon's delivery makes
for each integration (:func:`~tocsin.notify.nflog.needs_update` on the real
:class:`~tocsin.notify.nflog.NotificationLog`, a firing-only notice for an integration
without ``send_resolved``, the log told of a resolved group it does not notify) and,
where the daemon would send, records instead. Rendering, retries, attempts and dead
letters are left out: a recorder never fails.

:class:`Flushes` runs the dispatcher's flushes inline, one after the other, rather than
as tasks: nothing in a replayed flush waits on anything but itself.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

import msgspec

from tocsin.core.models import Notification
from tocsin.notify.delivery import fingerprint_sets
from tocsin.notify.nflog import NotificationLog, needs_update

__all__ = ["Flushes", "InlineTask", "RecordingDelivery"]


class InlineTask:
    """A flush waiting for its turn: what the dispatcher keeps of the task it started."""

    __slots__ = ("_callbacks", "_done", "coro")

    def __init__(self, coro: Coroutine[Any, Any, None]) -> None:
        self.coro = coro
        self._done = False
        self._callbacks: list[Callable[[Any], None]] = []

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        self._callbacks.append(fn)

    def done(self) -> bool:
        return self._done

    def cancel(self) -> bool:
        self.coro.close()
        return self._finish()

    def cancelled(self) -> bool:
        return False

    def run(self) -> None:
        try:
            while True:
                if self.coro.send(None) is not None:
                    self.coro.close()
                    raise RuntimeError("a replayed flush waited on something outside the replay")
        except StopIteration:
            pass
        self._finish()

    def _finish(self) -> bool:
        self._done = True
        for fn in self._callbacks:
            fn(self)
        return True


class Flushes:
    """The flushes started since the last :meth:`run`, run in the order they were started."""

    def __init__(self) -> None:
        self.queue: list[InlineTask] = []

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> Any:
        task = InlineTask(coro)
        self.queue.append(task)
        return task

    def run(self) -> None:
        while self.queue:
            queue, self.queue = self.queue, []
            for task in queue:
                task.run()


class RecordingDelivery:
    """Per integration of a receiver (name, send_resolved): the notification log's
    decision, then ``record(notification, integration, now)`` where the daemon sends."""

    def __init__(self, nflog: NotificationLog, integrations: Mapping[str, Iterable[tuple[str, bool]]], *,
                 acknowledged: Callable[[Iterable[str]], bool],
                 record: Callable[[Notification, str, float], None]) -> None:
        self.nflog = nflog
        self.integrations = {name: tuple(found) for name, found in integrations.items()}
        self.acknowledged = acknowledged
        self.record = record

    async def deliver(self, n: Notification) -> bool:
        integrations = self.integrations.get(n.receiver)
        if not integrations:
            return True
        firing, resolved = fingerprint_sets(n)
        acknowledged = self.acknowledged(firing)
        for integration, send_resolved in integrations:
            entry = self.nflog.get(n.group_key, n.receiver, integration)
            if not needs_update(entry, firing, resolved, send_resolved=send_resolved,
                                repeat_interval=n.repeat_interval, now=n.now,
                                acknowledged=acknowledged):
                continue
            await self.nflog.record(n.group_key, n.receiver, integration, firing, resolved, n.now)
            if send_resolved:
                self.record(n, integration, n.now)
            elif firing:
                self.record(msgspec.structs.replace(n, alerts=n.firing()), integration, n.now)
        return True
