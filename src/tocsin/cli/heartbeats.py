"""``tocsin heartbeats list|beat``: the dead man's switches of a running daemon, over
``/api/tocsin/v1/heartbeats``."""

from __future__ import annotations

import argparse
from typing import TextIO

from tocsin.cli.alerts import request_json
from tocsin.cli.common import (
    STDOUT,
    CLIError,
    SubParsers,
    command,
    group,
    print_json,
    print_table,
    quoted,
    short_time,
)

__all__ = ["add_commands", "heartbeats_beat", "heartbeats_list"]

#: The colour of each state on a terminal.
STATE_COLOURS = {"ok": "32", "waiting": "33", "missing": "31"}


def add_commands(sub: SubParsers) -> None:
    hsub = group(sub, "heartbeats", "dead man's switches of a running daemon", daemon=True)
    hlist = command(hsub, "list", "every heartbeat (one per value of its per labels): last seen, state",
                    daemon=True)
    hlist.set_defaults(func=_cmd_heartbeats)
    beat = command(hsub, "beat", "post a beat (from a cron job, a backup script)", daemon=True)
    beat.add_argument("name", help="the heartbeat's name")
    beat.add_argument("--label", action="append", default=[], metavar="NAME=VALUE",
                      help="a value of one of its per labels (repeatable)")
    beat.set_defaults(func=_cmd_heartbeats)


def _cmd_heartbeats(args: argparse.Namespace) -> int:
    if args.heartbeats_command == "list":
        return heartbeats_list(args.url, args.token, output=args.output)
    return heartbeats_beat(args.url, args.token, args.name, args.label, output=args.output)


def heartbeats_list(url: str | None, token: str | None, *, output: str = "simple",
                    out: TextIO = STDOUT) -> int:
    found = request_json(url, token, "/heartbeats")
    if output == "json":
        print_json(found, out)
        return 0
    rows = [("NAME", "LABELS", "LAST SEEN", "DUE", "STATE")]
    for h in found:
        labels = ",".join(f"{k}={v}" for k, v in sorted(h["labels"].items()))
        rows.append((h["name"], labels, short_time(h["lastSeen"]) if h["lastSeen"] else "never",
                     short_time(h["due"]), h["state"]))
    print_table(rows, out, lambda i, cell: STATE_COLOURS.get(cell) if i == 4 else None)
    return 0


def heartbeats_beat(url: str | None, token: str | None, name: str, labels: list[str], *,
                    output: str = "simple", out: TextIO = STDOUT) -> int:
    given: dict[str, str] = {}
    for item in labels:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CLIError(f"--label {item!r}: expected NAME=VALUE")
        given[key] = value
    seen = request_json(url, token, f"/heartbeats/{quoted(name)}", "POST", {"labels": given})
    if output == "json":
        print_json(seen, out)
    else:
        print(f"{seen['name']}: seen at {seen['lastSeen']}", file=out)
    return 0
