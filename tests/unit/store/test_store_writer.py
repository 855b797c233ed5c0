"""The writer process: what the store does when it dies, and that it ends with the store; how
a batch is merged into few statements."""

from __future__ import annotations

import asyncio
import os
import signal
import types

import pytest

from tocsin.core.models import Alert
from tocsin.store import StorageError, rows
from tocsin.store import child as writer_client
from tocsin.store.sqlite import SQLiteStore


def make_alert(i: int) -> Alert:
    return Alert(fingerprint=f"{i:016x}", labels={"alertname": "A", "n": str(i)},
                 starts_at=1000.0 + i, ends_at=2000.0 + i, updated_at=1500.0 + i)


async def test_a_writer_process_that_died_is_replaced(tmp_path, monkeypatch):
    path = tmp_path / "t.db"
    store = SQLiteStore(path, writer="process")
    await store.open()
    try:
        await store.save_alerts([make_alert(0)])
        first = store._child.proc
        os.kill(first.pid, signal.SIGKILL)
        await first.wait()
        # Gone between commits: the next commit starts another writer.
        await store.save_alerts([make_alert(1)])
        second = store._child.proc
        assert second is not None
        assert second is not first
        assert second.returncode is None

        # Dying in the middle of a commit (here: a stand-in that reads a byte of the
        # request and exits): that commit fails, naming why, and the next one starts
        # another writer.
        stand_in = tmp_path / "stand_in.py"
        stand_in.write_text("import sys\nsys.stdin.buffer.read(1)\n")
        monkeypatch.setattr(writer_client, "_writer_module", types.SimpleNamespace(__file__=str(stand_in)))
        await store._child.close()
        with pytest.raises(StorageError, match=r"^database write failed: the database writer "
                                               r"process exited \(IncompleteReadError\)$"):
            await store.save_alerts([make_alert(9)])
        monkeypatch.undo()
        await store.save_alerts([make_alert(2)])
        assert store._child.proc is not None
        assert store._child.proc.returncode is None
    finally:
        await store.close()
    reopened = SQLiteStore(path)
    await reopened.open()
    try:
        got = sorted(a.fingerprint for a in await reopened.load_alerts())
    finally:
        await reopened.close()
    assert got == [make_alert(i).fingerprint for i in range(3)]


async def test_transactions_are_answered_in_order_with_two_in_flight(tmp_path):
    """Commits reach the child while it is busy with the one before; each caller hears of
    its own transaction, a failing one in the middle included."""
    path = tmp_path / "t.db"
    store = SQLiteStore(path, writer="process")
    await store.open()
    try:
        calls = [store.save_alerts([make_alert(i)]) for i in range(20)]
        calls.append(store._write([("INSERT INTO no_such_table VALUES (?)", [(1,)], True)]))
        calls += [store.save_alerts([make_alert(i)]) for i in range(20, 40)]
        tasks = []
        for call in calls:  # one at a time, so that they spread over several transactions
            tasks.append(asyncio.create_task(call))
            await asyncio.sleep(0.002)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert store.commits >= 2
        assert isinstance(results[20], StorageError)
        assert "no such table: no_such_table" in str(results[20])
        # The callers that shared the bad statement's transaction heard of its failure,
        # and their alerts are not there; every other caller's alert is.
        alerts = [*range(20), None, *range(20, 40)]
        written = sorted(make_alert(alerts[k]).fingerprint for k, r in enumerate(results)
                         if k != 20 and r is None)
        assert all(r is None or isinstance(r, StorageError) for r in results)
        assert sorted(a.fingerprint for a in await store.load_alerts()) == written
        assert make_alert(0).fingerprint in written  # the first went alone
    finally:
        await store.close()


async def test_closing_the_store_ends_the_writer_process(tmp_path):
    store = SQLiteStore(tmp_path / "t.db", writer="process")
    await store.open()
    await store.save_alerts([make_alert(0)])
    proc = store._child.proc
    assert proc.returncode is None
    await store.close()
    assert proc.returncode == 0


async def test_an_in_memory_store_commits_in_its_thread():
    store = SQLiteStore(":memory:", writer="process")
    await store.open()
    try:
        await store.save_alerts([make_alert(0)])
        assert store._child is None
        assert [a.fingerprint for a in await store.load_alerts()] == [make_alert(0).fingerprint]
    finally:
        await store.close()


def test_a_batch_writes_each_table_in_as_few_statements_as_order_allows():
    """Writes to different tables commute; the order of writes to one table is kept."""
    from tocsin.store.writer import merged

    up, inc, hist = rows.ALERT_SQL, rows.INCIDENT_SQL, rows.HISTORY_SQL
    delete = "DELETE FROM alerts WHERE fingerprint = ?"
    three_requests = [op for n in range(3) for op in ((up, [("a", n)], True), (inc, [("i", n)], True),
                                                      (hist, [("h", n)], True))]
    assert merged(three_requests) == [(up, [("a", 0), ("a", 1), ("a", 2)], True),
                                      (inc, [("i", 0), ("i", 1), ("i", 2)], True),
                                      (hist, [("h", 0), ("h", 1), ("h", 2)], True)]
    # A delete of the same table between them keeps them apart, in order.
    assert merged([(up, [1], True), (delete, [(1,)], True), (up, [2], True)]) == [
        (up, [1], True), (delete, [(1,)], True), (up, [2], True)]
    # A statement whose table is not known stands between everything.
    assert merged([(up, [1], True), ("SELECT 1", (), False), (up, [2], True)]) == [
        (up, [1], True), ("SELECT 1", (), False), (up, [2], True)]
    # A write of another table does not.
    nflog = ("DELETE FROM nflog WHERE expires_at <= ?", (5,), False)
    assert merged([(up, [1], True), nflog, (up, [2], True)]) == [(up, [1, 2], True), nflog]


def test_a_write_that_reads_another_table_keeps_its_order_with_that_tables_writes():
    """An incident's row is dropped where its alert's row implies it: the drop reads
    ``alerts``, so it does not move before an alert row written ahead of it, even to join
    an earlier drop of the same commit."""
    from tocsin.store import implied
    from tocsin.store.writer import merged

    born, plain, drop = rows.ALERT_BORN_SQL, rows.ALERT_SQL, implied.DROP_ROW_SQL
    first = [(born, [("y",)], True), (plain, [("x",)], True), (drop, [("y",)], True)]
    second = [(born, [("z",)], True), (drop, [("z",)], True)]
    assert merged([*first, *second]) == [
        (born, [("y",)], True), (plain, [("x",)], True), (drop, [("y",)], True),
        (born, [("z",)], True), (drop, [("z",)], True)]
    # Writes that neither touches still merge across it.
    hist = rows.HISTORY_SQL
    assert merged([(hist, [1], True), (drop, [("y",)], True), (hist, [2], True)]) == [
        (hist, [1, 2], True), (drop, [("y",)], True)]


def test_a_journal_frame_stands_for_its_operations_and_merges_with_the_rest():
    """A frame goes to the writer as it was appended to the journal (its marshal data);
    the writer merges what it holds with the operations around it, in order."""
    import marshal

    from tocsin.store.writer import FRAME_SQL, merged

    up, inc = rows.ALERT_SQL, rows.INCIDENT_SQL
    frame = marshal.dumps([(up, [("a", 1)], True), (inc, [("i", 1)], True)])
    assert merged([(up, [("a", 0)], True), (FRAME_SQL, frame, False), (up, [("a", 2)], True)]) == [
        (up, [("a", 0), ("a", 1), ("a", 2)], True), (inc, [("i", 1)], True)]
