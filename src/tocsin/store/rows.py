"""Records as table rows and back: the statements that write each table, the
columns read from it, and the conversions between the two.

Bodies are JSON (msgspec), except those of alerts and incidents: those are
MessagePack arrays of the record's fields in order, without their names and
without the id and fingerprint the row's columns hold (:func:`alert_rows`,
:func:`incident_rows`); a body an earlier tocsin wrote as JSON (it starts with
``{``) reads as before. An open incident as it opened has no row: its alert's
row implies it (:mod:`tocsin.store.implied`), so a fresh alert is one row. The columns beside a body are what
queries filter and sort on. A write is an :data:`Op`, ``(sql, params, many)``:
the unit every writer commits (SQLite's, in aiosqlite's thread or the writer process, and
PostgreSQL's). Statements are written in the SQL both databases read (an upsert
is ``INSERT ... ON CONFLICT (key) DO UPDATE``), with ``?`` placeholders, which
the PostgreSQL store numbers (``$1``...). :data:`TABLES` lists every table and
column both schemas hold: what ``tocsin storage copy`` copies.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from tocsin.core.models import Alert, Notification
from tocsin.core.records import HistoryEvent, Incident, RemediationRun, Silence
from tocsin.store import Attempt, ConfigLoad, DeadLetter, NflogEntry

__all__ = [
    "ALERT_BORN_SQL",
    "ALERT_SQL",
    "ATTEMPT_COLUMNS",
    "ATTEMPT_SQL",
    "CONFIG_COLUMNS",
    "CONFIG_SQL",
    "DEAD_LETTER_COLUMNS",
    "DEAD_LETTER_SQL",
    "HEARTBEAT_SQL",
    "HISTORY_COLUMNS",
    "HISTORY_SQL",
    "IMPLIED_COLUMNS",
    "INCIDENT_COLUMNS",
    "INCIDENT_SQL",
    "NAMED_SQL",
    "NFLOG_COLUMNS",
    "NFLOG_SQL",
    "ROW_COLUMNS",
    "RUN_SQL",
    "SHARED_SQL",
    "SILENCE_SQL",
    "TABLES",
    "Op",
    "alert",
    "alert_rows",
    "alerts",
    "attempt_row",
    "attempts",
    "config_loads",
    "config_row",
    "dead_letter_row",
    "dead_letters",
    "fired_event",
    "history_events",
    "history_rows",
    "implied",
    "incident",
    "incident_rows",
    "incidents",
    "merged",
    "nflog_entries",
    "nflog_row",
    "run",
    "run_rows",
    "runs",
    "silence_rows",
    "silences",
    "with_fired",
]

#: One write: a statement and its parameters, or (``many``) a statement and rows of them.
Op = tuple[str, Sequence[Any] | Iterable[Sequence[Any]], bool]

_encoder = msgspec.json.Encoder()
_packer = msgspec.msgpack.Encoder()
_alert_dec = msgspec.json.Decoder(Alert)
_list_dec = msgspec.json.Decoder(list[str])
_silence_dec = msgspec.json.Decoder(Silence)
_notification_dec = msgspec.json.Decoder(Notification)
_incident_dec = msgspec.json.Decoder(Incident)
_detail_dec = msgspec.json.Decoder(dict[str, Any])
_run_dec = msgspec.json.Decoder(RemediationRun)

#: Every table, with its columns, as both schemas hold them.
TABLES: dict[str, tuple[str, ...]] = {
    "alerts": ("fingerprint", "body", "ends_at", "updated_at", "incident", "fired_at", "severity", "birth"),
    "nflog": ("group_key", "receiver", "integration", "firing", "resolved", "sent_at", "expires_at"),
    "silences": ("id", "body", "ends_at"),
    "attempts": ("id", "at", "receiver", "integration", "group_key", "attempt", "status", "latency", "error"),
    "dead_letters": ("id", "at", "receiver", "integration", "group_key", "attempts", "error", "notification"),
    "incident_rows": ("id", "fingerprint", "state", "alertname", "severity", "fired_at", "acknowledged_at",
                      "resolved_at", "body"),
    "history": ("id", "at", "alert_id", "fingerprint", "kind", "actor", "detail"),
    "notices": ("id", "at", "receiver", "integration", "event", "firing", "resolved", "follows"),
    "remediation_runs": ("id", "created_at", "remediation", "fingerprint", "state", "body"),
    "callback_ids": ("source", "id", "seen_at"),
    "heartbeats": ("name", "key", "labels", "last_seen", "missing"),
    "configs": ("loaded_at", "hash", "reason", "routing"),
}


def _upsert(table: str, key: tuple[str, ...], columns: tuple[str, ...] | None = None) -> str:
    """Insert a row of ``table``, or replace the one with the same ``key``."""
    cols = columns or TABLES[table]
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in key)
    return (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({','.join('?' * len(cols))})"
            f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}")


def _default(f: msgspec.structs.FieldInfo) -> Any:
    return f.default if f.default_factory is msgspec.NODEFAULT else f.default_factory()


def _packed(record: type[msgspec.Struct], name: str, skip: tuple[str, ...]) -> type[msgspec.Struct]:
    """A struct of ``record``'s fields but ``skip``, in their order, held as an array: how a
    body is packed. A field added to ``record`` later (with a default) must go last, so that
    bodies packed before it still read (an array shorter than the fields takes the defaults)."""
    fields = [(f.name, f.type) if f.required else (f.name, f.type, _default(f))
              for f in msgspec.structs.fields(record) if f.name not in skip]
    return msgspec.defstruct(name, fields, array_like=True, kw_only=True, gc=False, module=__name__)


# -- alerts ---------------------------------------------------------------------------------

#: An alert's row, without its implied incident: a row written before keeps the one it implies.
ALERT_SQL = _upsert("alerts", ("fingerprint",), TABLES["alerts"][:4])
#: An alert's row with the open incident it implies (:func:`tocsin.store.implied.born_rows`).
ALERT_BORN_SQL = _upsert("alerts", ("fingerprint",))
#: An alert's body: its fields but the fingerprint (the row's key).
_AlertBody = _packed(Alert, "_AlertBody", ("fingerprint",))
_alert_body_dec = msgspec.msgpack.Decoder(_AlertBody)


def alert_rows(items: Sequence[Alert]) -> list[tuple[Any, ...]]:
    """Rows for :data:`ALERT_SQL`."""
    pack, fields = _packer.encode, msgspec.structs.astuple
    return [(a.fingerprint, pack(fields(a)[1:]), a.ends_at, a.updated_at) for a in items]


def alert(fingerprint: str, body: bytes | str) -> Alert:
    """From ``SELECT fingerprint, body``."""
    if isinstance(body, str) or body[:1] == b"{":  # JSON, as written before bodies were packed
        return _alert_dec.decode(body)
    # Each field named (every one of Alert's: tests/unit/store/test_store_records.py checks)
    # rather than ``**asdict(b)``: a third less time, at 100,000 alerts loaded at start.
    b: Any = _alert_body_dec.decode(body)
    return Alert(fingerprint=fingerprint, labels=b.labels, annotations=b.annotations, starts_at=b.starts_at,
                 ends_at=b.ends_at, generator_url=b.generator_url, updated_at=b.updated_at, timeout=b.timeout)


def alerts(rows: Iterable[Sequence[Any]]) -> list[Alert]:
    """From ``SELECT fingerprint, body``."""
    return [alert(r[0], r[1]) for r in rows]


# -- the notification log -------------------------------------------------------------------

NFLOG_SQL = _upsert("nflog", ("group_key", "receiver", "integration"))
NFLOG_COLUMNS = "group_key, receiver, integration, firing, resolved, sent_at, expires_at"


def nflog_row(entry: NflogEntry) -> tuple[Any, ...]:
    return (entry.group_key, entry.receiver, entry.integration,
            _encoder.encode(sorted(entry.firing)), _encoder.encode(sorted(entry.resolved)),
            entry.sent_at, entry.expires_at)


def nflog_entries(rows: Iterable[Sequence[Any]]) -> list[NflogEntry]:
    """From ``SELECT`` :data:`NFLOG_COLUMNS`."""
    return [
        NflogEntry(group_key=r[0], receiver=r[1], integration=r[2],
                   firing=frozenset(_list_dec.decode(r[3])),
                   resolved=frozenset(_list_dec.decode(r[4])), sent_at=r[5], expires_at=r[6])
        for r in rows
    ]


# -- silences -------------------------------------------------------------------------------

SILENCE_SQL = _upsert("silences", ("id",))
HEARTBEAT_SQL = _upsert("heartbeats", ("name", "key"))


def silence_rows(items: Sequence[Silence]) -> list[tuple[Any, ...]]:
    return [(s.id, _encoder.encode(s), s.ends_at) for s in items]


def silences(rows: Iterable[Sequence[Any]]) -> list[Silence]:
    """From ``SELECT body``."""
    return [_silence_dec.decode(row[0]) for row in rows]


# -- delivery attempts and dead letters -----------------------------------------------------

ATTEMPT_SQL = ("INSERT INTO attempts (at, receiver, integration, group_key, attempt, status, latency, error)"
               " VALUES (?,?,?,?,?,?,?,?)")
ATTEMPT_COLUMNS = "id, at, receiver, integration, group_key, attempt, status, latency, error"


def attempt_row(a: Attempt) -> tuple[Any, ...]:
    return (a.at, a.receiver, a.integration, a.group_key, a.attempt, a.status, a.latency, a.error)


def attempts(rows: Iterable[Sequence[Any]]) -> list[Attempt]:
    """From ``SELECT`` :data:`ATTEMPT_COLUMNS`."""
    return [Attempt(id=r[0], at=r[1], receiver=r[2], integration=r[3], group_key=r[4],
                    attempt=r[5], status=r[6], latency=r[7], error=r[8]) for r in rows]


DEAD_LETTER_SQL = _upsert("dead_letters", ("id",))
DEAD_LETTER_COLUMNS = "id, at, receiver, integration, group_key, attempts, error, notification"


def dead_letter_row(d: DeadLetter) -> tuple[Any, ...]:
    return (d.id, d.at, d.receiver, d.integration, d.group_key, d.attempts, d.error,
            _encoder.encode(d.notification))


def dead_letters(rows: Iterable[Sequence[Any]]) -> list[DeadLetter]:
    """From ``SELECT`` :data:`DEAD_LETTER_COLUMNS`."""
    return [DeadLetter(id=r[0], at=r[1], receiver=r[2], integration=r[3], group_key=r[4],
                       attempts=r[5], error=r[6], notification=_notification_dec.decode(r[7]))
            for r in rows]


# -- incidents and their history ------------------------------------------------------------

INCIDENT_SQL = _upsert("incident_rows", ("id",))


#: An incident's body: its fields but the id and fingerprint (columns of the row).
_IncidentBody = _packed(Incident, "_IncidentBody", ("id", "fingerprint"))
_incident_body_dec = msgspec.msgpack.Decoder(_IncidentBody)
#: The columns an incident is read from (of the view ``incidents``: the rows of
#: ``incident_rows`` and the incidents alert rows imply, whose ``birth`` is not NULL).
INCIDENT_COLUMNS = "id, fingerprint, body, fired_at, birth"


def incident_rows(items: Sequence[Incident]) -> list[tuple[Any, ...]]:
    pack, fields = _packer.encode, msgspec.structs.astuple
    return [(i.id, i.fingerprint, i.state, i.alertname, i.severity, i.fired_at, i.acknowledged_at,
             i.resolved_at, pack(fields(i)[2:])) for i in items]


def _incident(r: Sequence[Any], shared: Mapping[str, Alert] | None = None) -> Incident:
    known = shared.get(r[1]) if shared else None
    if r[4] is not None:  # implied by its alert's row: made from the alert, read already or not
        return implied(r[0], r[3], r[4], known if known is not None else alert(r[1], r[2]))
    body = r[2]
    if isinstance(body, str) or body[:1] == b"{":  # JSON, as written before bodies were packed
        return _incident_dec.decode(body)
    b: Any = _incident_body_dec.decode(body)  # each field named, as in alert()
    labels = known.labels if known is not None else None
    if labels is None or labels != b.labels:
        labels = b.labels
    return Incident(id=r[0], fingerprint=r[1], labels=labels, state=b.state, fired_at=b.fired_at,
                    last_seen=b.last_seen, starts_at=b.starts_at, occurrences=b.occurrences,
                    acknowledged_at=b.acknowledged_at, acknowledged_by=b.acknowledged_by, ack_note=b.ack_note,
                    ack_until=b.ack_until, resolved_at=b.resolved_at, resolved_by=b.resolved_by,
                    resolution=b.resolution, muted_by=b.muted_by, escalation=b.escalation, source=b.source,
                    previous=b.previous)


def incident(row: Sequence[Any] | None) -> Incident | None:
    """From ``SELECT`` :data:`INCIDENT_COLUMNS` (one row, or none)."""
    return _incident(row) if row else None


def incidents(rows: Iterable[Sequence[Any]], shared: Mapping[str, Alert] | None = None) -> list[Incident]:
    """From ``SELECT`` :data:`INCIDENT_COLUMNS`; an incident whose alert is in ``shared`` (by
    fingerprint) holds that alert's labels dict rather than a copy (a row's, when equal), and
    one its alert's row implies is made from that alert."""
    return [_incident(r, shared) for r in rows]


# -- an open incident implied by its alert's row (read; written by tocsin.store.implied) -----

#: :data:`INCIDENT_COLUMNS` of ``incident_rows`` alone.
ROW_COLUMNS = "id, fingerprint, body, fired_at, NULLIF(body, body)"  # NULL, typed as a body
#: :data:`INCIDENT_COLUMNS` of the incidents alert rows imply (``WHERE incident IS NOT NULL``).
IMPLIED_COLUMNS = "incident, fingerprint, body, fired_at, birth"

_birth_dec = msgspec.msgpack.Decoder(tuple[str, str, int, float])


def implied(incident_id: str, fired_at: float, birth: bytes, a: Alert) -> Incident:
    """The incident an alert row implies (its ``incident``, ``fired_at`` and ``birth``:
    :func:`tocsin.store.implied.born_rows`)."""
    source, previous, occurrences, last_seen = _birth_dec.decode(birth)
    return Incident(id=incident_id, fingerprint=a.fingerprint, labels=a.labels, fired_at=fired_at,
                    last_seen=last_seen, starts_at=a.starts_at, occurrences=occurrences, source=source,
                    previous=previous)


#: The incidents a short reference names (parameters: the reference, lowercase hex digits,
#: and a limit): ids that start or end with it, the latest incident of each fingerprint
#: that starts with it; each row the count of them all and one's body, newest first. A
#: start is a range of the index (hex digits sort below ``g``); an end, one scan of it.
NAMED_SQL = """
WITH hits(id) AS (
    SELECT id FROM incidents WHERE id >= ?1 AND id < ?1 || 'g'
    UNION
    SELECT id FROM incidents WHERE substr(id, -length(?1)) = ?1
    UNION
    SELECT (SELECT i.id FROM incidents i WHERE i.fingerprint = f.fingerprint
            ORDER BY i.fired_at DESC LIMIT 1)
    FROM (SELECT DISTINCT fingerprint FROM incidents
          WHERE fingerprint >= ?1 AND fingerprint < ?1 || 'g') f
)
SELECT (SELECT COUNT(*) FROM hits), incidents.id, incidents.fingerprint, incidents.body,
       incidents.fired_at, incidents.birth
FROM incidents WHERE incidents.id IN (SELECT id FROM hits)
ORDER BY incidents.fired_at DESC, incidents.id LIMIT ?2
"""

#: Which of the references (parameters: their length, and a JSON array of them) more than
#: one incident answers to: the ends of ids (one scan of the id index), and the start of
#: another id or of a fingerprint (a range of an index each).
SHARED_SQL = """
WITH refs(ref) AS (SELECT value FROM json_each(?2)),
ends(ref, n) AS (SELECT substr(id, -?1), COUNT(*) FROM incidents
                 WHERE substr(id, -?1) IN (SELECT ref FROM refs) GROUP BY 1)
SELECT refs.ref FROM refs LEFT JOIN ends USING (ref)
WHERE coalesce(ends.n, 0)
    + EXISTS (SELECT 1 FROM incidents WHERE id >= refs.ref AND id < refs.ref || 'g')
    + EXISTS (SELECT 1 FROM incidents WHERE fingerprint >= refs.ref AND fingerprint < refs.ref || 'g') > 1
"""

HISTORY_SQL = (
    "INSERT INTO history (at, alert_id, fingerprint, kind, actor, detail) VALUES (?,?,?,?,?,?)"
)
HISTORY_COLUMNS = "id, at, alert_id, fingerprint, kind, actor, detail"


def history_rows(items: Sequence[HistoryEvent]) -> list[tuple[Any, ...]]:
    return [(h.at, h.alert_id, h.fingerprint, h.kind, h.actor, _encoder.encode(h.detail)) for h in items]


def history_events(rows: Iterable[Sequence[Any]]) -> list[HistoryEvent]:
    """From ``SELECT`` :data:`HISTORY_COLUMNS`."""
    return [HistoryEvent(id=r[0], at=r[1], alert_id=r[2], fingerprint=r[3], kind=r[4], actor=r[5],
                         detail=_detail_dec.decode(r[6])) for r in rows]


def fired_event(inc: Incident) -> HistoryEvent | None:
    """The "fired" history event an incident's row implies (id 0: it is no row of the
    history table), or None for an incident stored before, whose "fired" event is a row."""
    if not inc.source:
        return None
    detail: dict[str, Any] = {"source": inc.source, "starts_at": inc.starts_at}
    if inc.previous:
        detail["previous"] = inc.previous
    return HistoryEvent(at=inc.fired_at, alert_id=inc.id, fingerprint=inc.fingerprint, kind="fired",
                        actor=inc.source, detail=detail)


def merged(events: list[HistoryEvent], more: list[tuple[int, HistoryEvent]]) -> list[HistoryEvent]:
    """History rows ``events`` (by id) and the events of notices ``more`` (each with the
    id of the last history row written before it, and by id), in the order written."""
    if not more:
        return events
    rows = ((e.at, e.id, e) for e in events)
    held = ((e.at, follows + 0.5, e) for follows, e in more)
    return [e for _, _, e in heapq.merge(rows, held, key=lambda t: (t[0], t[1]))]


def with_fired(events: list[HistoryEvent], incidents: Iterable[Incident]) -> list[HistoryEvent]:
    """``events`` (by id) with the "fired" events ``incidents`` imply, in time order: each
    implied one before the events at or after its time."""
    implied = sorted((e for inc in incidents if (e := fired_event(inc)) is not None), key=lambda e: e.at)
    return list(heapq.merge(implied, events, key=lambda e: e.at)) if implied else events


# -- remediation runs -----------------------------------------------------------------------

RUN_SQL = _upsert("remediation_runs", ("id",))


def run_rows(items: Sequence[RemediationRun]) -> list[tuple[Any, ...]]:
    return [(r.id, r.created_at, r.remediation, r.fingerprint, r.state, _encoder.encode(r)) for r in items]


def run(row: Sequence[Any] | None) -> RemediationRun | None:
    """From ``SELECT body`` (one row, or none)."""
    return _run_dec.decode(row[0]) if row else None


def runs(rows: Iterable[Sequence[Any]]) -> list[RemediationRun]:
    """From ``SELECT body``."""
    return [_run_dec.decode(row[0]) for row in rows]


# -- configs put in force -------------------------------------------------------------------

CONFIG_SQL = ("INSERT INTO configs (loaded_at, hash, reason, routing) VALUES (?,?,?,?)"
              " ON CONFLICT (loaded_at, hash) DO NOTHING")
CONFIG_COLUMNS = "loaded_at, hash, reason, routing"


def config_row(c: ConfigLoad) -> tuple[Any, ...]:
    return (c.loaded_at, c.hash, c.reason, c.routing)


def config_loads(rows: Iterable[Sequence[Any]]) -> list[ConfigLoad]:
    """From ``SELECT`` :data:`CONFIG_COLUMNS`."""
    return [ConfigLoad(loaded_at=r[0], hash=r[1], reason=r[2], routing=r[3]) for r in rows]
