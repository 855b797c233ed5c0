"""``tocsin dlq list|replay|drop``: dead letters (notifications that exhausted
their retries) on a running daemon."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from tocsin.cli.common import (
    STDOUT,
    SubParsers,
    base_url,
    command,
    each,
    group,
    print_json,
    print_table,
    quoted,
    request,
    short_time,
)

__all__ = ["add_commands", "dlq_drop", "dlq_list", "dlq_replay"]

API = "/api/tocsin/v1/dead-letters"


def add_commands(sub: SubParsers) -> None:
    dsub = group(sub, "dlq", "dead letters on a running daemon", daemon=True)
    dl = command(dsub, "list", "notifications that exhausted their retries", daemon=True)
    dr = command(dsub, "replay", "send dead letters again (each once)", daemon=True)
    dr.add_argument("ids", nargs="+", metavar="id")
    dd = command(dsub, "drop", "forget dead letters", daemon=True)
    dd.add_argument("ids", nargs="+", metavar="id")
    for parser in (dl, dr, dd):
        parser.set_defaults(func=_cmd_dlq)


def _cmd_dlq(args: argparse.Namespace) -> int:
    if args.dlq_command == "list":
        return dlq_list(args.url, args.token, output=args.output)
    if args.dlq_command == "replay":
        return dlq_replay(args.url, args.token, args.ids, output=args.output)
    return dlq_drop(args.url, args.token, args.ids, output=args.output)


def dlq_list(url: str | None, token: str | None, *, output: str = "simple",
             out: TextIO = STDOUT) -> int:
    items = request("GET", f"{base_url(url)}{API}", token=token)
    if output == "json":
        print_json(items, out)
        return 0
    rows = [("ID", "AT", "RECEIVER", "INTEGRATION", "ALERTS", "ATTEMPTS", "ERROR")]
    rows += [(str(d["id"]), short_time(d["at"]), d["receiver"], d["integration"], str(d["alerts"]),
              str(d["attempts"]), d["error"][:80]) for d in items]
    print_table(rows, out)
    return 0


def dlq_replay(url: str | None, token: str | None, ids: list[str], *, output: str = "simple",
               out: TextIO = STDOUT) -> int:
    def replay(i: str) -> tuple[Any, str]:
        answer = request("POST", f"{base_url(url)}{API}/{quoted(i)}/replay", token=token)
        if isinstance(answer, dict) and answer.get("status") == "superseded":
            return ({"id": i, "status": "superseded"},
                    f"{i}: superseded by a newer notification of its group; dropped, not sent")
        return {"id": i, "status": "delivered"}, f"{i}: delivered"

    return each(ids, replay, output, out)


def dlq_drop(url: str | None, token: str | None, ids: list[str], *, output: str = "simple",
             out: TextIO = STDOUT) -> int:
    def drop(i: str) -> tuple[Any, str]:
        request("DELETE", f"{base_url(url)}{API}/{quoted(i)}", token=token)
        return {"id": i, "status": "dropped"}, f"{i}: dropped"

    return each(ids, drop, output, out)
