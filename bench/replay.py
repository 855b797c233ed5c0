"""How fast ``tocsin replay`` runs a week of history: 100,000 alert events (50,000
incidents, each fired and resolved, some acknowledged) over 7 days in a SQLite database,
replayed through the recorded config and through a changed one, as the command does.

    python bench/replay.py [--events 100000] [--days 7]

It prints the time to build the database (not measured) and the wall-clock time and peak
memory of ``tocsin replay`` (a subprocess, as a user runs it). The target is under 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tocsin.core.records import HistoryEvent, Incident
from tocsin.incidents.plan import new_id
from tocsin.store import ConfigLoad
from tocsin.store.sqlite import SQLiteStore
from tocsin.testing.harness import make_config

START = 1_764_547_200.0  # 2025-12-01 00:00 UTC
TEAMS = ("db", "web", "storage", "net", "ops")
SEVERITIES = ("critical", "warning", "info")

CONFIG = """
route:
  receiver: ops
  group_by: [alertname, team]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['team="db"']
      receiver: db
    - matchers: ['team="web"', 'severity="critical"']
      receiver: web-pager
    - matchers: ['team="web"']
      receiver: web
    - matchers: ['team="storage"']
      receiver: storage
      mute_time_intervals: [nights]
inhibit_rules:
  - source_matchers: ['alertname="DcDown"']
    target_matchers: ['severity="warning"']
    equal: [dc]
time_intervals:
  - name: nights
    time_intervals: [{times: [{start_time: "00:00", end_time: "06:00"}]}]
receivers:
  - name: ops
    webhook_configs: [{url: "http://127.0.0.1:9/ops", send_resolved: true}]
  - name: db
    webhook_configs: [{url: "http://127.0.0.1:9/db", send_resolved: true}]
  - name: web-pager
    webhook_configs: [{url: "http://127.0.0.1:9/pager"}]
  - name: web
    webhook_configs: [{url: "http://127.0.0.1:9/web"}]
  - name: storage
    webhook_configs: [{url: "http://127.0.0.1:9/storage"}]
"""
#: The change replayed: the db route also wants env=prod.
NEW = CONFIG.replace("""['team="db"']""", """['team="db"', 'env="prod"']""")


def incidents(events: int, days: int, rng: random.Random) -> list[tuple[Incident, list[HistoryEvent]]]:
    out = []
    span = days * 86400.0
    for n in range(events // 2):
        fired = START + span * n / (events // 2)
        labels = {"alertname": f"Alert{rng.randrange(60)}", "team": rng.choice(TEAMS),
                  "severity": rng.choice(SEVERITIES), "instance": f"host{rng.randrange(2000)}",
                  "env": rng.choice(("prod", "staging")), "dc": f"dc{rng.randrange(4)}"}
        if rng.random() < 0.002:
            labels = {"alertname": "DcDown", "dc": labels["dc"], "severity": "critical"}
        fp = f"{rng.getrandbits(64):016x}"
        ended = fired + rng.uniform(60, 7200)
        # As ingest stores it: the "fired" event implied by the incident (its source), not a row.
        inc = Incident(id=new_id(fired), fingerprint=fp, labels=labels, fired_at=fired, last_seen=ended,
                       starts_at=fired, state="resolved", resolved_at=ended, resolution="resolved",
                       source="api_v2")
        rows = [HistoryEvent(at=ended, alert_id=inc.id, fingerprint=fp, kind="resolved", actor="api_v2",
                             detail={"ends_at": ended})]
        if rng.random() < 0.05:
            rows.insert(1, HistoryEvent(at=fired + 60, alert_id=inc.id, fingerprint=fp, kind="acknowledged",
                                        actor="ana", detail={}))
        out.append((inc, rows))
    return out


async def build(path: Path, events: int, days: int) -> None:
    from tocsin.replay.routing import config_hash, routing_json

    store = SQLiteStore(path)
    await store.open()
    config = make_config(CONFIG)
    await store.save_config_load(ConfigLoad(hash=config_hash(CONFIG), loaded_at=START - 60, reason="start",
                                            routing=routing_json(config)))
    made = incidents(events, days, random.Random(7))
    made.sort(key=lambda x: x[0].fired_at)
    # History rows in time order, as a daemon writes them.
    history = sorted((row for _, rows in made for row in rows), key=lambda r: r.at)
    for i in range(0, len(made), 5000):
        await store.save(incidents=[inc for inc, _ in made[i:i + 5000]])
    for i in range(0, len(history), 5000):
        await store.save(history=history[i:i + 5000])
    await store.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--days", type=int, default=7)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="tocsin-replay-bench-") as tmp:
        db = Path(tmp) / "tocsin.db"
        t0 = time.perf_counter()
        asyncio.run(build(db, args.events, args.days))
        print(f"built {args.events} alert events over {args.days} days in {time.perf_counter() - t0:.1f}s")
        new = Path(tmp) / "new.yml"
        new.write_text(NEW)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "tocsin", "replay", "--config", str(new), "--storage", str(db),
             "--since", f"{START - 1:.0f}", "--until", f"{START + args.days * 86400:.0f}", "-o", "json"],
            capture_output=True, text=True, check=False)
        took = time.perf_counter() - t0
        if proc.returncode not in (0, 1):
            sys.exit(f"replay failed: {proc.stderr}")
        report = json.loads(proc.stdout)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = usage.ru_utime + usage.ru_stime
        n = report["notifications"]
        print(f"replay (OLD and NEW side by side, {report['alerts_replayed']} alerts): {took:.2f}s wall, "
              f"{cpu:.2f}s CPU (both processes), peak RSS {usage.ru_maxrss / 1024:.0f} MiB")
        print(f"group notifications OLD {n['old']}, NEW {n['new']}; paging changed for "
              f"{len(report['paging_changed'])} alerts (exit {proc.returncode})")
        print("target: under 10 s" + (" -- met" if took < 10 else " -- MISSED"))
        print(f"load average now: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
