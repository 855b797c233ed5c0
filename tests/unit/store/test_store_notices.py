"""A notification's "notified" events are one notice, not a history row per alert; every
reader of history finds them as it found the rows (every backend)."""

from __future__ import annotations

from tests.unit.store.test_store import nflog_entry
from tocsin.core.records import HistoryEvent
from tocsin.replay.history import HistoryReader
from tocsin.store import notices, rows
from tocsin.store.implied import fingerprint_in
from tocsin.store.notices import Notice
from tocsin.store.writer import merged


def incident_id(ms: int, fp: str, rand: str = "0001") -> str:
    return f"{ms:012x}{fp}{rand}"


A = incident_id(100_000, "aaaaaaaaaaaaaaaa")
B = incident_id(100_000, "bbbbbbbbbbbbbbbb")
C = incident_id(100_000, "cccccccccccccccc")


def notified(inc: str, at: float, status: str = "firing", receiver: str = "team",
             integration: str = "webhook[0]", event: str = "") -> HistoryEvent:
    """As tocsin.incidents.lifecycle.Lifecycle.notified_rows makes them."""
    detail = {"receiver": receiver, "integration": integration, "status": status}
    if event:
        detail["event"] = event
    return HistoryEvent(at=at, alert_id=inc, fingerprint=fingerprint_in(inc), kind="notified",
                        actor=receiver, detail=detail)


def row(inc: str, at: float, kind: str, actor: str = "ana") -> HistoryEvent:
    return HistoryEvent(at=at, alert_id=inc, fingerprint=fingerprint_in(inc), kind=kind, actor=actor)


def plain(events: list[HistoryEvent]) -> list[tuple]:
    return [(e.at, e.alert_id, e.kind, e.actor, e.detail) for e in events]


async def count(store, table: str) -> int:
    (n,) = await store._fetch_one(f"SELECT COUNT(*) FROM {table}")
    return int(n)


async def test_a_notification_is_one_notice_read_back_as_each_alerts_event(backend):
    sent = [notified(A, 200.0), notified(B, 200.0), notified(C, 200.0, status="resolved")]
    async with backend.opened() as store:
        await store.save_delivery(nflog_entry("g", 900.0), sent)
        assert await count(store, "notices") == 1
        assert await count(store, "history") == 0
    async with backend.opened() as store:
        for one in sent:
            assert plain(await store.load_history(one.alert_id)) == plain([one])
        assert plain(await store.history_between(0.0, 1e9)) == plain(sent)
        assert plain(await store.history_between(0.0, 1e9, ("notified",))) == plain(sent)
        assert await store.history_between(0.0, 1e9, ("acknowledged",)) == []
        assert await store.history_between(201.0, 1e9) == []
        [n] = await store.notices_page(0.0, 1e9, 0, 10)
        assert (n.at, n.receiver, n.integration, n.event, n.firing, n.resolved) == (
            200.0, "team", "webhook[0]", "", (A, B), (C,))


async def test_each_notification_its_own_notice_and_lifecycle_events_kept(backend):
    async with backend.opened() as store:
        await store.save_delivery(nflog_entry("g", 900.0), [notified(A, 200.0), notified(B, 200.0)])
        await store.save(history=[notified(A, 300.0, receiver="ops", integration="slack[1]"),
                                  notified(A, 300.0, event="acknowledged")])
        assert await count(store, "notices") == 3
    async with backend.opened() as store:
        assert plain(await store.load_history(A)) == plain([
            notified(A, 200.0), notified(A, 300.0, receiver="ops", integration="slack[1]"),
            notified(A, 300.0, event="acknowledged")])
        assert plain(await store.load_history(B)) == plain([notified(B, 200.0)])
        assert await store.load_history(C) == []


async def test_events_of_one_time_read_back_in_the_order_written(backend):
    """A frozen clock gives a notification and the rows around it one time: a notice
    falls after the history rows written before it, before those written after."""
    async with backend.opened() as store:
        await store.save_delivery(nflog_entry("g", 900.0), [notified(A, 200.0)])
        await store.save(history=[row(A, 200.0, "acknowledged")])
        await store.save(history=[notified(A, 200.0, event="acknowledged")])
        await store.save(history=[row(A, 200.0, "unacknowledged"), notified(A, 200.0)])
        await store.save(history=[row(A, 200.0, "resolved")])
    expected = [notified(A, 200.0), row(A, 200.0, "acknowledged"), notified(A, 200.0, event="acknowledged"),
                row(A, 200.0, "unacknowledged"), notified(A, 200.0), row(A, 200.0, "resolved")]
    async with backend.opened() as store:
        assert plain(await store.load_history(A)) == plain(expected)
        assert plain(await store.history_between(0.0, 1e9)) == plain(expected)


async def test_a_notice_sent_by_a_replica_whose_clock_is_behind_is_found(backend):
    """The incident's id holds when it fired by one replica's clock; a notice sent by
    another, a little behind, still belongs to its history."""
    fired = 100_000 / 1000
    async with backend.opened() as store:
        await store.save(history=[notified(A, fired - 5.0), notified(A, fired - notices.SKEW - 1.0)])
        assert plain(await store.load_history(A)) == plain([notified(A, fired - 5.0)])


async def test_an_id_spelled_across_two_ids_is_not_found(backend):
    """The byte search can match the end of one id and the start of the next; only a
    match at an id's boundary counts."""
    spelled = incident_id(100, "0123456789abcdef", "7777")
    first = incident_id(5, "4444" + spelled[:12], spelled[12:16])
    second = incident_id(int(spelled[16:28], 16), spelled[28:32] + "555555555555", "6666")
    assert (bytes.fromhex(first) + bytes.fromhex(second)).find(bytes.fromhex(spelled)) == 8
    async with backend.opened() as store:
        await store.save_delivery(nflog_entry("g", 900.0), [notified(first, 1e12), notified(second, 1e12)])
        assert await store.load_history(spelled) == []
        assert plain(await store.load_history(second)) == plain([notified(second, 1e12)])


async def test_an_id_a_notice_cannot_hold_stays_a_history_row(backend):
    odd = HistoryEvent(at=200.0, alert_id="i-1", fingerprint="0123456789abcdef", kind="notified",
                       actor="team", detail={"receiver": "team", "integration": "w", "status": "firing"})
    odd_detail = notified(B, 200.0)
    odd_detail.detail["extra"] = 1
    async with backend.opened() as store:
        await store.save_delivery(nflog_entry("g", 900.0), [odd, notified(A, 200.0), odd_detail])
        assert await count(store, "notices") == 1
        assert await count(store, "history") == 2
        assert plain(await store.load_history("i-1")) == plain([odd])
        assert plain(await store.load_history(B)) == plain([odd_detail])


async def test_expiry_forgets_old_notices(backend):
    async with backend.opened() as store:
        await store.save(history=[notified(A, 200.0), notified(A, 400.0)])
        await store.expire_history(300.0)
        assert plain(await store.load_history(A)) == plain([notified(A, 400.0)])


async def test_replay_reads_notices_and_the_rows_an_earlier_tocsin_wrote(backend):
    async with backend.opened() as store:
        # As an earlier tocsin stored them: a history row per alert.
        await store._write([(rows.HISTORY_SQL, rows.history_rows([notified(A, 150.0)]), True)])
        await store.save_delivery(nflog_entry("g", 900.0), [
            notified(A, 200.0), notified(B, 200.0, status="resolved")])
        await store.save(history=[notified(A, 210.0, event="acknowledged")])  # a lifecycle notice
        found = [(r.at, r.incident_id, r.receiver, r.integration, r.status)
                 async for r in HistoryReader(store, 0.0, 1e9, page=1).notified()]
    # The earlier row's incident is not stored, so the reader leaves it out, as before.
    assert found == [(200.0, A, "team", "webhook[0]", "firing"), (200.0, B, "team", "webhook[0]", "resolved")]


def test_split_packs_one_notice_per_notification():
    held, rest = notices.split([notified(A, 1.0), notified(B, 1.0, status="resolved"), notified(C, 2.0),
                                row(A, 1.0, "acknowledged")])
    assert [h[:4] for h in held] == [(1.0, "team", "webhook[0]", ""), (2.0, "team", "webhook[0]", "")]
    assert held[0][4:] == (bytes.fromhex(A), bytes.fromhex(B))
    assert plain(rest) == plain([row(A, 1.0, "acknowledged")])
    assert notices.notices([(1, 1.0, "team", "w", "", held[0][4], held[0][5], 0)]) == [
        Notice(1, 1.0, "team", "w", "", (A,), (B,), 0)]


def test_the_writer_keeps_notices_in_their_order_with_history_rows():
    """Writes to other tables are merged across each other; a notice names the history
    row before it, so the two tables' writes keep their order."""
    hist = (rows.HISTORY_SQL, [("h1",)], True)
    notice = (notices.NOTICE_SQL, [("n1",)], True)
    later = [(rows.HISTORY_SQL, [("h2",)], True), (notices.NOTICE_SQL, [("n2",)], True)]
    assert merged([hist, notice, *later]) == [
        (rows.HISTORY_SQL, [("h1",)], True), (notices.NOTICE_SQL, [("n1",)], True),
        (rows.HISTORY_SQL, [("h2",)], True), (notices.NOTICE_SQL, [("n2",)], True)]
    attempt = (rows.ATTEMPT_SQL, [("a",)], True)
    assert merged([notice, attempt, (notices.NOTICE_SQL, [("n2",)], True)]) == [
        (notices.NOTICE_SQL, [("n1",), ("n2",)], True), (rows.ATTEMPT_SQL, [("a",)], True)]

