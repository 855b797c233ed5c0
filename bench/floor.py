"""The floor of the fixed stack: what an alert costs a server that does almost nothing with it.

Issue 17 asks for tocsin's server CPU per fresh alert to be at most Alertmanager's. This
script measures how much of that figure the stack alone takes (CPython, asyncio with
uvloop, aiohttp's server, msgspec), so the arithmetic can say what is left for tocsin's
own work. It runs bench/run.py's ingest phase (fresh alerts, C connections, the same
pre-serialized bodies) against, side by side, the systems alternating:

* ``tocsin``: the daemon, as bench/run.py starts it;
* ``floor-http``: an aiohttp server whose handler reads the body, decodes it with msgspec
  into typed alerts (labels, annotations, times, generator URL) and answers 200. No
  validation, no fingerprint, no state, nothing stored;
* ``floor-row``: the same, plus one SQLite row per alert (its sorted labels as the key, the
  alert as msgpack), committed before the answer through tocsin's group commit in one
  writer thread (WAL, ``synchronous=NORMAL``, as tocsin's default): the least an alert router
  must do to keep what it acknowledged across a ``kill -9``;
* ``floor-journal``: the same as ``floor-http``, plus the batch appended to a file
  (msgpack, one ``write`` per request, no ``fsync``) before the answer: what the
  journal-first write path of issue 17 would make the 2xx wait for, as durable against
  ``kill -9`` as a commit with ``synchronous=NORMAL`` (the page cache outlives the
  process);
* ``tocsin-uncommitted`` (with ``--uncommitted``): the daemon with every SQLite commit
  answered at once and nothing written (bench/uncommitted/sitecustomize.py): all of its
  own work but storage, the bound below which no write path (a journal's, say) can bring it;
* ``alertmanager`` (with ``--against alertmanager``).

Neither floor server validates, routes, groups, dedupes or keeps an incident: they are not
alert routers, and their figures are lower bounds, not targets.

    python bench/floor.py --against alertmanager --batches 1 10 100 --alerts 20000 --repeat 3

The floor servers are bench/floorserver.py, started by this script.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------------------------------------
# Side by side with tocsin and Alertmanager, through bench/run.py's ingest phase

sys.path.insert(0, str(HERE))
import run  # noqa: E402 -- bench/run.py, beside this script


class FloorServer(run.Server):
    store = ""

    def command(self) -> list[str]:
        where = [f"--{self.store}", str(self.workdir / f"floor.{self.store}")] if self.store else []
        return [sys.executable, str(HERE / "floorserver.py"), "--port", str(self.port), *where]


class FloorHTTP(FloorServer):
    name = "floor-http"


class FloorRow(FloorServer):
    name = "floor-row"
    store = "db"


class FloorJournal(FloorServer):
    name = "floor-journal"
    store = "journal"


#: tocsin with its SQLite commits answered at once and nothing written
#: (bench/uncommitted/sitecustomize.py): all of its work but storage.
TocsinUncommitted = run.patched_tocsin("tocsin-uncommitted", "uncommitted", "TOCSIN_BENCH_UNCOMMITTED")


SYSTEMS: dict[str, type[run.Server]] = {"tocsin": run.TocsinServer, "floor-http": FloorHTTP,
                                        "floor-row": FloorRow, "floor-journal": FloorJournal,
                                        "tocsin-uncommitted": TocsinUncommitted,
                                        "alertmanager": run.AlertmanagerServer}


async def one(system: str, batch: int, args: argparse.Namespace, tmp: Path, n: int) -> dict[str, Any]:
    server = SYSTEMS[system](run.ROUTING_CONFIG.format(url="http://127.0.0.1:9/unused"),
                             tmp / f"r{n}-{system}")
    await server.start()
    try:
        return {**await run.phase_ingest(server, f"f{n}", args, batch), "ok": True}
    finally:
        await server.stop()


async def amain(args: argparse.Namespace) -> dict[str, dict[int, dict[str, float]]]:
    systems = ["tocsin", "floor-http", "floor-journal", "floor-row"]
    systems += ["tocsin-uncommitted"] if args.uncommitted else []
    systems += [args.against] if args.against else []
    out: dict[str, dict[int, dict[str, float]]] = {s: {} for s in systems}
    n = 0
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-floor-") as tmp:
        for batch in args.batches:
            runs: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
            for _ in range(args.repeat):
                for system in systems:
                    n += 1
                    r = await one(system, batch, args, Path(tmp), n)
                    runs[system].append(r)
                    print(f"batch {batch:>3} {system:<12} {r['server_cpu_us_per_alert']:7.1f} µs/alert "
                          f"{r['alerts_per_s']:8.0f} alerts/s errors {r['errors']}", file=sys.stderr)
            for system in systems:
                out[system][batch] = run.summarize(runs[system])
    return out


def table(res: dict[str, dict[int, dict[str, Any]]], batches: list[int]) -> str:
    head = " | ".join(f"batch {b}" for b in batches)
    lines = [f"| server CPU µs per fresh alert (alerts/s) | {head} |",
             "|---|" + "---:|" * len(batches)]
    for system, by in res.items():
        cells = [f"{run.get(by[b], 'server_cpu_us_per_alert'):.1f} ({run.get(by[b], 'alerts_per_s'):,.0f})"
                 for b in batches]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", choices=["alertmanager"], help="also measure Alertmanager")
    ap.add_argument("--alerts", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--uncommitted", action="store_true",
                    help="also tocsin with its commits answered at once and nothing written")
    args = ap.parse_args(argv)
    if args.against and run.alertmanager_binary() is None:
        raise SystemExit("no prometheus-alertmanager or alertmanager binary on PATH")
    with contextlib.suppress(KeyboardInterrupt):
        res = asyncio.run(amain(args))
        print(table(res, args.batches))
    return 0


if __name__ == "__main__":
    sys.exit(main())
