"""``tocsin silence add|query|expire``: silences on a running daemon, through its
Alertmanager API v2, with amtool's arguments and output."""

from __future__ import annotations

import argparse
import getpass
import os
import urllib.parse
from datetime import UTC, datetime
from typing import Any, TextIO

from tocsin.cli.common import (
    STDOUT,
    CLIError,
    SubParsers,
    base_url,
    command,
    group,
    print_json,
    print_table,
    quoted,
    request,
)
from tocsin.core.durations import Duration
from tocsin.core.matchers import MatcherError, parse_matchers

__all__ = ["add_commands", "silence_add", "silence_expire", "silence_matchers", "silence_query"]


def add_commands(sub: SubParsers) -> None:
    ssub = group(sub, "silence", "silences on a running daemon", daemon=True)
    add = command(ssub, "add", "add a silence; prints its id", daemon=True)
    add.add_argument("matchers", nargs="+", help='e.g. alertname=DiskFull instance=~"db.*"')
    add.add_argument("--duration", default="1h")
    add.add_argument("--start", help="RFC3339 start (default now)")
    add.add_argument("--end", help="RFC3339 end (overrides --duration)")
    add.add_argument("--author", "-a")
    add.add_argument("--comment", "-c", default="")
    q = command(ssub, "query", "list silences (active and pending; --expired for the rest)", daemon=True)
    q.add_argument("matchers", nargs="*")
    q.add_argument("--expired", action="store_true")
    q.add_argument("--quiet", "-q", action="store_true", help="print ids only")
    ex = command(ssub, "expire", "expire silences by id (prints nothing, as amtool)", daemon=True,
                 output=None)
    ex.add_argument("ids", nargs="+", metavar="id")
    for parser in (add, q, ex):
        parser.set_defaults(func=_cmd_silence)


def _cmd_silence(args: argparse.Namespace) -> int:
    if args.silence_command == "add":
        return silence_add(
            args.url, args.matchers, duration=args.duration, start=args.start, end=args.end,
            author=args.author, comment=args.comment, token=args.token, output=args.output,
        )
    if args.silence_command == "query":
        return silence_query(args.url, args.matchers, expired=args.expired,
                             quiet=args.quiet, output=args.output, token=args.token)
    return silence_expire(args.url, args.ids, token=args.token)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_time(text: str, flag: str) -> datetime:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CLIError(f"{flag}: invalid RFC3339 time {text!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def silence_matchers(args: list[str]) -> list[dict[str, Any]]:
    if not args:
        raise CLIError("no matchers given: e.g. alertname=DiskFull instance=~\"db.*\"")
    args = list(args)
    if not any(op in args[0] for op in ("=", "~")):
        args[0] = f"alertname={args[0]}"  # amtool's shortcut: a bare first word names the alert
    out = []
    for arg in args:
        try:
            ms = parse_matchers(arg)
        except MatcherError as exc:
            raise CLIError(f"invalid matcher {arg!r}: {exc}") from None
        for m in ms:
            out.append({"name": m.name, "value": m.value, "isRegex": m.type.is_regex,
                        "isEqual": not m.type.is_negative})
    return out


def silence_add(
    url: str | None, matchers: list[str], *, duration: str = "1h", start: str | None = None,
    end: str | None = None, author: str | None = None, comment: str = "",
    token: str | None = None, output: str = "simple", out: TextIO = STDOUT,
) -> int:
    body_matchers = silence_matchers(matchers)
    starts = _parse_time(start, "--start") if start else datetime.now(UTC)
    if end:
        ends = _parse_time(end, "--end")
    else:
        try:
            span = Duration.parse(duration)
        except ValueError as exc:
            raise CLIError(f"--duration: {exc}") from None
        if span <= 0:
            raise CLIError("--duration: must be greater than zero")
        ends = datetime.fromtimestamp(starts.timestamp() + span, UTC)
    body = {
        "matchers": body_matchers, "startsAt": _iso(starts), "endsAt": _iso(ends),
        "createdBy": author or os.environ.get("USER") or getpass.getuser(), "comment": comment,
    }
    answer = request("POST", f"{base_url(url)}/api/v2/silences", body, token=token)
    if output == "json":
        print_json({"silenceID": answer["silenceID"]}, out)
    else:
        out.write(answer["silenceID"] + "\n")
    return 0


def _matcher_text(m: dict[str, Any]) -> str:
    op = ("=~" if m["isRegex"] else "=") if m.get("isEqual", True) else ("!~" if m["isRegex"] else "!=")
    value = m["value"].replace("\\", "\\\\").replace('"', '\\"')
    return f'{m["name"]}{op}"{value}"'


def silence_query(
    url: str | None, matchers: list[str], *, expired: bool = False, quiet: bool = False,
    output: str = "simple", token: str | None = None, out: TextIO = STDOUT,
) -> int:
    params = []
    for arg in matchers:
        try:
            parse_matchers(arg)
        except MatcherError as exc:
            raise CLIError(f"invalid matcher {arg!r}: {exc}") from None
        params.append(("filter", arg))
    query = urllib.parse.urlencode(params)
    silences = request("GET", f"{base_url(url)}/api/v2/silences" + (f"?{query}" if query else ""),
                       token=token)
    chosen = [s for s in silences if (s["status"]["state"] == "expired") == expired]
    if quiet:
        for s in chosen:
            out.write(s["id"] + "\n")
    elif output == "json":
        print_json(chosen, out)
    else:
        rows = [("ID", "Matchers", "Ends At", "Created By", "Comment")]
        for s in chosen:
            ends = _parse_time(s["endsAt"], "endsAt").strftime("%Y-%m-%d %H:%M:%S UTC")
            rows.append((s["id"], " ".join(_matcher_text(m) for m in s["matchers"]), ends,
                         s["createdBy"], s["comment"]))
        print_table(rows, out)
    return 0


def silence_expire(url: str | None, ids: list[str], *, token: str | None = None) -> int:
    if not ids:
        raise CLIError("no silence ids given")
    for sid in ids:
        request("DELETE", f"{base_url(url)}/api/v2/silence/{quoted(sid)}", token=token)
    return 0
