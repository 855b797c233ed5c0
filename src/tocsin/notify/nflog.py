"""The notification log: what each integration was last told about each group.

It decides whether a flush sends anything, with Alertmanager's rules:

1. nothing logged yet: notify only if something fires;
2. an alert fires that the last notice did not carry as firing: notify;
3. nothing fires now: notify (the all-resolved notice) only if the last
   notice had firing alerts, whatever ``send_resolved`` says;
4. ``send_resolved`` and a resolved alert the last notice did not carry: notify;
5. otherwise only once ``repeat_interval`` has passed since the last notice,
   and not at all while every firing alert is acknowledged (tocsin's addition).
"""

from __future__ import annotations

from collections.abc import Iterable

from tocsin.store import NflogEntry, Store

__all__ = ["NotificationLog", "needs_update"]


def needs_update(
    entry: NflogEntry | None,
    firing: frozenset[str],
    resolved: frozenset[str],
    *,
    send_resolved: bool,
    repeat_interval: float,
    now: float,
    acknowledged: bool = False,
) -> bool:
    if entry is None:
        return bool(firing)
    if not firing <= entry.firing:
        return True
    if not firing:
        return bool(entry.firing)
    if send_resolved and not resolved <= entry.resolved:
        return True
    if acknowledged:
        return False  # someone has every firing alert in hand: no reminders
    # Strictly before, as Alertmanager's entry.Timestamp.Before(now - repeat).
    return entry.sent_at < now - repeat_interval


class NotificationLog:
    """In memory, written through to the store on every record."""

    def __init__(self, store: Store, retention: float = 5 * 86400.0) -> None:
        self.store = store
        self.retention = retention
        self._entries: dict[tuple[str, str, str], NflogEntry] = {}

    def load(self, entries: Iterable[NflogEntry]) -> None:
        for e in entries:
            self._entries[(e.group_key, e.receiver, e.integration)] = e

    def get(self, group_key: str, receiver: str, integration: str) -> NflogEntry | None:
        return self._entries.get((group_key, receiver, integration))

    def entry(self, group_key: str, receiver: str, integration: str, firing: frozenset[str],
              resolved: frozenset[str], now: float) -> NflogEntry:
        """The entry that says ``integration`` of ``receiver`` was told of the group at ``now``."""
        return NflogEntry(
            group_key=group_key, receiver=receiver, integration=integration,
            firing=firing, resolved=resolved, sent_at=now, expires_at=now + self.retention,
        )

    def keep(self, entry: NflogEntry) -> None:
        """``entry`` in memory (the caller writes it to the store: :meth:`record` does both)."""
        self._entries[(entry.group_key, entry.receiver, entry.integration)] = entry

    async def record(
        self,
        group_key: str,
        receiver: str,
        integration: str,
        firing: frozenset[str],
        resolved: frozenset[str],
        now: float,
    ) -> None:
        entry = self.entry(group_key, receiver, integration, firing, resolved, now)
        self.keep(entry)
        await self.store.save_nflog(entry)

    async def gc(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if e.expires_at <= now]:
            del self._entries[key]
        await self.store.expire_nflog(now)

    def __len__(self) -> int:
        return len(self._entries)
