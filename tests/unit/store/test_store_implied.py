"""An open incident as it opened is implied by its alert's row: no row of its own until
something happens to it, and every reader finds it as if it had one (every backend)."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import msgspec

from tocsin.core.models import Alert
from tocsin.core.records import ACKNOWLEDGED, RESOLVED, HistoryEvent, Incident
from tocsin.incidents.plan import new_id
from tocsin.store import IncidentQuery, implied, rows

FP = "0123456789abcdef"


def alert(fp: str = FP, severity: str = "page", at: float = 100.0) -> Alert:
    return Alert(fingerprint=fp, labels={"alertname": "Down", "severity": severity, "fp": fp},
                 annotations={"summary": "down"}, starts_at=at - 5, ends_at=at + 300, updated_at=at)


def opened(a: Alert, at: float = 100.0, previous: str = "") -> Incident:
    """The incident ingest opens for ``a`` (tocsin.incidents.plan.plan_alert)."""
    return Incident(id=new_id(at, a.fingerprint), fingerprint=a.fingerprint, labels=a.labels, fired_at=at,
                    last_seen=at, starts_at=a.starts_at, source="api_v2", previous=previous)


async def stored_rows(backend, table: str) -> int:
    async with backend.opened() as store:
        return len(list(await store._fetch(f"SELECT * FROM {table}")))


async def test_a_fresh_alerts_incident_has_no_row_and_every_reader_finds_it(backend):
    a = alert()
    inc = opened(a, previous="0" * 32)
    assert implied.impliable(inc)
    async with backend.opened() as store:
        await store.save(alerts=[a], incidents=[inc])
    assert await stored_rows(backend, "incident_rows") == 0
    async with backend.opened() as store:
        (held,) = await store.load_alerts()
        assert held == a
        assert await store.load_open_incidents() == [inc]
        assert (await store.load_open_incidents())[0].labels == a.labels  # its alert's, read again
        assert await store.get_incident(inc.id) == inc
        assert await store.latest_incident(FP) == inc
        assert await store.query_incidents(IncidentQuery()) == [inc]
        assert await store.query_incidents(IncidentQuery(severities=("page",))) == [inc]
        assert await store.query_incidents(IncidentQuery(severities=("info",))) == []
        assert await store.query_incidents(IncidentQuery(states=(ACKNOWLEDGED,))) == []
        assert await store.incidents_named(inc.id[-6:], 5) == (1, [inc])
        assert await store.incidents_named(FP[:6], 5) == (1, [inc])
        assert await store.fired_page(0.0, 1e12, (0.0, ""), 10) == [inc]
        assert await store.incidents_open_at(150.0) == [inc]
        [fired] = await store.load_history(inc.id)
        assert (fired.kind, fired.at, fired.detail["previous"]) == ("fired", 100.0, "0" * 32)


async def test_loaded_after_its_alert_an_implied_incident_holds_the_alerts_labels(backend):
    a = alert()
    async with backend.opened() as store:
        await store.save(alerts=[a], incidents=[opened(a)])
    async with backend.opened() as store:
        (held,) = await store.load_alerts()
        (found,) = await store.load_open_incidents()
    assert found.labels is held.labels


async def test_re_posts_keep_it_implied_with_their_occurrences(backend):
    a = alert()
    inc = opened(a)
    later = msgspec.structs.replace(inc, occurrences=4, last_seen=160.0)
    async with backend.opened() as store:
        await store.save(alerts=[a], incidents=[inc])
        await store.save(alerts=[msgspec.structs.replace(a, ends_at=900.0)], incidents=[later])
        await store.save(alerts=[msgspec.structs.replace(a, ends_at=950.0)])  # the alert alone
    assert await stored_rows(backend, "incident_rows") == 0
    async with backend.opened() as store:
        await store.load_alerts()
        assert await store.load_open_incidents() == [later]


async def test_once_acknowledged_it_is_a_row_and_unacknowledged_implied_again(backend):
    a = alert()
    inc = opened(a)
    acked = msgspec.structs.replace(inc, state=ACKNOWLEDGED, acknowledged_at=120.0, acknowledged_by="ann")
    async with backend.opened() as store:
        await store.save(alerts=[a], incidents=[inc])
        await store.save(incidents=[acked], history=[HistoryEvent(at=120.0, alert_id=inc.id, fingerprint=FP,
                                                                  kind="acknowledged", actor="ann")])
    assert await stored_rows(backend, "incident_rows") == 1
    async with backend.opened() as store:
        assert await store.get_incident(inc.id) == acked
        assert await store.query_incidents(IncidentQuery()) == [acked]  # once, not twice
        assert [e.kind for e in await store.load_history(inc.id)] == ["fired", "acknowledged"]
        await store.save(incidents=[inc])  # unacknowledged: as it opened
    assert await stored_rows(backend, "incident_rows") == 0
    async with backend.opened() as store:
        assert await store.query_incidents(IncidentQuery()) == [inc]


async def test_resolved_it_is_a_row_and_the_next_incident_is_implied(backend):
    a = alert()
    first = opened(a)
    done = msgspec.structs.replace(first, state=RESOLVED, resolved_at=200.0, resolution="resolved")
    again = opened(alert(at=300.0), at=300.0, previous=first.id)
    async with backend.opened() as store:
        await store.save(alerts=[a], incidents=[first])
        await store.save(alerts=[a], incidents=[done])
        await store.save(alerts=[alert(at=300.0)], incidents=[again])
    assert await stored_rows(backend, "incident_rows") == 1
    async with backend.opened() as store:
        assert await store.latest_incident(FP) == again
        assert await store.query_incidents(IncidentQuery()) == [again, done]
        assert await store.query_incidents(IncidentQuery(limit=1, offset=1)) == [done]
        assert await store.query_incidents(IncidentQuery(states=(RESOLVED,))) == [done]
        assert await store.fired_page(0.0, 1e12, (0.0, ""), 1) == [done]
        assert await store.fired_page(0.0, 1e12, (100.0, first.id), 5) == [again]
        await store.load_alerts()
        assert await store.load_open_incidents() == [again]


async def test_an_incident_whose_alert_row_is_gone_keeps_a_row(backend):
    a, b = alert(), alert(fp="fedcba9876543210")
    inc_a, inc_b = opened(a), opened(b)
    async with backend.opened() as store:
        await store.save(alerts=[a, b], incidents=[inc_a, inc_b])
        await store.delete_alerts([FP], keep=[inc_a])  # collected while its incident was open
        await store.delete_alerts([b.fingerprint])
        # No alert row to imply it: it stays a row.
        await store.save(incidents=[msgspec.structs.replace(inc_a, occurrences=2)])
    async with backend.opened() as store:
        assert await store.get_incident(inc_a.id) == msgspec.structs.replace(inc_a, occurrences=2)
        assert await store.get_incident(inc_b.id) is None  # deleted with its alert, as not kept


async def test_history_pages_read_each_rows_incident_implied_or_not(backend):
    a, b = alert(), alert(fp="fedcba9876543210", at=110.0)
    inc_a = opened(a)
    inc_b = msgspec.structs.replace(opened(b, at=110.0), muted_by=["silence:s1"])  # not as it opened: a row
    notified = [HistoryEvent(at=130.0 + n, alert_id=i.id, fingerprint=i.fingerprint, kind="notified",
                             actor="team", detail={"receiver": "team"}) for n, i in enumerate((inc_a, inc_b))]
    async with backend.opened() as store:
        await store.save(alerts=[a, b], incidents=[inc_a, inc_b], history=notified)
        page = await store.history_page(0.0, 1e12, ("notified",), 0, 10)
        assert [(e.alert_id, i) for e, i in page] == [(inc_a.id, inc_a), (inc_b.id, inc_b)]
        assert [e.kind for e in await store.history_between(0.0, 1e12)] == ["fired", "fired", "notified",
                                                                          "notified"]


def test_a_fresh_alert_writes_one_row_on_sqlite(tmp_path):
    """What the bytes per alert count: the alert's row (and index entries), nothing else."""
    import asyncio

    from tocsin.store.sqlite import SQLiteStore

    async def write() -> None:
        store = SQLiteStore(tmp_path / "t.db")
        await store.open()
        a = alert()
        await store.save(alerts=[a], incidents=[opened(a)])
        await store.close()

    asyncio.run(write())
    with closing(sqlite3.connect(tmp_path / "t.db")) as db:
        assert db.execute("SELECT COUNT(*) FROM incident_rows").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM incidents").fetchone() == (1,)
        assert db.execute("SELECT COUNT(*) FROM history").fetchone() == (0,)


async def test_a_database_of_the_previous_schema_keeps_its_incidents_as_rows(tmp_path):
    """An upgraded host: the incidents written before are rows, read as before, and the
    next fresh alert's incident is implied beside them."""
    from tocsin.store.schema import MIGRATIONS
    from tocsin.store.sqlite import SQLiteStore

    path = tmp_path / "t.db"
    a = alert()
    old = Incident(id="018bcfe5680012345678901234567890", fingerprint=FP, labels=a.labels, fired_at=50.0,
                   last_seen=60.0, starts_at=a.starts_at, source="api_v2")  # an id of the old form
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.executescript("BEGIN;" + "".join(MIGRATIONS[:9]) + "PRAGMA user_version=9; COMMIT;")
        db.execute("INSERT INTO alerts (fingerprint, body, ends_at, updated_at) VALUES (?,?,?,?)",
                   rows.alert_rows([a])[0])
        db.execute("INSERT INTO incidents VALUES (?,?,?,?,?,?,?,?,?)", rows.incident_rows([old])[0])

    store = SQLiteStore(path)
    await store.open()
    try:
        await store.load_alerts()
        assert await store.load_open_incidents() == [old]
        assert await store.get_incident(old.id) == old
        assert not implied.impliable(old)  # its id does not hold its fingerprint: it stays a row
        b = alert(fp="fedcba9876543210")
        fresh = opened(b, at=70.0)
        await store.save(alerts=[b], incidents=[fresh])
        assert await store.query_incidents(IncidentQuery()) == [fresh, old]
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
        assert db.execute("SELECT id FROM incident_rows").fetchall() == [(old.id,)]
