"""The ``tocsin`` command: one subcommand group per module of this package, each
adding its own parsers (:func:`add_commands`) and running its own commands."""

from __future__ import annotations

import argparse
import sys

from tocsin import __version__
from tocsin.cli import alerts, dlq, notify, plugins, route, serve, silence
from tocsin.cli.common import DEFAULT_CONFIG, CLIError

__all__ = ["DEFAULT_CONFIG", "build_parser", "main"]

#: In the order ``tocsin --help`` lists them.
GROUPS = (serve, plugins, route, silence, dlq, alerts, notify)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tocsin", description="Alert-routing daemon.")
    p.add_argument("--version", action="version", version=f"tocsin {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"tocsin: error: {exc}", file=sys.stderr)
        return 1
