"""The in-memory alert state: every alert tocsin holds, by fingerprint."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, KeysView

from tocsin.core.models import Alert

__all__ = ["AlertState"]


class AlertState:
    """Authoritative in memory; the store is written through.

    ``dirty`` holds fingerprints whose only change was an ``ends_at`` bump
    from a re-post. They are persisted in batches (see ``Runtime``), since
    losing one in a crash only shortens a still-firing alert's timeout.
    """

    __slots__ = ("_alerts", "dirty", "version")

    def __init__(self) -> None:
        self._alerts: dict[str, Alert] = {}
        self.dirty: set[str] = set()
        #: Counts the changes (an alert is replaced, never changed in place): what a cache
        #: of something computed from the alerts compares.
        self.version = 0

    def get(self, fingerprint: str) -> Alert | None:
        return self._alerts.get(fingerprint)

    def set(self, alert: Alert) -> None:
        self._alerts[alert.fingerprint] = alert
        self.version += 1

    def load(self, alerts: Iterable[Alert]) -> None:
        """:meth:`set` each of ``alerts`` (those loaded at start)."""
        self._alerts.update((a.fingerprint, a) for a in alerts)
        self.version += 1

    def delete(self, fingerprint: str) -> None:
        self._alerts.pop(fingerprint, None)
        self.dirty.discard(fingerprint)
        self.version += 1

    def __len__(self) -> int:
        return len(self._alerts)

    def __iter__(self) -> Iterator[Alert]:
        return iter(list(self._alerts.values()))

    def fingerprints(self) -> KeysView[str]:
        """The held alerts' fingerprints (a live view: copy it to change the alerts meanwhile)."""
        return self._alerts.keys()

    def __contains__(self, fingerprint: str) -> bool:
        return fingerprint in self._alerts

    def take_dirty(self) -> list[Alert]:
        out = [a for fp in self.dirty if (a := self._alerts.get(fp)) is not None]
        self.dirty.clear()
        return out

    def firing(self, now: float) -> int:
        return sum(1 for a in self._alerts.values() if not a.resolved(now))
