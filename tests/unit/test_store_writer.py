"""The writer process: what the store does when it dies, and that it ends with the store."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from tocsin.models import Alert
from tocsin.store import StorageError
from tocsin.store.sqlite import SQLiteStore


def make_alert(i: int) -> Alert:
    return Alert(fingerprint=f"{i:016x}", labels={"alertname": "A", "n": str(i)},
                 starts_at=1000.0 + i, ends_at=2000.0 + i, updated_at=1500.0 + i)


async def test_a_writer_process_that_died_is_replaced(tmp_path):
    path = tmp_path / "t.db"
    store = SQLiteStore(path, writer="process")
    await store.open()
    try:
        await store.save_alerts([make_alert(0)])
        first = store._child.proc
        os.kill(first.pid, signal.SIGKILL)
        await first.wait()
        # It is known to be gone: the next commit starts another writer.
        await store.save_alerts([make_alert(1)])
        second = store._child.proc
        assert second is not first and second.returncode is None

        # Dying in the middle of an exchange (here: a stand-in that reads a byte of the
        # request and exits): that commit fails, naming why, and the next one starts
        # another writer.
        await store._child.close()
        store._child.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; sys.stdin.buffer.read(1)",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        stand_in = store._child.proc
        with pytest.raises(StorageError, match=r"the database writer process exited "
                                               r"\(IncompleteReadError\)"):
            await store.save_alerts([make_alert(9)])
        await store.save_alerts([make_alert(2)])
        assert store._child.proc not in (first, second, stand_in)
    finally:
        await store.close()
    reopened = SQLiteStore(path)
    await reopened.open()
    try:
        got = sorted(a.fingerprint for a in await reopened.load_alerts())
    finally:
        await reopened.close()
    assert got == [make_alert(i).fingerprint for i in range(3)]


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
