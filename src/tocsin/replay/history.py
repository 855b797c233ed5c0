"""The stored history of a window, as the events a replay applies, in time order, read a
page at a time (a week of a busy daemon never sits in memory at once).

An alert fires (its incident: labels, start, and when it stopped firing, by its sender,
by timing out or by hand), is acknowledged or no longer. Alerts that fired before the
window and still fired at its start come first. Silences are read whole: the store keeps
each one's last version (its matchers and active span).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from tocsin.core.records import Incident
from tocsin.store import Store

__all__ = ["PAGE", "Acked", "Fired", "HistoryReader", "Recorded"]

#: History rows read at once.
PAGE = 5000
#: The history rows a replay applies.
_KINDS = ("fired", "acknowledged", "unacknowledged")


@dataclass(frozen=True, slots=True)
class Fired:
    """An incident opened: its alert fires from ``at`` until ``incident.resolved_at`` (0: on)."""

    at: float
    incident: Incident
    starts_at: float


@dataclass(frozen=True, slots=True)
class Acked:
    """An incident acknowledged (``on``) or no longer."""

    at: float
    incident_id: str
    fingerprint: str
    on: bool


@dataclass(frozen=True, slots=True)
class Recorded:
    """A notification the daemon recorded as sent: one alert, to one integration."""

    at: float
    incident_id: str
    receiver: str
    integration: str
    status: str


class HistoryReader:
    """Reads the window ``since`` <= t < ``until`` of ``store``."""

    def __init__(self, store: Store, since: float, until: float, page: int = PAGE) -> None:
        self.store = store
        self.since = since
        self.until = until
        self.page = page
        #: Incidents seen, by id: what the report names (labels, severity, when fired).
        self.incidents: dict[str, Incident] = {}

    async def events(self) -> AsyncIterator[Fired | Acked]:
        for inc in await self.store.incidents_open_at(self.since):
            self.incidents[inc.id] = inc
            yield Fired(at=self.since, incident=inc, starts_at=inc.starts_at or inc.fired_at)
            if inc.acknowledged_at and inc.acknowledged_at < self.since and inc.state == "acknowledged":
                yield Acked(at=self.since, incident_id=inc.id, fingerprint=inc.fingerprint, on=True)
        # History rows (by id) and the "fired" events incidents imply (by time), merged by
        # time: an implied one comes before the rows of its time.
        implied = self._implied()
        fired = await anext(implied, None)
        async for event in self._rows():
            while fired is not None and fired.at <= event.at:
                yield fired
                fired = await anext(implied, None)
            yield event
        while fired is not None:
            yield fired
            fired = await anext(implied, None)

    async def _rows(self) -> AsyncIterator[Fired | Acked]:
        after = 0
        while True:
            rows = await self.store.history_page(self.since, self.until, _KINDS, after, self.page)
            for row, inc in rows:
                if row.kind == "fired":  # an incident stored before its "fired" event was implied
                    self.incidents[inc.id] = inc
                    starts = row.detail.get("starts_at")
                    yield Fired(at=row.at, incident=inc,
                                starts_at=float(starts) if isinstance(starts, int | float) else row.at)
                else:
                    yield Acked(at=row.at, incident_id=inc.id, fingerprint=inc.fingerprint,
                                on=row.kind == "acknowledged")
            if len(rows) < self.page:
                return
            after = rows[-1][0].id

    async def _implied(self) -> AsyncIterator[Fired]:
        """The incidents fired in the window whose "fired" event is implied (not a row)."""
        after = (self.since, "")
        while True:
            found = await self.store.fired_page(self.since, self.until, after, self.page)
            for inc in found:
                if inc.source:
                    self.incidents[inc.id] = inc
                    yield Fired(at=inc.fired_at, incident=inc, starts_at=inc.starts_at or inc.fired_at)
            if len(found) < self.page:
                return
            after = (found[-1].fired_at, found[-1].id)

    async def notified(self) -> AsyncIterator[Recorded]:
        """The group notifications recorded in the window (lifecycle notices left out):
        the history rows an earlier tocsin wrote, then the notices."""
        async for r in self._notified_rows():
            yield r
        after = 0
        while True:
            found = await self.store.notices_page(self.since, self.until, after, self.page)
            for n in found:
                if n.event:
                    continue
                for status, ids in (("firing", n.firing), ("resolved", n.resolved)):
                    for i in ids:
                        yield Recorded(at=n.at, incident_id=i, receiver=n.receiver,
                                       integration=n.integration, status=status)
            if len(found) < self.page:
                return
            after = found[-1].id

    async def _notified_rows(self) -> AsyncIterator[Recorded]:
        after = 0
        while True:
            rows = await self.store.history_page(self.since, self.until, ("notified",), after, self.page)
            for row, inc in rows:
                d = row.detail
                if d.get("event"):
                    continue
                self.incidents.setdefault(inc.id, inc)
                yield Recorded(at=row.at, incident_id=inc.id, receiver=str(d.get("receiver", "")),
                               integration=str(d.get("integration", "")), status=str(d.get("status", "")))
            if len(rows) < self.page:
                return
            after = rows[-1][0].id
