"""Durable state behind one interface.

The daemon keeps hot state (alerts, the notification log) in memory and
writes through a :class:`Store`. A write returns once it is durable
(committed), which is what lets the API answer 2xx. The SQLite store is
the default; a networked database can implement the same methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

import msgspec

from tocsin.models import Alert, Notification

if TYPE_CHECKING:
    from tocsin.silences import Silence

__all__ = ["NflogEntry", "StorageError", "Store"]


class StorageError(Exception):
    """The store could not make a write durable (disk full, read-only...)."""


class NflogEntry(msgspec.Struct, frozen=True, kw_only=True):
    """What a receiver's integration was last told about a group."""

    group_key: str
    receiver: str
    integration: str
    firing: frozenset[str]
    resolved: frozenset[str]
    sent_at: float
    expires_at: float


class Attempt(msgspec.Struct, kw_only=True):
    """One try at delivering one notification through one integration."""

    id: int = 0
    at: float
    receiver: str
    integration: str
    group_key: str
    attempt: int
    #: HTTP (or SMTP) status when there was an answer.
    status: int | None = None
    latency: float
    error: str = ""


class DeadLetter(msgspec.Struct, kw_only=True):
    """A notification that exhausted its retries, kept for replay."""

    id: int = 0
    at: float
    receiver: str
    integration: str
    group_key: str
    attempts: int
    error: str
    notification: Notification


class Store(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def load_alerts(self) -> list[Alert]: ...

    async def save_alerts(self, alerts: Sequence[Alert]) -> None:
        """Insert or replace; durable when it returns. Raises StorageError."""

    async def delete_alerts(self, fingerprints: Iterable[str]) -> None: ...

    async def load_nflog(self, now: float) -> list[NflogEntry]:
        """Entries not yet expired at ``now``."""

    async def save_nflog(self, entry: NflogEntry) -> None: ...

    async def expire_nflog(self, now: float) -> int: ...

    async def save_silences(self, silences: Sequence[Silence]) -> None: ...

    async def load_silences(self) -> list[Silence]: ...

    async def delete_silences(self, ids: Iterable[str]) -> None: ...

    async def save_attempt(self, attempt: Attempt) -> None: ...

    async def load_attempts(self, limit: int = 100) -> list[Attempt]: ...

    async def expire_attempts(self, before: float) -> None: ...

    async def save_dead_letter(self, dead_letter: DeadLetter) -> None:
        """Insert or replace by ``id`` (the caller assigns ids)."""

    async def load_dead_letters(self) -> list[DeadLetter]: ...

    async def delete_dead_letter(self, dead_letter_id: int) -> None: ...
