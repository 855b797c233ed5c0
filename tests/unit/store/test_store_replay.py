"""What ``tocsin replay`` reads from a store, on every backend: history a page at a time
with its incidents, the incidents firing at a time, the configs put in force (kept through
the history retention sweep while in force), attempts by id; and the read-only SQLite
reader beside a store that holds the database open."""

from __future__ import annotations

import msgspec
import pytest

from tests.unit.store.test_store_records import attempt, event, incident
from tocsin.core.records import Incident
from tocsin.replay.history import Fired, HistoryReader
from tocsin.store import ConfigLoad, StorageError
from tocsin.store.reader import SQLiteReader
from tocsin.store.sqlite import SQLiteStore


def load(at: float, h: str = "abc") -> ConfigLoad:
    return ConfigLoad(hash=h, loaded_at=at, reason="start", routing='{"route": {"receiver": "r"}}')


async def fill(store) -> None:
    await store.save(incidents=[incident("i1", 10.0),
                                incident("i2", 20.0, state="resolved", resolved_at=30.0),
                                incident("i0", 5.0, state="resolved", resolved_at=8.0)],
                     history=[event("i0", 5.0, "fired"), event("i1", 10.0, "fired", starts_at=9.0),
                              event("i2", 20.0, "fired"), event("i1", 25.0, "acknowledged"),
                              event("i2", 30.0, "resolved"), event("gone", 31.0, "fired")])


async def test_history_pages_by_id_with_their_incidents(backend):
    async with backend.opened() as store:
        await fill(store)
        kinds = ("fired", "acknowledged")
        first = await store.history_page(9.0, 100.0, kinds, 0, 2)
        assert [(h.kind, h.alert_id, inc.id) for h, inc in first] == [("fired", "i1", "i1"),
                                                                       ("fired", "i2", "i2")]
        assert first[0][0].detail == {"starts_at": 9.0}
        rest = await store.history_page(9.0, 100.0, kinds, first[-1][0].id, 2)
        # The row whose incident is gone is left out; so is "resolved", not asked for.
        assert [(h.kind, inc.id) for h, inc in rest] == [("acknowledged", "i1")]
        assert await store.history_page(9.0, 100.0, kinds, rest[-1][0].id, 2) == []


async def test_the_incidents_firing_at_a_time(backend):
    async with backend.opened() as store:
        await fill(store)
        assert [i.id for i in await store.incidents_open_at(22.0)] == ["i1", "i2"]
        assert [i.id for i in await store.incidents_open_at(30.5)] == ["i1"]
        assert [i.id for i in await store.incidents_open_at(6.0)] == ["i0"]


async def test_configs_put_in_force_and_kept_while_in_force(backend):
    async with backend.opened() as store:
        for at, h in ((10.0, "a"), (20.0, "b"), (20.0, "b"), (30.0, "c")):  # the same load twice: once
            await store.save_config_load(load(at, h))
        assert [(c.loaded_at, c.hash) for c in await store.config_loads(30.0)] == [(10.0, "a"), (20.0, "b")]
        assert (await store.config_loads(100.0))[-1] == load(30.0, "c")
        await store.expire_history(25.0)  # "b" was in force at 25: it stays, "a" goes
        assert [c.hash for c in await store.config_loads(100.0)] == ["b", "c"]


async def test_attempts_by_id_in_a_time_range(backend):
    async with backend.opened() as store:
        for n in range(5):
            await store.save_attempt(attempt(10.0 + n))
        page = await store.attempts_page(11.0, 14.0, 0, 2)
        assert [a.at for a in page] == [11.0, 12.0]
        assert [a.at for a in await store.attempts_page(11.0, 14.0, page[-1].id, 2)] == [13.0]


async def test_the_reader_reads_beside_a_store_that_holds_the_database(tmp_path):
    path = tmp_path / "t.db"
    store = SQLiteStore(path)
    await store.open()
    try:
        await fill(store)
        await store.save_config_load(load(10.0))
        reader = SQLiteReader(path)
        await reader.open()
        try:
            assert [i.id for i in await reader.incidents_open_at(22.0)] == ["i1", "i2"]
            assert await reader.config_loads(100.0) == [load(10.0)]
            with pytest.raises(StorageError, match="read only"):
                await reader.save_config_load(load(20.0))
        finally:
            await reader.close()
    finally:
        await store.close()


async def test_the_reader_refuses_what_is_no_tocsin_database(tmp_path):
    with pytest.raises(StorageError, match="no SQLite database"):
        await SQLiteReader(tmp_path / "missing.db").open()
    (tmp_path / "other.db").write_bytes(b"")
    with pytest.raises(StorageError, match="no tocsin history"):
        await SQLiteReader(tmp_path / "other.db").open()


async def test_replay_reads_a_postgresql_database_a_daemon_holds(tocsin_postgres_url):
    from tocsin.config.server import parse_storage
    from tocsin.replay.run import open_store
    from tocsin.store.postgres import PostgresStore

    daemon = PostgresStore(tocsin_postgres_url)  # holds the instance lock
    await daemon.open()
    try:
        await daemon.clear()
        await fill(daemon)
        reader = open_store(parse_storage(tocsin_postgres_url))
        await reader.open()
        try:
            assert [i.id for i in await reader.incidents_open_at(22.0)] == ["i1", "i2"]
        finally:
            await reader.close()
    finally:
        await daemon.close()


def implied(i: str, fired_at: float, source: str = "api_v2", previous: str = "", **kw) -> Incident:
    """An incident as ingest stores it now: its "fired" event implied, not a row."""
    return msgspec.structs.replace(incident(i, fired_at, **kw), source=source, previous=previous,
                                   starts_at=fired_at - 1)


async def test_an_incidents_fired_event_is_read_from_its_row_beside_the_rows_before_it(backend):
    """Incidents stored since carry their "fired" event; older ones have it as a row, read
    once: history and replay see both alike, in time order."""
    async with backend.opened() as store:
        await store.save(incidents=[incident("old", 5.0), implied("new", 10.0, previous="old"),
                                    implied("tie", 10.0, source="native")],
                         history=[event("old", 5.0, "fired", "api_v2", source="api_v2"),
                                  event("new", 10.0, "acknowledged", "ann"), event("old", 12.0, "resolved")])
        assert [(e.kind, e.actor, e.detail) for e in await store.load_history("new")] == [
            ("fired", "api_v2", {"source": "api_v2", "starts_at": 9.0, "previous": "old"}),
            ("acknowledged", "ann", {})]
        assert [e.kind for e in await store.load_history("old")] == ["fired", "resolved"]
        assert [(e.kind, e.alert_id) for e in await store.history_between(0.0, 100.0)] == [
            ("fired", "old"), ("fired", "new"), ("fired", "tie"), ("acknowledged", "new"),
            ("resolved", "old")]
        fired = await store.history_between(0.0, 100.0, ("fired",))
        assert [e.alert_id for e in fired] == ["old", "new", "tie"]
        acked = await store.history_between(0.0, 100.0, ("acknowledged",))
        assert [e.kind for e in acked] == ["acknowledged"]
        assert await store.history_between(10.5, 100.0, ("fired",)) == []
        # By firing time, then id, a page at a time: the two at 10.0 across a page's end.
        first = await store.fired_page(0.0, 100.0, (0.0, ""), 2)
        assert [i.id for i in first] == ["old", "new"]
        assert [i.id for i in await store.fired_page(0.0, 100.0, (10.0, "new"), 2)] == ["tie"]
        assert [i.id for i in await store.fired_page(6.0, 10.0, (6.0, ""), 2)] == []

        reader = HistoryReader(store, 0.0, 100.0, page=1)
        got = [(type(e).__name__, e.at, e.incident.id if isinstance(e, Fired) else e.incident_id)
               async for e in reader.events()]
        assert got == [("Fired", 5.0, "old"), ("Fired", 10.0, "new"), ("Fired", 10.0, "tie"),
                       ("Acked", 10.0, "new")]
