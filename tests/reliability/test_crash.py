"""Crash: ``kill -9`` under load loses no accepted alert and repeats no notification.

A ``tocsin serve`` subprocess routes to a local webhook receiver that records every
notification in arrival order: ``group_by: [alertname]`` over ``GROUPS`` alert names,
``group_wait: 0s``, ``group_interval: 1s`` and ``repeat_interval: 4h``, so within a test
no notification content may legitimately reach the receiver twice. First a few
alerts go to ``STEADY_GROUPS`` groups that never change again; they are notified once,
and since every restart flushes every group at once, only the persisted notification
log keeps them from going out again after each kill. Then a load generator
(:mod:`tests.reliability.loadgen`) posts new alerts (each with a unique label ``n``)
over a few concurrent connections in small batches and records which requests were
answered 2xx. The test kills the daemon with SIGKILL after a random delay (seeded; the
seed is printed), every second time with its database writer process (so that what was
answered and not yet committed must come back from the ingest journal,
``tocsin.store.journal``), restarts it on the same storage and port while the load goes
on, and repeats. Each run of the daemon gets its own webhook URL (``.../hook/run<i>``; the
notification log is keyed by group, receiver and integration, not by URL), so every
notification is known to come from the run that sent it, even one still in flight when
the kill landed. Proven:

* no loss of alerts: after each restart, every alert answered 2xx before the kill is
  listed by ``GET /api/v2/alerts``; at the end, every alert ever answered 2xx is;
* no loss of notifications: once the load stops, every accepted alert reaches the
  receiver, as firing, in at least one notification;
* no duplicate for a receiver that drops repeated notification ids: two notifications
  with the same group, status and sets of firing and resolved alert fingerprints are
  counted as duplicates, and each must be the resend of a notification the killed run
  had not yet logged as sent, carrying the same ``X-Tocsin-Notification-Id``. A repeat
  of a logged notification, or one under a new id, fails the test.

A request cut by the kill has an unknown outcome: it is not counted as accepted, and
its alerts may or may not show up later.

Delivery is at least once, as in Alertmanager: a kill after the receiver got a
notification but before the daemon committed its notification log entry
(``tocsin.notify.delivery.Delivery._one``) makes the next run send it again. The test measures
that window from the outside: for each notification, from its arrival at the receiver
to the daemon's "notification sent" log line (written once the entry is committed), and
the share of the load time during which some notification was inside it. It also
counts the notifications a kill caught there (``unrecorded_at_kill``) and the kills
that caught one (``kills_in_window``). A duplicate names its group, the two runs, how
long before the kill its first copy arrived, and whether the first run had recorded it
(if so, the restart ignored a committed entry: not the window, a bug).

Quick mode (the default, 3 kills, 10 to 15 s). Long mode, ``N`` kills::

    TOCSIN_CRASH_KILLS=20 .venv/bin/pytest -q -s tests/reliability/test_crash.py

``TOCSIN_CRASH_SEED`` replays a run's kill delays (the load and the machine's timing
still vary). The figures (kills, alerts accepted, notifications, losses, duplicates,
restart-to-ready time p50/max, the window) are printed and appended as JSON with key
``"crash"`` to ``$TOCSIN_RELIABILITY_REPORT`` if set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
import pytest
from aiohttp import web

from tests.peers import Daemon, WebhookReceiver
from tests.reliability.figures import write_report
from tests.reliability.loadgen import AlertLoad
from tocsin.testing import wait_until

pytestmark = pytest.mark.e2e

#: Alert names (so groups) the load is spread over.
GROUPS = 8
#: Groups whose alerts are posted once, before the load, and never change: each restart
#: flushes them at once, and only the notification log keeps them from going out again.
STEADY_GROUPS = 2
#: Seconds of load between a (re)start and the next kill: uniform in this range.
KILL_DELAY = (0.3, 2.5)
#: After the load stops: how long every accepted alert may take to be notified.
FLUSH_TIMEOUT = 90.0
#: After that: how long to keep listening for late repeats (several group intervals).
QUIET = 2.5

CONFIG = """
global: {{resolve_timeout: 1h}}
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 4h
receivers:
  - name: hook
    webhook_configs: [{{url: "{url}", send_resolved: true}}]
"""


class TimedReceiver(WebhookReceiver):
    """A webhook receiver that also notes, for each message, the daemon run that sent it
    (from the URL path ``.../run<i>``) and when it arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[int] = []
        #: Monotonic seconds.
        self.arrived: list[float] = []
        #: Wall-clock seconds (to compare with the daemon's log timestamps).
        self.arrived_wall: list[float] = []
        #: The ``X-Tocsin-Notification-Id`` of each message.
        self.ids: list[str] = []

    def url_for(self, run: int) -> str:
        return f"{self.url}/run{run}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        tag = re.search(r"/run(\d+)$", request.path)
        async with self._arrived:
            self.messages.append(body)
            self.runs.append(int(tag.group(1)) if tag else -1)
            self.arrived.append(time.monotonic())
            self.arrived_wall.append(time.time())
            self.ids.append(request.headers.get("X-Tocsin-Notification-Id", ""))
            self._arrived.notify_all()
        return web.Response(status=self.status)


@dataclass
class Kill:
    """One kill, which ended the run of the same index."""

    at: float
    #: The alerts answered 2xx before the kill that the next run did not list.
    lost: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Duplicate:
    group_key: str
    status: str
    alerts: int
    #: Indexes of the two copies in arrival order, and the runs that sent them.
    first: int
    again: int
    first_run: int
    again_run: int
    #: Seconds from the first copy's arrival to the kill that ended its run (negative:
    #: it arrived after the kill, in flight); None if no kill ended that run.
    first_to_kill: float | None
    #: Whether the first run recorded the first copy as sent ("notification sent" in its
    #: log, written once the notification log entry is committed). If it did, the next
    #: run ignored a committed entry: a bug beyond the at-least-once window.
    first_recorded: bool
    #: Whether both copies carry the same notification id: a receiver that drops
    #: repeats of an id (as the webhook documentation suggests) never sees this one.
    same_id: bool


def content(msg: dict) -> tuple[str, str, frozenset[str], frozenset[str]]:
    """What makes two notifications the same: group, status, firing and resolved alerts."""
    firing = frozenset(a["fingerprint"] for a in msg["alerts"] if a["status"] == "firing")
    resolved = frozenset(a["fingerprint"] for a in msg["alerts"] if a["status"] == "resolved")
    return msg["groupKey"], msg["status"], firing, resolved


def find_duplicates(receiver: TimedReceiver, kills: list[Kill],
                    recorded: list[float | None]) -> list[Duplicate]:
    """Every notification whose content an earlier one already carried."""
    first_seen: dict[tuple, int] = {}
    found: list[Duplicate] = []
    for i, msg in enumerate(receiver.messages):
        key = content(msg)
        if key not in first_seen:
            first_seen[key] = i
            continue
        first = first_seen[key]
        run = receiver.runs[first]
        to_kill = kills[run].at - receiver.arrived[first] if 0 <= run < len(kills) else None
        found.append(Duplicate(
            group_key=msg["groupKey"], status=msg["status"], alerts=len(msg["alerts"]),
            first=first, again=i, first_run=run, again_run=receiver.runs[i],
            first_to_kill=None if to_kill is None else round(to_kill, 4),
            first_recorded=recorded[first] is not None,
            same_id=bool(receiver.ids[i]) and receiver.ids[i] == receiver.ids[first],
        ))
    return found


def sent_lines(logs: str) -> dict[int, list[tuple[float, str, int]]]:
    """By daemon run (counted by its "runtime started" line): the wall time, group key and
    alert count of each "notification sent" line, which the daemon writes once the
    notification's log entry is committed."""
    runs: dict[int, list[tuple[float, str, int]]] = {}
    run = -1
    for line in logs.splitlines():
        if '"runtime started"' in line:
            run += 1
        elif '"notification sent"' in line:
            rec = json.loads(line)
            at = datetime.fromisoformat(rec["timestamp"]).timestamp()
            runs.setdefault(run, []).append((at, rec["group_key"], rec["alerts"]))
    return runs


def recorded_after(receiver: TimedReceiver, logs: str) -> list[float | None]:
    """For each notification received: the seconds from its arrival until the run that
    sent it recorded it as sent; None if that run was killed before it did (the
    at-least-once window: the next run sends it again, unless the group changed)."""
    lines = sent_lines(logs)
    used: set[tuple[int, int]] = set()
    result: list[float | None] = []
    for msg, run, at in zip(receiver.messages, receiver.runs, receiver.arrived_wall, strict=True):
        match = None
        for j, (logged, key, count) in enumerate(lines.get(run, [])):
            if ((run, j) not in used and key == msg["groupKey"] and count == len(msg["alerts"])
                    and logged >= at - 0.001):
                used.add((run, j))
                match = logged - at
                break
        result.append(match)
    return result


def exposed(receiver: TimedReceiver, recorded: list[float | None], seconds: float) -> float:
    """The share of ``seconds`` during which some notification had arrived at the receiver
    but was not yet recorded as sent: the chance that a kill at a random moment repeats one."""
    spans = sorted((at, at + gap) for at, gap in zip(receiver.arrived_wall, recorded, strict=True)
                   if gap is not None)
    total, reach = 0.0, float("-inf")
    for start, end in spans:
        start = max(start, reach)
        if end > start:
            total += end - start
            reach = end
    return total / seconds


def window_figures(receiver: TimedReceiver, recorded: list[float | None], seconds: float) -> dict:
    gaps = sorted(g * 1000 for g in recorded if g is not None)
    return {
        "unrecorded_at_kill": sum(1 for g in recorded if g is None),
        "window_ms_p50": round(statistics.median(gaps), 1) if gaps else None,
        "window_ms_p99": round(gaps[int(0.99 * (len(gaps) - 1))], 1) if gaps else None,
        "window_ms_max": round(gaps[-1], 1) if gaps else None,
        "window_exposed_share": round(exposed(receiver, recorded, seconds), 4),
    }


def steady_alerts() -> list[dict]:
    return [{"labels": {"alertname": f"Steady{g}", "n": f"steady-{g}-{i}", "job": "loadgen"}}
            for g in range(STEADY_GROUPS) for i in range(5)]


def kill_figures(receiver: TimedReceiver, kills: list[Kill], recorded: list[float | None],
                 dups: list[Duplicate]) -> dict:
    """How many kills landed inside the window (caught a notification the receiver had and
    the daemon had not recorded), and how many restarts sent something again (after a kill
    in the window: the caught notification, if no alert joined its group meanwhile)."""
    caught = {run for run, gap in zip(receiver.runs, recorded, strict=True) if gap is None}
    return {
        "kills_in_window": len(caught & set(range(len(kills)))),
        "restarts_repeating": len({x.again_run for x in dups if x.first_run != x.again_run}),
    }


def notified(receiver: WebhookReceiver) -> set[str]:
    """The ``n`` label of every alert some notification carried as firing."""
    return {a["labels"]["n"] for m in receiver.messages for a in m["alerts"]
            if a["status"] == "firing" and "n" in a["labels"]}


async def held(d: Daemon) -> set[str]:
    """The ``n`` label of every alert ``GET /api/v2/alerts`` lists."""
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{d.url}/api/v2/alerts", timeout=aiohttp.ClientTimeout(total=60)) as r,
    ):
        assert r.status == 200, await r.text()
        return {a["labels"]["n"] for a in await r.json() if "n" in a["labels"]}


async def start_run(d: Daemon, receiver: TimedReceiver, run: int) -> float:
    """Start run ``run`` of the daemon (its own webhook URL, the same storage and port);
    the seconds from launch until ``/-/ready`` answers 200."""
    d.config.write_text(CONFIG.format(url=receiver.url_for(run)))
    t0 = time.monotonic()
    try:
        await d.start()
    except (RuntimeError, AssertionError) as exc:
        raise AssertionError(f"tocsin did not come back after a kill: {exc}\n"
                             f"{d.logs()[-3000:]}") from exc
    return time.monotonic() - t0


async def wait_notified(receiver: WebhookReceiver, wanted: set[str], timeout: float) -> set[str]:
    """Wait until every alert of ``wanted`` was notified, or ``timeout``; the ones never notified."""
    with contextlib.suppress(AssertionError):  # what is missing then is the answer
        await wait_until(lambda: not wanted - notified(receiver), timeout, 0.2)
    return wanted - notified(receiver)


@pytest.fixture
async def timed_receiver():
    r = TimedReceiver()
    await r.start()
    yield r
    await r.stop()


async def kill_restart(d: Daemon, receiver: TimedReceiver, load: AlertLoad, kept: set[str],
                       rng: random.Random, count: int) -> tuple[list[Kill], list[float]]:
    """``count`` times: let the load run a random while, kill -9, restart on the same
    storage and list what the new run holds (``kept``: accepted alerts not from the load).
    Returns the kills and each restart's seconds to ready."""
    kills: list[Kill] = []
    ready: list[float] = []
    for run in range(1, count + 1):
        await asyncio.sleep(rng.uniform(*KILL_DELAY))
        # Every second kill takes the database writer process with it, as systemd's kill of
        # the unit does: what was answered and not yet committed comes back from the journal.
        d.kill9(children=run % 2 == 0)
        kill = Kill(at=time.monotonic())
        kills.append(kill)
        must_hold = set(load.figures.accepted) | kept  # answered 2xx before the kill
        ready.append(await start_run(d, receiver, run))
        kill.lost = sorted(must_hold - await held(d))
    return kills, ready


async def test_kill9_under_load_loses_nothing_repeats_nothing(make_daemon, timed_receiver):
    receiver = timed_receiver
    count = int(os.environ.get("TOCSIN_CRASH_KILLS", "3"))
    seed = int(os.environ.get("TOCSIN_CRASH_SEED") or random.randrange(2**32))
    print(f"\ncrash: seed {seed} (TOCSIN_CRASH_SEED={seed} replays the kill delays)")
    d = make_daemon(CONFIG.format(url=receiver.url_for(0)))
    first_ready = await start_run(d, receiver, 0)
    steady = steady_alerts()
    status, body = await d.post_alerts(steady)
    assert status == 200, body
    steady_n = {a["labels"]["n"] for a in steady}
    assert not await wait_notified(receiver, steady_n, FLUSH_TIMEOUT)

    load = AlertLoad(d.url, tag=f"s{seed}", groups=GROUPS)
    load.start()
    loading = time.monotonic()
    try:
        kills, ready = await kill_restart(d, receiver, load, steady_n, random.Random(seed), count)
    finally:
        await load.stop()
    loading = time.monotonic() - loading
    accepted = set(load.figures.accepted) | steady_n
    lost = (accepted - await held(d)).union(*(k.lost for k in kills))
    never_notified = await wait_notified(receiver, accepted, FLUSH_TIMEOUT)
    await asyncio.sleep(QUIET)  # a late repeat would arrive within a few group intervals
    assert d.stop() == 0
    recorded = recorded_after(receiver, d.logs())
    dups = find_duplicates(receiver, kills, recorded)

    restarts = ready or [float("nan")]
    figures = {
        "seed": seed, "kills": len(kills), "groups": GROUPS + STEADY_GROUPS,
        "load_seconds": round(loading, 1),
        "requests": load.figures.requests, "alerts_accepted": len(accepted),
        "alerts_unknown_outcome": load.figures.unknown, "alerts_refused": load.figures.refused,
        "notifications": len(receiver.messages), "alert_losses": len(lost),
        "notification_losses": len(never_notified), "duplicates": len(dups),
        "duplicates_across_restart": sum(1 for x in dups if x.first_run != x.again_run),
        "duplicates_of_recorded": sum(1 for x in dups if x.first_recorded),
        "duplicates_seen_by_id": sum(1 for x in dups if not x.same_id),
        "restart_ready_p50_s": round(statistics.median(restarts), 3),
        "restart_ready_max_s": round(max(restarts), 3),
        "first_start_ready_s": round(first_ready, 3),
        **kill_figures(receiver, kills, recorded, dups),
        **window_figures(receiver, recorded, loading),
    }
    print(f"crash: {json.dumps(figures)}")
    for x in dups:
        print(f"crash: duplicate {x}")
    write_report("crash", figures)

    assert not load.figures.statuses, f"answers other than 2xx: {load.figures.statuses}"
    assert accepted, "no alert was accepted: the load never ran"
    assert not lost, f"{len(lost)} alerts answered 2xx are gone after a kill: {sorted(lost)[:10]}"
    assert not never_notified, (f"{len(never_notified)} accepted alerts were never notified: "
                                f"{sorted(never_notified)[:10]}")
    # Delivery is at least once: a kill between the receiver's answer and the log's commit
    # resends that notification, with the same id. A receiver dropping repeated ids sees
    # no duplicate; a repeat of a committed entry, or one with a new id, is a bug.
    bad = [x for x in dups if x.first_recorded or not x.same_id]
    assert not bad, f"{len(bad)} notifications delivered twice beyond at-least-once (seed {seed}): {bad[:5]}"
