"""Soak: a ``tocsin serve`` subprocess under a steady alert rate with churn keeps its
resident memory and open file descriptors flat, answers no 5xx, and its database stays
bounded by the configured retention.

The load, one round every ``TICK`` seconds at a fixed pace (a late round is not made
up by a burst):

* one ``POST /api/v2/alerts`` with every alert currently firing, as Prometheus re-posts
  them: ``STEADY`` alerts that fire for the whole run, and a rolling window of churn
  alerts, ``NEW_PER_TICK`` new ones each round, each firing for ``LIFETIME`` rounds and
  then ending one of three ways (posted resolved; its ``endsAt`` lapses; posted without
  ``endsAt`` and left to ``resolve_timeout``). Every fifth goes, besides, to a receiver
  that answers 500 (retries, then dead letters); every seventh names a dry-run
  remediation (remediation runs);
* one native event (``POST /api/tocsin/v1/events``) with a short ``ttl``, a new
  resource each round; an event from two rounds before is acknowledged, and every few
  rounds one is unacknowledged or resolved by hand;
* every few rounds: a short silence on a churn alert, the expiry of an older one
  (``DELETE /api/v2/silence/{id}``), the dead letters listed and dropped, and the read
  endpoints (``/api/v2/alerts``, ``/api/tocsin/v1/alerts``, ``/metrics``).

So every table is written and, through retention, emptied: alerts, incidents, history,
the notification log, delivery attempts, silences, dead letters, remediation runs.

Every ``SAMPLE`` seconds the test reads the daemon's ``VmRSS`` and ``/proc/PID/fd``,
the size of the database and its WAL, and the row count of each table (through a
read-only connection). The run is cut in thirds; the first is the warm-up (longer than
retention plus a sweep, so pruning is under way by its end). Asserted:

* no answer is a 5xx, none is outside what each request may get, no request fails;
* RSS (the daemon and its writer process together): the median of the last third is
  within ``RSS_GROWTH`` + ``RSS_SLACK_MIB`` of the median of the second third;
* open fds (both processes too): the median of the last third is within ``FD_SLACK`` of the median of the
  second third, and the count once the load has stopped is within ``FD_SLACK`` of the
  largest of the second third (keep-alive connections to the receivers come and go);
* database: the largest file size of the last third is within ``DB_GROWTH`` +
  ``DB_SLACK_KIB`` of the largest of the second third, the WAL stays under
  ``WAL_MAX_MIB`` (the store checkpoints it a second after writes), and the median total
  row count of the last third is within ``ROWS_GROWTH`` + ``ROWS_SLACK`` of the second's;
* the daemon logged no error and stops cleanly (exit 0) on SIGTERM.

Retention and the sweeps. ``storage.retention`` and ``storage.history_retention`` are
set short (``retention_for``). The daemon sweeps retention a first time within a minute
of starting and then at least twice per retention period (``tocsin.runtime``), so the
database assertions hold on the daemon's own timers.

Quick mode (the default) runs 30 s. Long mode::

    TOCSIN_SOAK_SECONDS=1800 .venv/bin/pytest -q -s tests/reliability/test_soak.py

The figures (rate, duration, alerts posted, RSS start/middle/end, fds, database sizes
and rows, answers) are printed and appended as JSON with key ``"soak"`` to
``$TOCSIN_RELIABILITY_REPORT`` if set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import statistics
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.peers import Daemon, WebhookReceiver
from tests.reliability.figures import open_fds, rss_kib, write_report

pytestmark = pytest.mark.e2e

DURATION = float(os.environ.get("TOCSIN_SOAK_SECONDS", "30"))

TICK = 0.5
STEADY = 10
NEW_PER_TICK = 2
LIFETIME = 5
#: ``endsAt`` a re-posted alert carries, from now (Prometheus sends 4 x its resend delay).
ENDS_IN = 2.0

RSS_GROWTH = 0.10
RSS_SLACK_MIB = 8
FD_SLACK = 4
DB_GROWTH = 0.15
DB_SLACK_KIB = 256
WAL_MAX_MIB = 16
ROWS_GROWTH = 0.25
ROWS_SLACK = 200

TABLES = ("alerts", "incidents", "history", "nflog", "attempts", "silences", "dead_letters",
          "remediation_runs")

#: What each kind of request may be answered; anything else fails the test.
EXPECTED: dict[str, set[int]] = {
    "post alerts": {200},
    "post event": {200, 201},
    "ack": {200, 404, 409},
    "unack": {200, 404, 409},
    "resolve": {200, 404, 409},
    "post silence": {200},
    "expire silence": {200},
    "list dead letters": {200},
    "drop dead letter": {200, 404},
    "read": {200},
}

def retention_for(duration: float) -> float:
    """Retention short enough to be reached many times within the run."""
    return max(3.0, round(duration / 60))


def config(hook: str, broken: str, retention: float) -> str:
    return f"""
global: {{resolve_timeout: {retention:g}s}}
storage: {{retention: {retention:g}s, history_retention: {retention:g}s}}
route:
  receiver: hook
  group_by: ['...']
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: ['flaky="yes"']
      receiver: broken
      continue: true
    - matchers: ['fix="yes"']
      receiver: hook
      remediations: [noop]
receivers:
  - {{name: hook, webhook_configs: [{{url: "{hook}", send_resolved: true}}]}}
  - {{name: broken, webhook_configs: [{{url: "{broken}", timeout: 1s}}]}}
remediations:
  - {{name: noop, kind: command, argv: ["/bin/true"], dry_run: true, cooldown: 1m,
      max_per_hour: 100000}}
"""


# -- measuring -----------------------------------------------------------------------------


@dataclass
class Sample:
    at: float
    rss_kib: int
    fds: int
    db_bytes: int
    wal_bytes: int
    rows: dict[str, int]

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def row_counts(db: Path) -> dict[str, int]:
    """Rows per table, through a short read-only connection (WAL readers do not block the
    daemon's writer)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        conn.close()


def sample(pid: int, db: Path, started: float) -> Sample:
    return Sample(at=time.monotonic() - started, rss_kib=rss_kib(pid), fds=open_fds(pid),
                  db_bytes=file_size(db), wal_bytes=file_size(Path(f"{db}-wal")),
                  rows=row_counts(db))


def thirds(samples: list[Sample], duration: float) -> tuple[list[Sample], list[Sample]]:
    """The samples of the second and of the last third of the run."""
    middle = [s for s in samples if duration / 3 <= s.at < 2 * duration / 3]
    last = [s for s in samples if s.at >= 2 * duration / 3]
    return middle, last


# -- the load --------------------------------------------------------------------------------


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Load:
    """The load generator's state and what it saw."""

    url: str
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    alerts_posted: int = 0
    events_posted: int = 0
    rounds: int = 0
    late_rounds: int = 0
    serial: int = 0
    churn: dict[int, int] = field(default_factory=dict)  # serial -> round it ends
    events: deque[str] = field(default_factory=lambda: deque(maxlen=8))
    silences: list[str] = field(default_factory=list)

    async def call(self, s: aiohttp.ClientSession, kind: str, method: str, path: str,
                   body: Any = None) -> Any:
        try:
            async with s.request(method, self.url + path, json=body,
                                 timeout=aiohttp.ClientTimeout(total=30)) as r:
                self.answers[(kind, r.status)] += 1
                text = await r.text()
                if r.status not in EXPECTED[kind]:
                    self.failures.append(f"{kind}: {method} {path} answered {r.status}: {text[:300]}")
                if r.status >= 300 or r.content_type != "application/json":
                    return None
                return json.loads(text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.failures.append(f"{kind}: {method} {path} failed: {exc!r}")
            return None

    def alerts(self, rnd: int, now: float) -> list[dict[str, Any]]:
        """Every alert firing this round, and the churn alerts that end now."""
        for _ in range(NEW_PER_TICK):
            self.serial += 1
            self.churn[self.serial] = rnd + LIFETIME
        out = [{"labels": {"alertname": "SoakSteady", "slot": str(i)}, "endsAt": iso(now + ENDS_IN),
                "annotations": {"summary": f"steady alert {i}"}} for i in range(STEADY)]
        for serial, end in list(self.churn.items()):
            labels = {"alertname": "SoakChurn", "serial": str(serial)}
            if serial % 5 == 0:
                labels["flaky"] = "yes"
            if serial % 7 == 0:
                labels["fix"] = "yes"
            alert: dict[str, Any] = {"labels": labels, "annotations": {"summary": f"churn {serial}"}}
            if end <= rnd:
                del self.churn[serial]
                if serial % 3 != 0:
                    continue  # simply no longer posted: endsAt or resolve_timeout lapses
                alert["endsAt"] = iso(now - 1)  # posted resolved
            elif serial % 3 != 2:  # the third kind goes without endsAt
                alert["endsAt"] = iso(now + ENDS_IN)
            out.append(alert)
        return out

    async def round(self, s: aiohttp.ClientSession, rnd: int) -> None:
        now = time.time()
        batch = self.alerts(rnd, now)
        await self.call(s, "post alerts", "POST", "/api/v2/alerts", batch)
        self.alerts_posted += len(batch)
        event = {"type": "SoakEvent", "resource": f"res-{rnd}", "severity": "warning",
                 "title": "soak event", "ttl": "3s", "metadata": {"round": rnd}}
        answer = await self.call(s, "post event", "POST", "/api/tocsin/v1/events", event)
        self.events_posted += 1
        if isinstance(answer, dict) and "id" in answer:
            self.events.append(answer["id"])
        if len(self.events) >= 3:
            target = self.events[-3]
            await self.call(s, "ack", "POST", f"/api/tocsin/v1/alerts/{target}/ack",
                            {"who": "soak", "note": f"round {rnd}"})
            if rnd % 4 == 0:
                await self.call(s, "unack", "POST", f"/api/tocsin/v1/alerts/{target}/unack", {"who": "soak"})
            if rnd % 6 == 0:
                await self.call(s, "resolve", "POST", f"/api/tocsin/v1/alerts/{target}/resolve",
                                {"who": "soak"})
        if rnd % 4 == 1:
            await self.silence(s, now)
        if rnd % 8 == 3 and self.silences:  # the latest, made a round ago, still active
            await self.call(s, "expire silence", "DELETE", f"/api/v2/silence/{self.silences.pop()}")
        if rnd % 4 == 2:
            await self.housekeeping(s)

    async def silence(self, s: aiohttp.ClientSession, now: float) -> None:
        body = {"matchers": [{"name": "alertname", "value": "SoakChurn", "isRegex": False},
                             {"name": "serial", "value": str(self.serial), "isRegex": False}],
                "startsAt": iso(now), "endsAt": iso(now + 4 * TICK), "createdBy": "soak",
                "comment": "soak test"}
        answer = await self.call(s, "post silence", "POST", "/api/v2/silences", body)
        if isinstance(answer, dict) and "silenceID" in answer:
            self.silences.append(answer["silenceID"])

    async def housekeeping(self, s: aiohttp.ClientSession) -> None:
        letters = await self.call(s, "list dead letters", "GET", "/api/tocsin/v1/dead-letters")
        for letter in letters or []:
            await self.call(s, "drop dead letter", "DELETE", f"/api/tocsin/v1/dead-letters/{letter['id']}")
        for path in ("/api/v2/alerts", "/api/tocsin/v1/alerts?limit=50", "/metrics"):
            await self.call(s, "read", "GET", path)

    async def run(self, until: float) -> None:
        """Rounds every ``TICK`` seconds until ``until`` (monotonic); late rounds are skipped."""
        start = time.monotonic()
        async with aiohttp.ClientSession() as s:
            while (now := time.monotonic()) < until:
                rnd = int((now - start) / TICK)
                await self.round(s, rnd)
                self.rounds += 1
                next_at = start + (rnd + 1) * TICK
                if time.monotonic() > next_at:
                    self.late_rounds += 1
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def sampler(daemon: Daemon, db: Path, started: float, samples: list[Sample],
                  receivers: Sequence[WebhookReceiver], delivered: Counter[str], every: float,
                  stop: asyncio.Event) -> None:
    """Sample the daemon every ``every`` seconds until ``stop``; count (and forget) what the
    receivers got so that the test process itself stays small."""
    assert daemon.proc is not None
    while not stop.is_set():
        samples.append(await asyncio.to_thread(sample, daemon.proc.pid, db, started))
        for name, r in zip(("hook", "broken"), receivers, strict=True):
            delivered[name] += len(r.messages)
            r.messages.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


def error_lines(logs: str) -> list[str]:
    return [line for line in logs.splitlines()
            if '"level": "error"' in line or '"level":"error"' in line or "Traceback" in line]


def median(values: list[int]) -> float:
    return float(statistics.median(values))


def figures(load: Load, samples: list[Sample], end: Sample, delivered: Counter[str],
            duration: float, retention: float) -> dict[str, Any]:
    middle, last = thirds(samples, duration)
    mib = 1024 * 1024
    return {
        "duration_s": round(duration), "retention_s": retention,
        "rounds": load.rounds, "late_rounds": load.late_rounds,
        "alerts_posted": load.alerts_posted, "events_posted": load.events_posted,
        "alerts_per_s": round(load.alerts_posted / duration, 1),
        "requests": sum(load.answers.values()),
        "answers": {f"{k} {st}": n for (k, st), n in sorted(load.answers.items())},
        "five_xx": sum(n for (_, st), n in load.answers.items() if st >= 500),
        "request_failures": len(load.failures),
        "delivered": dict(delivered),
        "samples": len(samples),
        "rss_mib": {"start": round(samples[0].rss_kib / 1024, 1),
                    "middle_median": round(median([s.rss_kib for s in middle]) / 1024, 1),
                    "end_median": round(median([s.rss_kib for s in last]) / 1024, 1),
                    "max": round(max(s.rss_kib for s in samples) / 1024, 1),
                    "end": round(end.rss_kib / 1024, 1)},
        "fds": {"start": samples[0].fds, "middle_median": median([s.fds for s in middle]),
                "middle_max": max(s.fds for s in middle), "last_median": median([s.fds for s in last]),
                "max": max(s.fds for s in samples), "end": end.fds},
        "db_mib": {"max": round(max(s.db_bytes for s in samples) / mib, 2),
                   "middle_max": round(max(s.db_bytes for s in middle) / mib, 2),
                   "last_max": round(max(s.db_bytes for s in last) / mib, 2),
                   "end": round(end.db_bytes / mib, 2)},
        "wal_mib": {"max": round(max(s.wal_bytes for s in samples) / mib, 2),
                    "end": round(end.wal_bytes / mib, 2)},
        "rows": {"middle_median": median([s.total_rows for s in middle]),
                 "last_median": median([s.total_rows for s in last]),
                 "max": max(s.total_rows for s in samples), "end": end.rows},
    }


async def test_soak_memory_fds_and_database_stay_flat(tmp_path: Path) -> None:
    duration = DURATION
    retention = retention_for(duration)
    every = max(1.0, min(5.0, duration / 40))
    hook, broken = WebhookReceiver(), WebhookReceiver()
    broken.status = 500
    await hook.start()
    await broken.start()
    cfg = tmp_path / "tocsin.yml"
    cfg.write_text(config(hook.url, broken.url, retention))
    db = tmp_path / "db" / "tocsin.db"
    daemon = Daemon(cfg, db, tmp_path / "tocsin.log")
    try:
        await daemon.start(["--log-level", "warning"])
        assert daemon.proc is not None
        load = Load(daemon.url)
        samples: list[Sample] = []
        delivered: Counter[str] = Counter()
        stop = asyncio.Event()
        started = time.monotonic()
        watcher = asyncio.create_task(
            sampler(daemon, db, started, samples, (hook, broken), delivered, every, stop))
        await load.run(started + duration)
        stop.set()
        await watcher
        await asyncio.sleep(2 * TICK)  # let flushes and requests in flight settle
        end = await asyncio.to_thread(sample, daemon.proc.pid, db, started)
        found = figures(load, samples, end, delivered, duration, retention)
        print(f"soak: {json.dumps(found, indent=1)}")
        write_report("soak", found)

        assert not load.failures, "\n".join(load.failures[:20])
        assert found["five_xx"] == 0
        assert delivered["hook"] > 0, "the load delivered nothing"
        assert delivered["broken"] > 0, "the load delivered nothing"
        middle, last = thirds(samples, duration)
        assert middle, f"too few samples ({len(samples)}) for a run of {duration:g}s"
        assert last, f"too few samples ({len(samples)}) for a run of {duration:g}s"
        assert_flat(middle, last, end)
        assert not error_lines(daemon.logs()), "\n".join(error_lines(daemon.logs())[:20])
        assert daemon.stop() == 0
    finally:
        daemon.stop()
        await hook.stop()
        await broken.stop()


def assert_flat(middle: list[Sample], last: list[Sample], end: Sample) -> None:
    """RSS, fds, database size and rows of the last third against the second third."""
    rss_mid = median([s.rss_kib for s in middle])
    rss_end = median([s.rss_kib for s in last])
    assert rss_end <= rss_mid * (1 + RSS_GROWTH) + RSS_SLACK_MIB * 1024, (
        f"RSS grew: median {rss_mid / 1024:.1f} MiB in the second third, "
        f"{rss_end / 1024:.1f} MiB in the last")
    fds_mid = max(s.fds for s in middle)
    fds_last = median([s.fds for s in last])
    fds_grew = (f"open fds grew: {fds_mid} at most in the second third, median {fds_last:g} in the last, "
                f"{end.fds} at the end")
    assert fds_last <= median([s.fds for s in middle]) + FD_SLACK, fds_grew
    assert end.fds <= fds_mid + FD_SLACK, fds_grew
    db_mid = max(s.db_bytes for s in middle)
    db_last = max(s.db_bytes for s in last)
    assert db_last <= db_mid * (1 + DB_GROWTH) + DB_SLACK_KIB * 1024, (
        f"database grew: {db_mid} bytes at most in the second third, {db_last} in the last")
    wal = max(s.wal_bytes for s in (*middle, *last))
    assert wal <= WAL_MAX_MIB * 1024 * 1024, f"WAL grew to {wal} bytes"
    rows_mid = median([s.total_rows for s in middle])
    rows_last = median([s.total_rows for s in last])
    assert rows_last <= rows_mid * (1 + ROWS_GROWTH) + ROWS_SLACK, (
        f"rows grew: median {rows_mid:g} in the second third, {rows_last:g} in the last; "
        f"at the end {end.rows}")
