"""The ingest journal (tocsin.store.journal): ingest's writes answered once appended, committed
after; what a killed process never committed, committed at the next start; a failed commit
committed again; a journal that is not this database's, set aside."""

from __future__ import annotations

import asyncio
import marshal
import os
import sqlite3
import subprocess
import sys
import textwrap
import zlib
from contextlib import closing
from pathlib import Path

import pytest

from tocsin.core.models import Alert
from tocsin.store import StorageError, journal
from tocsin.store.sqlite import SQLiteStore


def make_alert(i: int) -> Alert:
    return Alert(fingerprint=f"{i:016x}", labels={"alertname": "A", "n": str(i)},
                 starts_at=1000.0 + i, ends_at=2000.0 + i, updated_at=1500.0 + i)


def sql(path: Path, statement: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as db:
        found = db.execute(statement).fetchall()
        db.commit()
        return found


def frame(seq: int, ops: list) -> bytes:
    body = marshal.dumps([*ops, (journal.MARK_SQL, [(seq,)], True)])
    return journal.HEAD.pack(len(body), zlib.crc32(body), seq) + body


def history_op(i: int) -> tuple:
    return ("INSERT INTO history (at, alert_id, fingerprint, kind, actor, detail) VALUES (?, ?, ?, ?, ?, ?)",
            [(1000.0 + i, f"inc{i}", f"{i:016x}", "note", "test", b"")], True)


def jsize(path: Path) -> int:
    return os.path.getsize(f"{path}.journal")


def exists(path: str) -> bool:
    return os.path.exists(path)


def write_journal(path: Path, content: bytes) -> None:
    Path(f"{path}.journal").write_bytes(content)


def read_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


async def opened(path: Path, **kw) -> SQLiteStore:
    store = SQLiteStore(path, **kw)
    await store.open()
    return store


@pytest.mark.parametrize("writer", ["thread", "process"])
async def test_a_journaled_save_is_answered_before_its_commit_and_read_after_it(tmp_path, writer):
    path = tmp_path / "t.db"
    store = await opened(path, writer=writer)
    try:
        commits = store.commits
        await store.save(alerts=[make_alert(1)], journal=True)
        assert store.commits == commits  # answered: appended, not yet committed
        assert jsize(path) > journal.START
        assert [a.fingerprint for a in await store.load_alerts()] == [make_alert(1).fingerprint]
        assert store.commits == commits + 1  # the read waited for the commit
        assert sql(path, "SELECT seq FROM journal_mark") == [(1,)]
        await store.save(alerts=[make_alert(2)])  # not journaled: answered once committed
        assert store.commits == commits + 2
    finally:
        await store.close()
    assert jsize(path) == journal.START  # closed settled: emptied


async def test_many_journaled_saves_share_commits_in_order(tmp_path):
    path = tmp_path / "t.db"
    store = await opened(path, writer="process")
    try:
        for i in range(200):
            await store.save(alerts=[make_alert(i)], journal=True)
        got = await store.load_alerts()
        assert len(got) == 200
        assert store.commits < 200
        assert sql(path, "SELECT seq FROM journal_mark") == [(200,)]
    finally:
        await store.close()


KILLED = textwrap.dedent("""
    import asyncio, os, signal, sys
    sys.path.insert(0, {tests!r})
    from tocsin.store.sqlite import SQLiteStore
    from test_journal import make_alert

    async def main():
        store = SQLiteStore({path!r}, writer={writer!r})
        await store.open()
        await store.save(alerts=[make_alert(0)])  # committed before the journal's turn
        loop = asyncio.get_running_loop()
        store._queue.submit = lambda ops: loop.create_future()  # the commits never come
        for i in range(1, 6):
            await store.save(alerts=[make_alert(i)], journal=True)
        print("answered", flush=True)
        os.kill(0, signal.SIGKILL)  # this process and its writer process, as systemd's kill does

    asyncio.run(main())
""")


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_what_was_answered_and_never_committed_is_committed_at_the_next_start(tmp_path, writer):
    path = tmp_path / "t.db"
    script = KILLED.format(tests=str(Path(__file__).parent), path=str(path), writer=writer)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          start_new_session=True)
    assert proc.returncode == -9, proc.stderr
    assert proc.stdout.splitlines()[-1] == "answered"  # (after the log lines)
    assert sql(path, "SELECT COUNT(*) FROM alerts") == [(1,)]
    assert sql(path, "SELECT seq FROM journal_mark") == [(0,)]

    async def reopen() -> list[str]:
        store = await opened(path)
        try:
            return sorted(a.fingerprint for a in await store.load_alerts())
        finally:
            await store.close()

    assert asyncio.run(reopen()) == [make_alert(i).fingerprint for i in range(6)]
    assert sql(path, "SELECT seq FROM journal_mark") == [(5,)]
    assert jsize(path) == journal.START
    # Once committed, never again: a second start finds nothing to do.
    assert asyncio.run(reopen()) == [make_alert(i).fingerprint for i in range(6)]
    assert sql(path, "SELECT seq FROM journal_mark") == [(5,)]


async def make_db(path: Path) -> bytes:
    store = await opened(path)
    await store.close()
    return bytes(sql(path, "SELECT db FROM journal_mark")[0][0])


async def test_frames_the_database_holds_are_not_committed_again(tmp_path):
    """Killed after a commit but before the file was emptied: only the frames after the mark."""
    path = tmp_path / "t.db"
    db_id = await make_db(path)
    sql(path, "UPDATE journal_mark SET seq = 1")
    sql(path, "UPDATE journal_mark SET seq = 2")
    write_journal(path,
        journal.MAGIC + db_id + b"".join(frame(i, [history_op(i)]) for i in (1, 2, 3, 4)))
    store = await opened(path)
    await store.close()
    assert sql(path, "SELECT alert_id FROM history ORDER BY id") == [("inc3",), ("inc4",)]
    assert sql(path, "SELECT seq FROM journal_mark") == [(4,)]


async def test_a_frame_cut_short_at_the_end_is_dropped(tmp_path, caplog):
    path = tmp_path / "t.db"
    db_id = await make_db(path)
    whole = frame(1, [history_op(1)])
    cut = frame(2, [history_op(2)])[:-3]
    write_journal(path, journal.MAGIC + db_id + whole + cut)
    store = await opened(path)
    await store.close()
    assert sql(path, "SELECT alert_id FROM history") == [("inc1",)]
    assert sql(path, "SELECT seq FROM journal_mark") == [(1,)]
    assert jsize(path) == journal.START


@pytest.mark.parametrize("case", ["another database", "a gap after the mark", "not a journal"])
async def test_a_journal_that_does_not_follow_on_from_the_database_is_set_aside(tmp_path, case):
    path = tmp_path / "t.db"
    db_id = await make_db(path)
    content = {
        "another database": journal.MAGIC + os.urandom(16) + frame(1, [history_op(1)]),
        "a gap after the mark": journal.MAGIC + db_id + frame(2, [history_op(2)]),
        "not a journal": b"something else entirely, long enough to hold a header",
    }[case]
    write_journal(path, content)
    store = await opened(path)
    await store.close()
    assert sql(path, "SELECT COUNT(*) FROM history") == [(0,)]
    assert read_bytes(f"{path}.journal.unreplayed") == content
    assert jsize(path) == journal.START


async def test_the_mark_only_moves_to_the_next_frame(tmp_path):
    """What keeps a commit that follows a failed one (already on its way) from committing."""
    path = tmp_path / "t.db"
    await make_db(path)
    with pytest.raises(sqlite3.IntegrityError, match="journal frames committed out of order"):
        sql(path, "UPDATE journal_mark SET seq = 2")
    sql(path, "UPDATE journal_mark SET seq = 1")
    assert sql(path, "SELECT seq FROM journal_mark") == [(1,)]


@pytest.mark.parametrize("writer", ["thread", "process"])
async def test_a_failed_commit_of_journaled_writes_is_committed_again(tmp_path, writer, monkeypatch):
    monkeypatch.setattr(journal, "RETRY", 0.1)
    path = tmp_path / "t.db"
    store = await opened(path, writer=writer)
    try:
        sql(path, "CREATE TRIGGER refuse BEFORE INSERT ON alerts"
                  " BEGIN SELECT RAISE(ABORT, 'the disk is full'); END")
        for i in range(5):
            await store.save(alerts=[make_alert(i)], journal=True)
        for _ in range(1000):  # (a loaded machine's margin: it is found at the first commit)
            if store.failure is not None:
                break
            await asyncio.sleep(0.01)
        assert store.failure is not None
        assert "the disk is full" in store.failure
        assert not store.needs_restart  # it passes by itself
        with pytest.raises(StorageError):  # meanwhile, ingest is refused
            await store.save(alerts=[make_alert(9)], journal=True)
        with pytest.raises(StorageError):  # and every other write: nothing goes ahead of them
            await store.delete_alerts([make_alert(0).fingerprint])
        await asyncio.sleep(0.3)  # retried, and refused again
        assert store.failure is not None
        sql(path, "DROP TRIGGER refuse")
        for _ in range(1000):  # (retried every 0.1 s)
            if store.failure is None:
                break
            await asyncio.sleep(0.01)
        assert store.failure is None
        assert sorted(a.fingerprint for a in await store.load_alerts()) == [
            make_alert(i).fingerprint for i in range(5)]
        assert sql(path, "SELECT seq FROM journal_mark") == [(5,)]
        await store.save(alerts=[make_alert(5)], journal=True)  # and on as before
        assert len(await store.load_alerts()) == 6
    finally:
        await store.close()


async def test_a_store_closed_with_frames_uncommitted_keeps_them_for_the_next_start(tmp_path):
    path = tmp_path / "t.db"
    store = await opened(path)
    sql(path, "CREATE TRIGGER refuse BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'no'); END")
    await store.save(alerts=[make_alert(1)], journal=True)
    await store.close()
    assert jsize(path) > journal.START
    sql(path, "DROP TRIGGER refuse")
    store = await opened(path)
    try:
        assert [a.fingerprint for a in await store.load_alerts()] == [make_alert(1).fingerprint]
    finally:
        await store.close()


async def test_the_journal_is_emptied_once_everything_in_it_is_committed(tmp_path, monkeypatch):
    monkeypatch.setattr(journal, "SETTLE_AT", 2000)
    path = tmp_path / "t.db"
    store = await opened(path)
    try:
        sizes = []
        for i in range(20):
            await store.save(alerts=[make_alert(i)], journal=True)
            await store.load_alerts()
            sizes.append(jsize(path))
        assert max(sizes) < 2000 + 1000
        assert min(sizes) == journal.START
        assert len(await store.load_alerts()) == 20
    finally:
        await store.close()


def test_a_journal_that_cannot_be_written_refuses_the_write(tmp_path):
    j = journal.Journal(str(tmp_path / "j"), b"\0" * 16, 0)
    with pytest.raises(StorageError, match="the journal is closed"):
        j.append([history_op(1)])
    j.open()
    os.close(j._fd)  # the file can no longer be written
    with pytest.raises(StorageError, match=r"the journal .* could not be written"):
        j.append([history_op(1)])
    assert j.seq == 0


async def test_a_failed_commit_is_tried_again_at_once_when_asked(tmp_path, monkeypatch):
    """Ingest asks before it refuses a request: once there is room, the first request is taken,
    without waiting for the next retry."""
    monkeypatch.setattr(journal, "RETRY", 3600.0)
    path = tmp_path / "t.db"
    store = await opened(path, writer="process")
    try:
        sql(path, "CREATE TRIGGER refuse BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'full'); END")
        await store.save(alerts=[make_alert(1)], journal=True)
        await store._settled()
        assert store.failure is not None
        with pytest.raises(StorageError, match="full"):
            await store.recover()
        sql(path, "DROP TRIGGER refuse")
        await asyncio.gather(store.recover(), store.recover())  # one attempt, shared
        assert store.failure is None
        await store.save(alerts=[make_alert(2)], journal=True)
        assert sorted(a.fingerprint for a in await store.load_alerts()) == [
            make_alert(1).fingerprint, make_alert(2).fingerprint]
    finally:
        await store.close()


@pytest.mark.parametrize("case", ["synchronous FULL", "the journal far ahead"])
async def test_a_journaled_save_answered_after_its_commit(tmp_path, monkeypatch, case):
    """``synchronous: FULL`` answers once committed, and keeps no journal; past AHEAD bytes
    not yet committed, a journaled write waits for its commit, so that the transactions
    (and the frames held for them) stay small."""
    full = case == "synchronous FULL"
    if not full:
        monkeypatch.setattr(journal, "AHEAD", 0)
    path = tmp_path / "t.db"
    store = await opened(path, **({"synchronous": "FULL"} if full else {"writer": "process"}))
    try:
        commits = store.commits
        await store.save(alerts=[make_alert(1)], journal=True)
        assert store.commits == commits + 1
        if full:
            assert not exists(f"{path}.journal")
        else:
            assert store._journaled.ahead == 0
    finally:
        await store.close()
