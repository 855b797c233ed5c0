"""What the rows of a fresh alert cost the SQLite writer: CPU and bytes per alert.

The store's own writer (``tocsin.store.writer.run_transaction``, as the writer process
runs it, on a database made by the store's migrations) commits N fresh alerts in
transactions of ``--batch`` alerts, each transaction a marshalled list of operations as
the daemon sends them, for three layouts of the rows:

- ``fired row``: the alert row, its incident row and its "fired" history row (what ingest
  wrote until its "fired" event was implied by the incident row, 2026-12-06);
- ``incident row``: the alert and incident rows, the incident holding its source (what
  ingest wrote until the open incident was implied by the alert's row);
- ``today``: the alert's row alone, holding the incident it implies (what ingest writes now).

The alerts are those of ``bench/run.py`` (six labels, two annotations, a generator URL,
random fingerprints). CPU is the process's time in ``run_transaction`` (marshal's
decoding included), per alert; bytes are SQLite's ``dbstat`` pages after a checkpoint,
per alert. It isolates the writer's share of the ingest CPU that ``bench/run.py``
measures for the whole server::

    .venv/bin/python bench/rowcost.py --alerts 20000 --batch 10 100 --runs 3
"""

from __future__ import annotations

import argparse
import marshal
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tocsin.core.models import Alert
from tocsin.core.records import HistoryEvent, Incident
from tocsin.incidents.plan import new_id
from tocsin.store import implied, rows
from tocsin.store.schema import MIGRATIONS
from tocsin.store.writer import connect, run_transaction

LAYOUTS = ("fired row", "incident row", "today")


def fresh(i: int, now: float, rng: random.Random) -> tuple[Alert, Incident, HistoryEvent]:
    """Alert ``i`` as bench/run.py posts it, its new incident and its "fired" entry."""
    labels = {"alertname": f"BenchMemory{i % 50}", "instance": f"host-{i}.example:9100", "job": "node",
              "severity": "critical", "team": f"team-{i % 20}", "run": "r7"}
    alert = Alert(fingerprint=f"{rng.getrandbits(64):016x}", labels=labels,
                  annotations={"summary": f"benchmark alert {i}",
                               "description": "synthetic alert posted by bench/run.py"},
                  starts_at=now - 0.5, ends_at=now + 600, updated_at=now,
                  generator_url="http://127.0.0.1:9090/graph?g0.expr=up+%3D%3D+0")
    inc = Incident(id=new_id(now, alert.fingerprint), fingerprint=alert.fingerprint, labels=labels,
                   fired_at=now, last_seen=now, starts_at=alert.starts_at, source="api_v2")
    fired = HistoryEvent(at=now, alert_id=inc.id, fingerprint=alert.fingerprint, kind="fired",
                         actor="api_v2", detail={"source": "api_v2", "starts_at": alert.starts_at})
    return alert, inc, fired


def frames(layout: str, alerts: int, batch: int) -> list[bytes]:
    """Each transaction's operations, marshalled as the daemon sends them."""
    rng, now, out = random.Random(7), time.time(), []
    for start in range(0, alerts, batch):
        items = [fresh(i, now, rng) for i in range(start, min(alerts, start + batch))]
        if layout == "today":
            born = implied.born_rows([(a, inc) for a, inc, _ in items])
            out.append(marshal.dumps([(rows.ALERT_BORN_SQL, born, True)]))
            continue
        ops: list[Any] = [(rows.ALERT_SQL, rows.alert_rows([a for a, _, _ in items]), True),
                          (rows.INCIDENT_SQL, rows.incident_rows([inc for _, inc, _ in items]), True)]
        if layout == "fired row":
            ops.append((rows.HISTORY_SQL, rows.history_rows([h for _, _, h in items]), True))
        out.append(marshal.dumps(ops))
    return out


def run(layout: str, alerts: int, batch: int) -> tuple[float, float]:
    """(writer CPU µs per alert, database bytes per alert) of one run on a new database."""
    sent = frames(layout, alerts, batch)
    with tempfile.TemporaryDirectory(prefix="tocsin-rowcost-") as tmp:
        conn = connect(str(Path(tmp) / "tocsin.db"), "NORMAL")
        for script in MIGRATIONS:
            conn.executescript(f"BEGIN;\n{script}\nCOMMIT;")
        t0 = time.process_time()
        for frame in sent:
            run_transaction(conn, marshal.loads(frame))
        cpu = time.process_time() - t0
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (size,) = conn.execute("SELECT SUM(pgsize) FROM dbstat").fetchone()
        conn.close()
    return cpu / alerts * 1e6, size / alerts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--alerts", type=int, default=20000)
    ap.add_argument("--batch", type=int, nargs="+", default=[10, 100], help="alerts per transaction")
    ap.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported")
    args = ap.parse_args()
    print("| alerts per transaction | rows per fresh alert | writer CPU µs/alert | database bytes/alert |")
    print("|---:|---|---:|---:|")
    for batch in args.batch:
        for layout in LAYOUTS:
            results = [run(layout, args.alerts, batch) for _ in range(args.runs)]
            cpu = statistics.median(r[0] for r in results)
            size = statistics.median(r[1] for r in results)
            print(f"| {batch} | {layout} | {cpu:.1f} | {size:,.0f} |")


if __name__ == "__main__":
    main()
