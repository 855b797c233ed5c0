"""``tocsin dlq list|replay|drop``: dead letters (notifications that exhausted
their retries) on a running daemon."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from typing import TextIO

from tocsin.cli.common import base_url, print_table, request

__all__ = ["add_commands", "dlq_drop", "dlq_list", "dlq_replay"]


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dq = sub.add_parser("dlq", help="dead letters on a running daemon")
    dq.add_argument("--url", help="daemon URL (default $TOCSIN_URL or http://127.0.0.1:9095)")
    dq.add_argument("--token", help="bearer token (default $TOCSIN_TOKEN)")
    dsub = dq.add_subparsers(dest="dlq_command", required=True)
    dl = dsub.add_parser("list", help="notifications that exhausted their retries")
    dl.add_argument("--output", "-o", choices=["simple", "json"], default="simple")
    dr = dsub.add_parser("replay", help="send dead letters again (each once)")
    dr.add_argument("ids", nargs="+")
    dd = dsub.add_parser("drop", help="forget dead letters")
    dd.add_argument("ids", nargs="+")
    for parser in (dl, dr, dd):
        parser.add_argument("--url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        parser.add_argument("--token", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    dq.set_defaults(func=_cmd_dlq)


def _cmd_dlq(args: argparse.Namespace) -> int:
    if args.dlq_command == "list":
        return dlq_list(args.url, args.token, output=args.output)
    if args.dlq_command == "replay":
        return dlq_replay(args.url, args.token, args.ids)
    return dlq_drop(args.url, args.token, args.ids)


def dlq_list(url: str | None, token: str | None, *, output: str = "simple",
             out: TextIO = sys.stdout) -> int:
    items = request("GET", f"{base_url(url)}/api/tocsin/v1/dead-letters", token=token)
    if output == "json":
        out.write(json.dumps(items) + "\n")
        return 0
    rows = [("ID", "At", "Receiver", "Integration", "Alerts", "Attempts", "Error")]
    rows += [(str(d["id"]), d["at"], d["receiver"], d["integration"], str(d["alerts"]),
              str(d["attempts"]), d["error"][:80]) for d in items]
    print_table(rows, out)
    return 0


def dlq_replay(url: str | None, token: str | None, ids: list[str], out: TextIO = sys.stdout) -> int:
    for i in ids:
        answer = request("POST", f"{base_url(url)}/api/tocsin/v1/dead-letters/{urllib.parse.quote(i)}/replay",
                         token=token)
        if isinstance(answer, dict) and answer.get("status") == "superseded":
            out.write(f"{i}: superseded by a newer notification of its group; dropped, not sent\n")
        else:
            out.write(f"{i}: delivered\n")
    return 0


def dlq_drop(url: str | None, token: str | None, ids: list[str], out: TextIO = sys.stdout) -> int:
    for i in ids:
        request("DELETE", f"{base_url(url)}/api/tocsin/v1/dead-letters/{urllib.parse.quote(i)}",
                token=token)
        out.write(f"{i}: dropped\n")
    return 0
