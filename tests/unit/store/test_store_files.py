"""The database's files removed or replaced under an open store: the store fails, with the
reason, and refuses writes (they would go to files nothing can open again)."""

from __future__ import annotations

import os
import sqlite3

import pytest
import structlog

from tocsin.core.models import Alert
from tocsin.store import StorageError
from tocsin.store.files import FileWatch
from tocsin.store.sqlite import SQLiteStore


def make_alert(i: int) -> Alert:
    return Alert(fingerprint=f"{i:016x}", labels={"alertname": "A", "n": str(i)},
                 starts_at=1000.0 + i, ends_at=2000.0 + i, updated_at=1500.0 + i)


@pytest.mark.parametrize("writer", ["thread", "process"])
@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
async def test_a_removed_file_fails_the_write_that_went_into_it(tmp_path, writer, suffix):
    path = tmp_path / "t.db"
    store = SQLiteStore(path, writer=writer)
    await store.open()
    try:
        await store.save_alerts([make_alert(0)])
        assert store.failure is None
        os.remove(f"{path}{suffix}")
        with structlog.testing.capture_logs() as logs:
            # Committed, into the unlinked file: the caller is told it is not stored.
            with pytest.raises(StorageError, match=f"database file {path}{suffix} was removed"):
                await store.save_alerts([make_alert(1)])
            commits = store.commits
            # Refused from now on, without a commit, and the error is logged once.
            with pytest.raises(StorageError, match="Restart tocsin"):
                await store.save_alerts([make_alert(2)])
            assert store.commits == commits
        assert [e["log_level"] for e in logs] == ["error"]
        assert store.failure is not None
        assert f"{path}{suffix} was removed" in store.failure
        assert len(await store.load_alerts()) == 2  # reads still work, from the open files
    finally:
        await store.close()
    # A restart opens what is at the path (here a new, empty database when the file is gone).
    again = SQLiteStore(path, writer=writer)
    await again.open()
    try:
        assert again.failure is None
        await again.save_alerts([make_alert(3)])
        assert {a.fingerprint for a in await again.load_alerts()} >= {make_alert(3).fingerprint}
    finally:
        await again.close()


async def test_a_file_renamed_over_the_database_fails_the_store(tmp_path):
    path = tmp_path / "t.db"
    store = SQLiteStore(path, writer="process")
    await store.open()
    try:
        await store.save_alerts([make_alert(0)])
        other = tmp_path / "other.db"
        with sqlite3.connect(other) as conn:
            conn.execute("CREATE TABLE unrelated (x)")
        conn.close()
        os.replace(other, path)
        with pytest.raises(StorageError, match=f"database file {path} was replaced by another file"):
            await store.save_alerts([make_alert(1)])
        assert store.failure is not None
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:  # the file at the path is the other one, untouched
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("unrelated",)]
    conn.close()


async def test_a_commit_that_fails_in_a_file_that_replaced_the_database_says_so(tmp_path):
    path = tmp_path / "t.db"
    store = SQLiteStore(path, writer="process")
    await store.open()
    try:
        # An empty file where the database was, and a writer process started again: it
        # opens the new file, where the commit fails; the reason given is the new file.
        os.replace(path, tmp_path / "old.db")
        path.write_bytes(b"")
        store._child.proc.kill()
        await store._child.proc.wait()
        with structlog.testing.capture_logs() as logs, pytest.raises(
                StorageError, match=f"database file {path} was replaced"):
            await store.save_alerts([make_alert(0)])
        assert logs[0]["event"] == "database write failed"
        assert "no such table" in logs[0]["error"]
    finally:
        await store.close()


def test_the_watch_checks_the_files_there_were(tmp_path):
    path = tmp_path / "t.db"
    path.write_bytes(b"")
    watch = FileWatch(str(path))
    watch.remember()  # no -wal, no -shm: only the database file is watched
    (tmp_path / "t.db-wal").write_bytes(b"")
    assert watch.check() is None
    moved = tmp_path / "elsewhere.db"
    os.rename(path, moved)
    os.symlink(moved, path)  # the same file behind the path: not a change
    assert watch.check() is None
    path.unlink()
    path.write_bytes(b"")
    reason = watch.check()
    assert reason is not None
    assert "was replaced by another file" in reason
    path.unlink()
    assert watch.check() == reason  # the first failure stays


async def test_an_in_memory_store_has_no_files_to_watch():
    store = SQLiteStore(":memory:")
    await store.open()
    try:
        await store.save_alerts([make_alert(0)])
        assert store.failure is None
    finally:
        await store.close()
