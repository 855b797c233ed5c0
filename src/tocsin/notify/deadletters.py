"""The dead-letter table: notifications that exhausted their retries.

Kept in memory and in the store; ``replay`` sends one again through the
integration it failed on (as configured now), ``drop`` forgets it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tocsin.core.models import Notification
from tocsin.store import DeadLetter, Store

__all__ = ["DeadLetterQueue"]


class DeadLetterQueue:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._items: dict[int, DeadLetter] = {}
        self._next_id = 1

    def load(self, items: Iterable[DeadLetter]) -> None:
        for d in items:
            self._items[d.id] = d
            self._next_id = max(self._next_id, d.id + 1)

    def __len__(self) -> int:
        return len(self._items)

    def list(self) -> list[DeadLetter]:
        return sorted(self._items.values(), key=lambda d: d.id)

    def get(self, dead_letter_id: int) -> DeadLetter | None:
        return self._items.get(dead_letter_id)

    async def add(self, *, receiver: str, integration: str, n: Notification, attempts: int,
                  error: str, now: float) -> DeadLetter:
        d = DeadLetter(id=self._next_id, at=now, receiver=receiver, integration=integration,
                       group_key=n.group_key, attempts=attempts, error=error, notification=n)
        self._next_id += 1
        await self.store.save_dead_letter(d)
        self._items[d.id] = d
        return d

    async def update(self, d: DeadLetter) -> None:
        await self.store.save_dead_letter(d)
        self._items[d.id] = d

    async def drop(self, dead_letter_id: int) -> bool:
        if dead_letter_id not in self._items:
            return False
        await self.store.delete_dead_letters([dead_letter_id])
        del self._items[dead_letter_id]
        return True

    async def drop_superseded(self, group_key: str, receiver: str, integration: str, at: float) -> int:
        """Drop the group notifications of one integration made no later than ``at``: a
        newer state of the group got through, so sending them again would only undo it.
        Lifecycle notices (acknowledged, escalated, ...) are not group states and stay."""
        return await self._drop_where(
            lambda d: d.group_key == group_key and d.receiver == receiver and d.integration == integration
            and not d.notification.event and d.notification.now <= at)

    async def expire(self, before: float) -> int:
        """Drop dead letters last tried before ``before`` (``storage.history_retention``)."""
        return await self._drop_where(lambda d: d.at < before)

    async def _drop_where(self, doomed: Callable[[DeadLetter], bool]) -> int:
        """Drop every dead letter ``doomed`` picks, in one write."""
        ids = [d.id for d in self._items.values() if doomed(d)]
        if ids:
            await self.store.delete_dead_letters(ids)
            for dead_letter_id in ids:
                del self._items[dead_letter_id]
        return len(ids)
