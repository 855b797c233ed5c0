"""``tocsin remediations list|approve|reject``: remediation runs on a running daemon,
their audit and approval, over ``/api/tocsin/v1``."""

from __future__ import annotations

import argparse
import getpass
import urllib.parse
from typing import Any, TextIO

from tocsin.cli.alerts import request_json
from tocsin.cli.common import (
    STDOUT,
    SubParsers,
    command,
    each,
    group,
    print_json,
    print_table,
    quoted,
    short_time,
)

__all__ = ["add_commands", "remediations_decide", "remediations_list"]

#: The colour of each state on a terminal.
STATE_COLOURS = {"succeeded": "32", "pending_approval": "33", "failed": "31", "interrupted": "31",
                 "refused": "31"}


def add_commands(sub: SubParsers) -> None:
    rsub = group(sub, "remediations", "remediation runs on a running daemon: audit and approval", daemon=True)
    rlist = command(rsub, "list", "runs, newest first: what ran, for which alert, how it went", daemon=True)
    rlist.add_argument("--state", action="append", default=[],
                       help="pending_approval, running, succeeded, failed, dry_run, rejected, cancelled, "
                            "skipped, interrupted, refused (repeatable)")
    rlist.add_argument("--limit", type=int, default=50)
    rlist.set_defaults(func=_cmd_remediations)
    for action, text in (("approve", "run a remediation waiting for approval"),
                         ("reject", "refuse a remediation waiting for approval")):
        dp = command(rsub, action, text, daemon=True)
        dp.add_argument("ids", nargs="+", metavar="id", help="run ids")
        dp.add_argument("--who", help="your name (default: the login name)")
        dp.add_argument("--note", default="")
        dp.set_defaults(func=_cmd_remediations)


def _cmd_remediations(args: argparse.Namespace) -> int:
    if args.remediations_command == "list":
        return remediations_list(args.url, args.token, state=args.state, limit=args.limit, output=args.output)
    return remediations_decide(args.url, args.token, args.remediations_command, args.ids,
                               who=args.who, note=args.note, output=args.output)


def remediations_list(url: str | None, token: str | None, *, state: list[str], limit: int,
                      output: str = "simple", out: TextIO = STDOUT) -> int:
    query = [("state", s) for s in state] + [("limit", str(limit))]
    runs = request_json(url, token, f"/remediations?{urllib.parse.urlencode(query)}")
    if output == "json":
        print_json(runs, out)
        return 0
    rows = [("ID", "CREATED", "REMEDIATION", "STATE", "ALERTNAME", "CONFIDENCE", "RESULT", "WHAT")]
    for r in runs:
        result = " ".join(p for p in (
            f"exit {r['exit_code']}" if r["exit_code"] is not None else "",
            f"HTTP {r['http_status']}" if r["http_status"] is not None else "",
            r["reason"] or r["error"] or "") if p)
        rows.append((r["id"], short_time(r["created_at"]), r["remediation"], r["state"], r["alertname"],
                     r["confidence"] or "", result[:40], (r["summary"] or "")[:60]))
    print_table(rows, out, lambda i, cell: STATE_COLOURS.get(cell) if i == 3 else None)
    return 0


def remediations_decide(url: str | None, token: str | None, action: str, ids: list[str], *,
                        who: str | None, note: str, output: str = "simple", out: TextIO = STDOUT) -> int:
    who = who or getpass.getuser()

    def decide(run_id: str) -> tuple[Any, str]:
        run = request_json(url, token, f"/remediations/{quoted(run_id)}/{action}", "POST",
                           {"who": who, "note": note})
        return run, f"{run['id']}: {run['state']}"

    return each(ids, decide, output, out)
