"""GroupCommit: concurrent writes share a transaction; a posted record goes with the
next commit without its caller waiting."""

from __future__ import annotations

import asyncio

import pytest
import structlog

from tocsin.store import StorageError
from tocsin.store.batching import GroupCommit


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.commits: list[list] = []
        self.fail = fail

    async def __call__(self, ops: list) -> None:
        await asyncio.sleep(0)
        self.commits.append(ops)
        if self.fail:
            raise StorageError("disk full")


async def test_posted_record_shares_the_commit_of_the_write_after_it():
    rec = Recorder()
    q = GroupCommit(rec)
    q.start()
    q.post([("INSERT attempt", (1,), False)], "delivery attempt")
    await q.write([("INSERT nflog", (2,), False)])
    assert rec.commits == [[("INSERT attempt", (1,), False), ("INSERT nflog", (2,), False)]]
    await q.close()


async def test_posted_record_alone_is_committed_without_a_caller():
    rec = Recorder()
    q = GroupCommit(rec)
    q.start()
    q.post([("INSERT attempt", (1,), False)], "delivery attempt")
    await q.close()  # commits what is queued
    assert rec.commits == [[("INSERT attempt", (1,), False)]]


async def test_failed_commit_of_a_posted_record_is_logged():
    rec = Recorder(fail=True)
    q = GroupCommit(rec)
    q.start()
    with structlog.testing.capture_logs() as logs:
        q.post([("INSERT attempt", (1,), False)], "delivery attempt")
        with pytest.raises(StorageError):
            await q.write([("INSERT nflog", (2,), False)])
        await q.close()
    assert [e["event"] for e in logs] == ["delivery attempt not recorded"]
    assert logs[0]["error"] == "disk full"


async def test_post_after_close_raises():
    q = GroupCommit(Recorder())
    q.start()
    await q.close()
    with pytest.raises(StorageError):
        q.post([("INSERT attempt", (1,), False)], "delivery attempt")


async def test_a_caller_cancelled_while_its_commit_runs_leaves_the_commit_and_the_others_be():
    gate = asyncio.Event()
    commits: list[list] = []

    async def slow(ops: list) -> None:
        await gate.wait()
        commits.append(ops)

    q = GroupCommit(slow)
    q.start()
    first = asyncio.create_task(q.write([("INSERT a", (1,), False)]))
    second = asyncio.create_task(q.write([("INSERT b", (2,), False)]))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    gate.set()
    await second  # answered once committed
    with pytest.raises(asyncio.CancelledError):
        await first
    await q.close()
    assert commits == [[("INSERT a", (1,), False), ("INSERT b", (2,), False)]]


async def test_a_commit_nobody_waits_for_lingers_for_more_to_join_it():
    rec = Recorder()
    q = GroupCommit(rec, linger=30.0)
    q.start()
    firsts = [q.submit([("INSERT a", (i,), False)]) for i in range(2)]
    await asyncio.sleep(0.05)
    assert rec.commits == []  # still lingering
    q.submit([("INSERT a", (2,), False)])
    q.hurry()
    await asyncio.wait_for(asyncio.gather(*firsts), 5)
    assert rec.commits == [[("INSERT a", (i,), False) for i in range(3)]]  # one commit
    await q.close()

    q = GroupCommit(rec, linger=0.05)  # and the linger ends by itself
    q.start()
    await asyncio.wait_for(q.submit([("INSERT a", (3,), False)]), 5)
    assert rec.commits[-1] == [("INSERT a", (3,), False)]
    await q.close()


async def test_a_write_someone_waits_for_ends_the_linger():
    rec = Recorder()
    q = GroupCommit(rec, linger=60.0)
    q.start()
    q.submit([("INSERT a", (1,), False)])
    await asyncio.wait_for(q.write([("INSERT b", (2,), False)]), 5)
    assert rec.commits == [[("INSERT a", (1,), False), ("INSERT b", (2,), False)]]
    fut = q.submit([("INSERT a", (3,), False)])
    q.hurry()  # a reader waits for it
    await asyncio.wait_for(fut, 5)
    fut = q.submit([("INSERT a", (4,), False)])
    await asyncio.wait_for(q.close(), 5)  # and so does a close
    assert fut.done()
    assert len(rec.commits) == 3
