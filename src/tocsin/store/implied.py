"""An open incident implied by its alert's row: the rule, and the writes that keep it.

An incident as it opened, and as re-posts leave it (more occurrences, a later
last_seen), needs no row of its own: its alert's row holds its id, firing time and
severity (columns that queries filter and sort on) and ``birth`` (its source, the
incident before it, its occurrences and last_seen); its labels and starts_at are the
alert's. The view ``incidents`` is ``incident_rows`` and these (read by
:func:`tocsin.store.rows.implied`). Once anything else happens to it (acknowledged,
muted, escalated, resolved), it is written as a row and the alert's row implies it no
more (:data:`UNIMPLY_SQL`); both in one transaction. :func:`split` decides, for one
write, which is which.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec

from tocsin.core.models import Alert
from tocsin.core.records import FIRING, Incident
from tocsin.store.rows import alert_rows

__all__ = [
    "DROP_ROW_SQL",
    "IMPLY_SQL",
    "UNIMPLY_SQL",
    "Split",
    "born_rows",
    "drop_rows",
    "fingerprint_in",
    "impliable",
    "imply_rows",
    "split",
    "unimply_rows",
]

_packer = msgspec.msgpack.Encoder()

#: An incident an alert row implies, from then on (the alert's row is written already).
IMPLY_SQL = "UPDATE alerts SET incident = ?, fired_at = ?, severity = ?, birth = ? WHERE fingerprint = ?"
#: An incident's row, once the alert's row implies it (an unacknowledged incident can be as it
#: opened again); kept if the alert's row is gone.
DROP_ROW_SQL = ("DELETE FROM incident_rows WHERE id = ?"
                " AND EXISTS (SELECT 1 FROM alerts WHERE fingerprint = ? AND incident = ?)")
#: An alert's row implies its incident no more: the incident has a row of its own.
UNIMPLY_SQL = ("UPDATE alerts SET incident = NULL, fired_at = NULL, severity = NULL, birth = NULL"
               " WHERE fingerprint = ? AND incident = ?")


def fingerprint_in(incident_id: str) -> str:
    """The fingerprint an incident id holds (:func:`tocsin.incidents.plan.new_id`: 12 hex
    digits of time, the 16 of the fingerprint, 4 random), or "" for an id without one."""
    return incident_id[12:28] if len(incident_id) == 32 else ""


def impliable(inc: Incident) -> bool:
    """Whether ``inc`` is as it opened but for re-posts, with an id that holds its
    fingerprint: what an alert row can imply."""
    return (inc.state == FIRING and not inc.muted_by and inc.escalation is None
            and not (inc.acknowledged_at or inc.acknowledged_by or inc.ack_note or inc.ack_until)
            and not (inc.resolved_at or inc.resolved_by or inc.resolution)
            and fingerprint_in(inc.id) == inc.fingerprint)


def _implied_columns(inc: Incident) -> tuple[Any, ...]:
    birth = _packer.encode((inc.source, inc.previous, inc.occurrences, inc.last_seen))
    return inc.id, inc.fired_at, inc.labels.get("severity", ""), birth


def imply_rows(items: Sequence[Incident]) -> list[tuple[Any, ...]]:
    """Rows for :data:`IMPLY_SQL`."""
    return [(*_implied_columns(i), i.fingerprint) for i in items]


class Split(NamedTuple):
    """How alerts and incidents are written together (:func:`split`)."""

    #: Alerts written with the incident their row implies (``rows.ALERT_BORN_SQL``).
    born: list[tuple[Alert, Incident]]
    #: The other alerts (:data:`~tocsin.store.rows.ALERT_SQL`: a row written before keeps what it implies).
    plain: list[Alert]
    #: Incidents their alert's row, written before, implies from now on: each is written
    #: as a row (:data:`~tocsin.store.rows.INCIDENT_SQL`), implied (:data:`IMPLY_SQL`), and its row dropped
    #: where the alert's row now implies it (:data:`DROP_ROW_SQL`): so the row stays for
    #: an alert whose row is gone.
    imply: list[Incident]
    #: Incidents written as rows (:data:`~tocsin.store.rows.INCIDENT_SQL`, then :data:`UNIMPLY_SQL`).
    kept: list[Incident]
    #: Born incidents that may have a row to drop (:data:`DROP_ROW_SQL`).
    drop: list[Incident]


def split(alerts: Sequence[Alert], incidents: Sequence[Incident]) -> Split:
    """Which of ``incidents`` alert rows imply, written beside ``alerts``."""
    out = Split([], [], [], [], [])
    written = {a.fingerprint: a for a in alerts} if incidents else {}
    for inc in incidents:
        if not impliable(inc):
            out.kept.append(inc)
        elif (a := written.get(inc.fingerprint)) is None:
            out.imply.append(inc)
        else:
            out.born.append((a, inc))
            if inc.occurrences > 1:  # in the write that opens it, an incident has no row to drop
                out.drop.append(inc)
    born = {a.fingerprint for a, _ in out.born}
    out.plain.extend(a for a in alerts if a.fingerprint not in born)
    return out


def drop_rows(items: Sequence[Incident]) -> list[tuple[Any, ...]]:
    """Rows for :data:`DROP_ROW_SQL`."""
    return [(i.id, i.fingerprint, i.id) for i in items]


def unimply_rows(items: Sequence[Incident]) -> list[tuple[Any, ...]]:
    """Rows for :data:`UNIMPLY_SQL`."""
    return [(i.fingerprint, i.id) for i in items]


def born_rows(items: Sequence[tuple[Alert, Incident]]) -> list[tuple[Any, ...]]:
    """Rows for :data:`~tocsin.store.rows.ALERT_BORN_SQL`: each alert's row with the incident
    it implies."""
    return [(*row, *_implied_columns(i))
            for row, (_, i) in zip(alert_rows([a for a, _ in items]), items, strict=True)]
