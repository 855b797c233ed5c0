"""What the commands share: their options (one parent parser for ``--url`` and
``--token``, one for ``-o``), the error a user sees, the daemon's HTTP client, and
the table every listing prints."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO, cast

from tocsin.core.terminal import colour_wanted, painted

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_URL",
    "OUTPUTS",
    "CLIError",
    "DaemonError",
    "base_url",
    "command",
    "each",
    "group",
    "print_json",
    "print_table",
    "quoted",
    "request",
    "short_time",
]

DEFAULT_CONFIG = os.environ.get("TOCSIN_CONFIG", "/etc/tocsin/tocsin.yml")
DEFAULT_URL = "http://127.0.0.1:9095"
#: What ``-o`` takes unless a command has more (``alerts list`` has ``wide``).
OUTPUTS = ("simple", "json")

_URL_HELP = f"daemon URL (default $TOCSIN_URL or {DEFAULT_URL})"
_TOKEN_HELP = "bearer token (default $TOCSIN_TOKEN)"

SubParsers = argparse._SubParsersAction


class CLIError(Exception):
    """An error for the user: printed as ``tocsin: error: ...``, exit status 1."""


class DaemonError(CLIError):
    """The daemon answered with an error: its HTTP ``status`` and decoded body (``data``)."""

    def __init__(self, message: str, status: int, data: Any) -> None:
        super().__init__(message)
        self.status = status
        self.data = data


# -- options ------------------------------------------------------------------------------


def _client_parent() -> argparse.ArgumentParser:
    # default=SUPPRESS: given after the subcommand, they override the group's; not given,
    # they leave the group's (or main's None) in place.
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--url", default=argparse.SUPPRESS, help=_URL_HELP)
    p.add_argument("--token", default=argparse.SUPPRESS, help=_TOKEN_HELP)
    return p


_CLIENT = _client_parent()


def _output_parent(choices: Sequence[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--output", "-o", choices=list(choices), default="simple",
                   help=f"{', '.join(choices)} (default simple)")
    return p


def group(sub: SubParsers, name: str, help: str, *, daemon: bool = False) -> SubParsers:
    """A group of subcommands; ``daemon``: they talk to a running daemon, and ``--url`` and
    ``--token`` are also accepted before the subcommand."""
    p = sub.add_parser(name, help=help, description=help)
    if daemon:
        p.add_argument("--url", help=_URL_HELP)
        p.add_argument("--token", help=_TOKEN_HELP)
    out: SubParsers = p.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")
    return out


def command(sub: SubParsers, name: str, help: str, *, daemon: bool = False,
            output: Sequence[str] | None = OUTPUTS) -> argparse.ArgumentParser:
    """A command: with ``--url`` and ``--token`` when it talks to a daemon, with
    ``-o/--output`` (``output`` its choices) when it prints data."""
    parents = ([_CLIENT] if daemon else []) + ([_output_parent(output)] if output else [])
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help, parents=parents)
    return parser


# -- a client of the daemon -----------------------------------------------------------


def base_url(url: str | None) -> str:
    return (url or os.environ.get("TOCSIN_URL") or DEFAULT_URL).rstrip("/")


def error_text(body: str) -> str:
    """What an error answer says: tocsin's ``{"error"}``, or on the Alertmanager API a JSON
    string or ``{"code", "message"}``; the body itself when it is none of these."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        text = data.get("error", data.get("message"))
        if isinstance(text, str):
            return text
    return body


def quoted(segment: str) -> str:
    """``segment`` quoted for a URL path (a ``/`` in it too)."""
    import urllib.parse

    return urllib.parse.quote(segment, safe="")


def _decoded(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body


def request(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    # Imported here, not with the module: it takes longer to import than the rest of the
    # command line, and only the commands that talk to a daemon need it.
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    token = token or os.environ.get("TOCSIN_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        raise DaemonError(f"{method} {url}: HTTP {exc.code}: {error_text(text)}", exc.code,
                          _decoded(text)) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CLIError(f"cannot reach tocsin at {url}: {reason}") from None
    return json.loads(raw) if raw else None


# -- output ---------------------------------------------------------------------------


class _Stdout:
    """``sys.stdout`` as it is when written to, not when a default argument was bound
    (pytest's capsys and callers may replace it)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()

    def isatty(self) -> bool:
        return sys.stdout.isatty()


#: Where the commands print by default.
STDOUT = cast(TextIO, _Stdout())

#: How a cell is coloured on a terminal: its column and text to an SGR style, or None.
Paint = Callable[[int, str], str | None]


def print_table(rows: Sequence[Sequence[str]], out: TextIO, paint: Paint | None = None) -> None:
    """Rows (the first a header, always printed) in columns as wide as their widest cell,
    two spaces apart. ``paint`` colours cells, only when ``out`` is a terminal and
    ``NO_COLOR`` is unset; the width is the text's."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    colour = paint is not None and colour_wanted(out)
    for n, r in enumerate(rows):
        cells = []
        for i, (c, w) in enumerate(zip(r, widths, strict=True)):
            cell = c.ljust(w)
            style = paint(i, c) if colour and n and paint is not None else None
            cells.append(painted(c, style) + cell[len(c):] if style else cell)
        out.write("  ".join(cells).rstrip() + "\n")


def short_time(ts: str | None) -> str:
    """An RFC 3339 time from the daemon as ``2024-05-01 12:34:56`` (UTC), or ``-``."""
    return ts[:19].replace("T", " ") if ts else "-"


def print_json(data: Any, out: TextIO) -> None:
    """What ``-o json`` prints: one JSON document and a newline."""
    out.write(json.dumps(data) + "\n")


def each(items: Sequence[str], act: Callable[[str], tuple[Any, str]], output: str, out: TextIO) -> int:
    """``act`` on each item in turn (it answers what ``-o json`` shows of it, and the line
    printed otherwise); with ``-o json`` an array of those done, also when a later one failed."""
    done: list[Any] = []
    try:
        for item in items:
            data, line = act(item)
            done.append(data)
            if output != "json":
                out.write(line + "\n")
    finally:
        if output == "json":
            print_json(done, out)
    return 0
