"""A group notification's "notified" history, kept as one row rather than a row per alert.

Each alert of a delivered notification has a "notified" event in its incident's
history: the receiver, the integration, whether it was sent firing or resolved, and
the lifecycle event the notification told of, if any. Kept as a history row each, a
notification of a group of 2,000 alerts wrote 2,000 rows and their two indexes, about
220 bytes per alert, every time the group was notified. A notice is the notification's
one row (table ``notices``): when, to whom, and the incidents it carried, firing and
resolved, each as the 16 bytes its id's 32 hex digits spell
(:func:`tocsin.incidents.plan.new_id`).

The store reads notices back as the same "notified" events (:func:`events_of`,
:func:`expand`; id 0, as they are no history rows). One incident's are found by a
byte search of the notices sent since it fired (its id holds that time; :data:`SKEW`
earlier, for replicas' clocks), confirmed here at a 16-byte boundary. An event whose
incident id is not 32 hex digits holding its fingerprint stays a history row, as do
the rows an earlier tocsin wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from tocsin.core.records import HistoryEvent

__all__ = [
    "KIND", "NOTICE_COLUMNS", "NOTICE_SQL", "SKEW", "Notice",
    "events_of", "expand", "key", "notices", "since", "split",
]

KIND = "notified"
#: Bytes per incident id in a notice.
WIDTH = 16

#: A notice follows the history rows written before it (``follows``: the last one's id), so
#: that events of one time read back in the order they were written. The writer keeps the
#: two tables' writes in their order, as it does for any write that reads another table
#: (:func:`tocsin.store.writer.merged`).
NOTICE_SQL = ("INSERT INTO notices (at, receiver, integration, event, firing, resolved, follows)"
              " VALUES (?,?,?,?,?,?,(SELECT coalesce(max(id), 0) FROM history))")
NOTICE_COLUMNS = "id, at, receiver, integration, event, firing, resolved, follows"

_ID = re.compile("[0-9a-f]{32}")
_DETAIL = frozenset({"receiver", "integration", "status", "event"})
_STATUSES = ("firing", "resolved")


class Notice(NamedTuple):
    """A notification delivered, as stored: the incidents it carried, by status."""

    id: int
    at: float
    receiver: str
    integration: str
    event: str
    firing: tuple[str, ...]
    resolved: tuple[str, ...]
    #: The id of the last history row written before it.
    follows: int


def key(incident_id: str) -> bytes | None:
    """What a notice holds of ``incident_id``; None for an id it cannot hold."""
    return bytes.fromhex(incident_id) if _ID.fullmatch(incident_id) else None


#: Seconds a notice may seem older than its incident: replicas' clocks differ a little
#: (one made the incident, another may have sent it after a takeover).
SKEW = 300.0


def since(incident_id: str) -> float:
    """The time none of the notices of the incident of ``incident_id`` (a :func:`key`-able
    id) is older than: when it fired (its id holds that, to the millisecond), less
    :data:`SKEW`."""
    return int(incident_id[:12], 16) / 1000 - SKEW


def _packable(h: HistoryEvent) -> bool:
    d = h.detail
    receiver, integration, event = d.get("receiver"), d.get("integration"), d.get("event", "")
    return (h.kind == KIND and h.alert_id[12:28] == h.fingerprint and _ID.fullmatch(h.alert_id) is not None
            and d.get("status") in _STATUSES and isinstance(receiver, str) and h.actor == receiver
            and isinstance(integration, str) and isinstance(event, str) and d.keys() <= _DETAIL)


def split(history: Sequence[HistoryEvent]) -> tuple[list[tuple[Any, ...]], list[HistoryEvent]]:
    """Rows for :data:`NOTICE_SQL` holding ``history``'s "notified" events (one per
    notification: the events of one time, receiver, integration and event), and the
    events left to be history rows."""
    held: dict[tuple[float, str, str, str], tuple[list[bytes], list[bytes]]] = {}
    rest: list[HistoryEvent] = []
    for h in history:
        if not _packable(h):
            rest.append(h)
            continue
        d = h.detail
        notification = (h.at, d["receiver"], d["integration"], d.get("event", ""))
        firing, resolved = held.setdefault(notification, ([], []))
        (firing if d["status"] == "firing" else resolved).append(bytes.fromhex(h.alert_id))
    return [(*k, b"".join(f), b"".join(r)) for k, (f, r) in held.items()], rest


def _ids(blob: bytes) -> tuple[str, ...]:
    return tuple(blob[i:i + WIDTH].hex() for i in range(0, len(blob), WIDTH))


def notices(found: Iterable[Sequence[Any]]) -> list[Notice]:
    """From ``SELECT`` :data:`NOTICE_COLUMNS`."""
    return [Notice(r[0], r[1], r[2], r[3], r[4], _ids(bytes(r[5])), _ids(bytes(r[6])), r[7]) for r in found]


def _event(at: float, receiver: str, integration: str, event: str, incident_id: str,
           status: str) -> HistoryEvent:
    detail: dict[str, Any] = {"receiver": receiver, "integration": integration, "status": status}
    if event:
        detail["event"] = event
    return HistoryEvent(at=at, alert_id=incident_id, fingerprint=incident_id[12:28], kind=KIND,
                        actor=receiver, detail=detail)


def _holds(blob: bytes, wanted: bytes) -> bool:
    """Whether ``wanted`` is one of the ids ``blob`` holds (found at an id's boundary)."""
    at = blob.find(wanted)
    while at >= 0:
        if at % WIDTH == 0:
            return True
        at = blob.find(wanted, at + 1)
    return False


def events_of(incident_id: str, found: Iterable[Sequence[Any]]) -> list[tuple[int, HistoryEvent]]:
    """The "notified" events of ``incident_id`` among notice rows (``SELECT``
    :data:`NOTICE_COLUMNS`, which a byte search may have let through wrongly), each with
    the history row it follows."""
    wanted = key(incident_id)
    out: list[tuple[int, HistoryEvent]] = []
    if wanted is None:
        return out
    for r in found:
        for status, blob in zip(_STATUSES, (r[5], r[6]), strict=True):
            if _holds(bytes(blob), wanted):
                out.append((r[7], _event(r[1], r[2], r[3], r[4], incident_id, status)))
    return out


def expand(found: Iterable[Notice]) -> list[tuple[int, HistoryEvent]]:
    """Every "notified" event ``found`` holds, in their order, each with the history row
    it follows."""
    return [(n.follows, _event(n.at, n.receiver, n.integration, n.event, i, status))
            for n in found for status, ids in zip(_STATUSES, (n.firing, n.resolved), strict=True)
            for i in ids]
