"""The in-process event bus.

Each subscriber gets its own bounded queue. ``publish`` waits for room, so a
slow consumer slows its publishers (back-pressure) instead of growing memory.
Subscribers choose the event types they want; a publish nobody wants costs a
dict lookup.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from tocsin.core.events import Event

__all__ = ["EventBus", "Subscription"]


class Subscription:
    def __init__(self, bus: EventBus, name: str, types: tuple[type[Event], ...], maxsize: int) -> None:
        self.bus = bus
        self.name = name
        self.types = types
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)

    def close(self) -> None:
        self.bus._unsubscribe(self)

    def depth(self) -> int:
        return self.queue.qsize()

    async def get(self) -> Event:
        return await self.queue.get()

    def task_done(self) -> None:
        self.queue.task_done()

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            event = await self.queue.get()
            try:
                yield event
            finally:
                self.queue.task_done()

    async def drained(self) -> None:
        """Wait until every event published so far has been handled."""
        await self.queue.join()


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._by_type: dict[type, list[Subscription]] = {}

    def subscribe(
        self, name: str, types: tuple[type[Event], ...] = (Event,), maxsize: int = 4096
    ) -> Subscription:
        sub = Subscription(self, name, types, maxsize)
        self._subs.append(sub)
        self._by_type.clear()
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            self._by_type.clear()

    def _targets(self, cls: type) -> list[Subscription]:
        targets = self._by_type.get(cls)
        if targets is None:
            targets = [s for s in self._subs if issubclass(cls, s.types)]
            self._by_type[cls] = targets
        return targets

    async def publish(self, event: Event) -> None:
        for sub in self._targets(type(event)):
            q = sub.queue
            if q.full():
                await q.put(event)
            else:
                q.put_nowait(event)

    def subscriptions(self) -> list[Subscription]:
        return list(self._subs)

    async def drained(self) -> None:
        for sub in list(self._subs):
            await sub.drained()

    def stats(self) -> dict[str, Any]:
        return {s.name: s.depth() for s in self._subs}
