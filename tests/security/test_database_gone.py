"""The database's files removed, or another file renamed over the database, under a
running daemon.

SQLite goes on committing into the files it opened, which nothing can open again once
they are unlinked: before the fix every write was answered 200 and all of them were gone
after a restart, with ``/-/ready`` green and nothing logged. Now ingest answers 503 with
the reason, ``/-/ready`` is 503 with the reason, one error is logged, systemd's watchdog
pings stop (so systemd restarts tocsin), and no alert answered 2xx is missing after a
restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from tests.peers import Daemon
from tocsin.testing import wait_until

pytestmark = pytest.mark.e2e

CONFIG = """
route: {receiver: blackhole, group_by: ['...']}
receivers: [{name: blackhole}]
"""

LOGGED = "database files removed or replaced while running"


@pytest.fixture
def daemon(tmp_path):
    cfg = tmp_path / "tocsin.yml"
    cfg.write_text(CONFIG)
    d = Daemon(cfg, tmp_path / "db" / "tocsin.db", tmp_path / "tocsin.log")
    yield d
    d.stop()


async def post_each(d: Daemon, names: list[str]) -> dict[str, tuple[int, str]]:
    """One request per alert: its status and body, by the alert's name."""
    answers = {}
    async with aiohttp.ClientSession() as s:
        for name in names:
            async with s.post(f"{d.url}/api/v2/alerts", json=[{"labels": {"alertname": name}}]) as r:
                answers[name] = (r.status, await r.text())
    return answers


async def ready(d: Daemon) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(f"{d.url}/-/ready") as r:
        return r.status, await r.text()


async def held_after_restart(d: Daemon) -> set[str]:
    assert d.stop() == 0
    await d.start()
    return {a["labels"]["alertname"] for a in await d.get_alerts()}


def accepted(answers: dict[str, tuple[int, str]]) -> list[str]:
    return [name for name, (status, _) in answers.items() if 200 <= status < 300]


def errors(answers: dict[str, tuple[int, str]]) -> list[str]:
    # Alertmanager's API answers its errors as a JSON string.
    return [json.loads(body) for status, body in answers.values() if status == 503]


async def test_removed_database_refuses_writes_and_loses_nothing_answered(daemon):
    await daemon.start()
    before = await post_each(daemon, [f"before-{i}" for i in range(5)])
    assert len(accepted(before)) == 5
    for suffix in ("", "-wal", "-shm"):
        os.remove(f"{daemon.storage}{suffix}")

    # New alerts, and the ones held re-posted (as Prometheus does at every evaluation).
    answers = await post_each(daemon, [f"after-{i}" for i in range(15)] + list(before))
    statuses = Counter(status for status, _ in answers.values())
    ready_status, ready_text = await ready(daemon)
    logs = daemon.logs()
    held = await held_after_restart(daemon)
    lost = [name for name in accepted(answers) if name not in held]
    print(f"database removed: answers {dict(statuses)}, /-/ready {ready_status}, "
          f"{len(lost)} of {len(accepted(answers))} alerts answered 2xx lost after a restart, "
          f"errors logged {logs.count(LOGGED)}; first answer: {errors(answers)[:1]}")
    assert not lost, f"answered 2xx, gone after a restart: {lost}"
    assert statuses == {503: 20}
    assert all(f"database file {daemon.storage} was removed" in e for e in errors(answers))
    assert ready_status == 503
    assert f"{daemon.storage} was removed" in ready_text
    assert logs.count(LOGGED) == 1  # once, however many writes were refused
    assert '"level":"error"' in next(line for line in logs.splitlines() if LOGGED in line)
    # The restart created a new database, which takes alerts and keeps them.
    assert held == set()  # what the removed file held went with it
    assert accepted(await post_each(daemon, ["fresh"])) == ["fresh"]
    assert await held_after_restart(daemon) == {"fresh"}


async def test_replaced_database_turns_ready_red_with_nothing_written(daemon, tmp_path):
    await daemon.start()
    assert len(accepted(await post_each(daemon, ["before"]))) == 1
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE unrelated (x)")
    conn.close()
    os.replace(other, daemon.storage)  # the -wal and -shm stay those of the old file
    replaced = time.monotonic()

    async def red() -> bool:
        return (await ready(daemon))[0] == 503

    await wait_until(red, 10, 0.05, message="/-/ready to answer 503 after the file was replaced")
    noticed = time.monotonic() - replaced
    ready_text = (await ready(daemon))[1]
    answers = await post_each(daemon, [f"after-{i}" for i in range(20)])
    held = await held_after_restart(daemon)
    lost = [name for name in accepted(answers) if name not in held]
    print(f"database replaced: /-/ready red after {noticed:.2f} s with nothing written, "
          f"answers {dict(Counter(s for s, _ in answers.values()))}, {len(lost)} lost after a restart")
    assert not lost, f"answered 2xx, gone after a restart: {lost}"
    assert f"database file {daemon.storage} was replaced by another file" in ready_text
    assert len(errors(answers)) == 20
    assert all("was replaced by another file" in e for e in errors(answers))
    assert daemon.logs().count(LOGGED) == 1
    # The restart opened the file now at the path (the other one), and works on it.
    assert held == set()
    with sqlite3.connect(daemon.storage) as conn:
        assert conn.execute("SELECT count(*) FROM unrelated").fetchone() == (0,)
    conn.close()
    assert accepted(await post_each(daemon, ["fresh"])) == ["fresh"]


class _Notifications:
    """A datagram socket in the role of systemd's ``$NOTIFY_SOCKET``."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tocsin-sd-"))  # AF_UNIX paths are short
        self.path = self.dir / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.setblocking(False)
        self.lines: list[str] = []

    def read(self) -> list[str]:
        while True:
            try:
                self.lines.extend(self.sock.recv(65536).decode().split("\n"))
            except BlockingIOError:
                return self.lines

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


async def test_removed_database_stops_the_systemd_watchdog(daemon, monkeypatch):
    sd = _Notifications()
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", str(sd.path))
        monkeypatch.setenv("WATCHDOG_USEC", "200000")  # a ping every 0.1 s
        await daemon.start()
        await wait_until(lambda: sd.read().count("WATCHDOG=1") >= 3, 10, 0.05, message="watchdog pings")
        os.remove(daemon.storage)

        def broken() -> bool:
            return any(line.startswith("STATUS=broken: the database file") for line in sd.read())

        await wait_until(broken, 10, 0.05, message="STATUS=broken after the database was removed")
        after = len(sd.lines)
        await asyncio.sleep(1.0)
        pings = sd.read()[after:].count("WATCHDOG=1")
        print(f"watchdog pings in the second after STATUS=broken: {pings}")
        assert pings == 0
    finally:
        sd.close()
