"""What the commands share: the defaults of ``--config`` and ``--url``, the error a
user sees, the daemon's HTTP client, and the table every listing prints."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["DEFAULT_CONFIG", "DEFAULT_URL", "CLIError", "base_url", "client_args", "print_table", "request"]

DEFAULT_CONFIG = os.environ.get("TOCSIN_CONFIG", "/etc/tocsin/tocsin.yml")
DEFAULT_URL = "http://127.0.0.1:9095"


class CLIError(Exception):
    """An error for the user: printed as ``tocsin: error: ...``, exit status 1."""


def client_args(parser: argparse.ArgumentParser, hidden: bool = False) -> None:
    """--url and --token, accepted before or after the subcommand."""
    if hidden:
        parser.add_argument("--url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        parser.add_argument("--token", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return
    parser.add_argument("--url", help="daemon URL (default $TOCSIN_URL or http://127.0.0.1:9095)")
    parser.add_argument("--token", help="bearer token (default $TOCSIN_TOKEN)")


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
        detail = error_text(exc.read().decode(errors="replace"))
        raise CLIError(f"{method} {url}: HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CLIError(f"cannot reach tocsin at {url}: {reason}") from None
    return json.loads(raw) if raw else None


# -- output ---------------------------------------------------------------------------


def print_table(rows: Sequence[tuple[str, ...]], out: TextIO) -> None:
    """Rows (the first a header) in columns as wide as their widest cell, two spaces apart."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
