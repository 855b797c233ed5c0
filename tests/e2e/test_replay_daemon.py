"""``tocsin replay`` on history a real runtime made on a fake clock: a week of alerts
replayed through a config whose route matchers changed reports exactly the alerts that
moved (exit 1), through the same config nothing (exit 0); and ``--verify`` finds no
difference between the replay and what was recorded, across silences, inhibition, a
time interval, resolves, an acknowledgement and a restart."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from tocsin.core.clock import FakeClock
from tocsin.core.records import Silence, SilenceMatcher
from tocsin.core.timefmt import format_ts
from tocsin.testing import RecordingServer
from tocsin.testing.harness import advance, post, running

pytestmark = pytest.mark.e2e

#: 2023-11-14 23:00 UTC.
START = 1_700_002_800.0
DAY = 86400.0

CONFIG = """
global:
  resolve_timeout: 1d
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 30s
  group_interval: 60s
  repeat_interval: 1h
  routes:
    - matchers: [{db}]
      receiver: db
    - matchers: ['team="web"']
      receiver: web
      mute_time_intervals: [night]
{inhibit}time_intervals:
  - name: night
    time_intervals:
      - times: [{{start_time: "00:00", end_time: "00:30"}}]
receivers:
  - name: ops
    webhook_configs: [{{url: "{url}/ops", send_resolved: true}}]
  - name: db
    webhook_configs: [{{url: "{url}/db", send_resolved: true}}]
  - name: web
    webhook_configs: [{{url: "{url}/web"}}]
"""
INHIBIT = """inhibit_rules:
  - source_matchers: ['alertname="DcDown"']
    target_matchers: ['severity="warning"']
    equal: [dc]
"""
OLD_DB = "'team=\"db\"'"
NEW_DB = "'team=\"db\"', 'env=\"prod\"'"


@pytest.fixture
async def server():
    s = RecordingServer()
    await s.start()
    yield s
    await s.stop()


def firing(name: str, **labels: str) -> dict:
    return {"labels": {"alertname": name, **labels}}


def resolved(clock: FakeClock, name: str, **labels: str) -> dict:
    return {"labels": {"alertname": name, **labels}, "endsAt": format_ts(clock.now())}


async def replay(*args: str) -> tuple[int, dict]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tocsin", "replay", *args, "-o", "json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode in (0, 1), err.decode()
    return proc.returncode, json.loads(out)


#: (hour of the day, alertname, labels): a day's incidents.
A_DAY = ((1, "DiskFull", {"team": "db", "env": "prod"}),
         (3, "SlowQuery", {"team": "db", "env": "staging"}),
         (5, "Http5xx", {"team": "web"}),
         (7, "NodeDown", {"env": "prod"}))


async def test_a_route_change_reports_exactly_the_alerts_that_moved(tmp_path, server):
    clock = FakeClock(start=START)
    old = CONFIG.format(url=server.url, db=OLD_DB, inhibit=INHIBIT)
    async with running(old, tmp_path, clock=clock) as rt:
        for day in range(7):
            for hour, name, labels in A_DAY:
                clock.advance(START + day * DAY + hour * 3600 - clock.now())
                await post(rt, firing(name, day=str(day), **labels))
                await advance(rt, 40)
                await advance(rt, 60)
                await post(rt, resolved(clock, name, day=str(day), **labels))
                await advance(rt, 60)
        clock.advance(START + 7 * DAY - clock.now())
    (tmp_path / "old.yml").write_text(old)
    (tmp_path / "new.yml").write_text(CONFIG.format(url=server.url, db=NEW_DB, inhibit=INHIBIT))
    window = ["--storage", str(tmp_path / "tocsin.db"), "--since", f"{START:.0f}",
              "--until", f"{START + 7 * DAY:.0f}"]

    code, report = await replay("--config", str(tmp_path / "new.yml"), *window)
    assert code == 1
    moved = report["paging_changed"]
    assert sorted(p["labels"]["day"] for p in moved) == [str(d) for d in range(7)]
    assert {(p["alertname"], p["labels"]["env"]) for p in moved} == {("SlowQuery", "staging")}
    assert all(p["receivers_old"] == ["db"] and p["receivers_new"] == ["ops"] for p in moved)
    by_receiver = {r["receiver"]: r for r in report["receivers"]}
    assert sorted(by_receiver) == ["db", "ops"]
    assert len(by_receiver["db"]["no_longer_reaching"]) == 7
    assert not by_receiver["db"]["newly_reaching"]
    assert len(by_receiver["ops"]["newly_reaching"]) == 7
    assert not by_receiver["ops"]["no_longer_reaching"]
    assert report["alerts_replayed"] == 28

    code, same = await replay("--config", str(tmp_path / "old.yml"), *window)
    assert code == 0
    assert same["receivers"] == []
    assert same["paging_changed"] == []
    assert same["notifications"]["old"] == same["notifications"]["new"] > 0
    code, against = await replay("--config", str(tmp_path / "new.yml"),
                                 "--against", str(tmp_path / "old.yml"), *window)
    assert code == 1
    assert against["paging_changed"] == moved


async def steps(rt, clock: FakeClock, until: float) -> None:
    """Move on 10 s at a time (every timer of CONFIG falls on a multiple of 10 s)."""
    while clock.now() < until:
        await advance(rt, 10)


async def test_verify_finds_the_recorded_run_reproduced(tmp_path, server):
    """Silences, inhibition, a time interval, resolves, an acknowledgement and a restart."""
    clock = FakeClock(start=START)
    config = CONFIG.format(url=server.url, db=OLD_DB, inhibit=INHIBIT)
    async with running(config, tmp_path, clock=clock) as rt:
        await rt.silences.set(Silence(matchers=(SilenceMatcher("alertname", "NodeDown"),), starts_at=START,
                                      ends_at=START + 1800, created_by="ana", comment="planned"), START)
        disk = await post(rt, firing("DiskFull", team="db", env="prod", severity="critical"))
        await post(rt, firing("Http5xx", team="web"))
        await steps(rt, clock, START + 300)
        await post(rt, firing("NodeDown", env="prod"))  # silenced until START + 1800
        await steps(rt, clock, START + 600)
        await post(rt, firing("DcDown", dc="a", severity="critical"),
                   firing("CpuHigh", dc="a", severity="warning"),  # inhibited while DcDown fires
                   firing("MemHigh", dc="b", severity="warning"))
        await steps(rt, clock, START + 1200)
        await post(rt, resolved(clock, "DcDown", dc="a", severity="critical"))
        await steps(rt, clock, START + 2400)
    async with running(config, tmp_path, clock=clock) as rt:  # a restart
        await advance(rt, 0)
        await steps(rt, clock, START + 3700)
        await post(rt, firing("Http5xx", team="web", instance="2"))  # muted by the night interval
        await steps(rt, clock, START + 4000)
        await rt.lifecycle.acknowledge(disk.fingerprints[0], by="ana")  # no more reminders
        await steps(rt, clock, START + 8000)
        await post(rt, resolved(clock, "DiskFull", team="db", env="prod", severity="critical"))
        await steps(rt, clock, START + 8400)
    window = ["--storage", str(tmp_path / "tocsin.db"), "--since", f"{START - 1:.0f}",
              "--until", f"{START + 8400:.0f}"]

    code, result = await replay("--verify", *window)
    assert code == 0, result
    assert result["differences"] == []
    assert result["groups"] == []
    assert result["recorded"] == result["replayed"] >= 12
    assert len(result["configs"]) == 1  # one config, loaded twice

    # The check can fail: without the inhibition rule, CpuHigh would have been sent.
    (tmp_path / "no-inhibit.yml").write_text(config.replace(INHIBIT, ""))
    code, result = await replay("--verify", "--against", str(tmp_path / "no-inhibit.yml"), *window)
    assert code == 1
    assert {d["alertname"] for d in result["differences"] if d["only"] == "replayed"} == {"CpuHigh"}
