"""The ``tocsin`` command: one subcommand group per module of this package, each
adding its own parsers (:func:`add_commands`) and running its own commands."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

from tocsin import __version__
from tocsin.cli import (
    alerts,
    cluster,
    dlq,
    heartbeats,
    notify,
    plugins,
    remediations,
    replay,
    route,
    serve,
    silence,
    storage,
)
from tocsin.cli.common import DEFAULT_CONFIG, DEFAULT_URL, CLIError

__all__ = ["DEFAULT_CONFIG", "EXIT_CODES", "build_parser", "main"]

#: In the order ``tocsin --help`` lists them.
GROUPS = (serve, plugins, route, replay, silence, dlq, alerts, remediations, heartbeats, notify, storage,
          cluster)

#: Every exit status of ``tocsin``, as ``tocsin --help`` and the README list them.
EXIT_CODES = (
    (0, "success"),
    (1, "an error: the daemon refused or could not be reached, a file or argument was invalid, "
        "the output could not be written; or a check that found a difference: check-config found "
        "errors, route test --verify.receivers differed, notify test failed to send through an "
        "integration"),
    (2, "usage: an unknown command or option, a missing or invalid argument; replay: it could not run "
        "(replay exits 1 when it finds a difference, 0 when none)"),
    (130, "interrupted (Ctrl-C); serve drains and exits 0 instead"),
)

EPILOG = textwrap.fill(
    f"Commands that talk to a running daemon take --url (default $TOCSIN_URL or {DEFAULT_URL}) "
    "and --token (default $TOCSIN_TOKEN), after their subcommand or before it; every command "
    "that prints data takes -o json. Colour only on a terminal, and never with NO_COLOR set.", 76,
) + "\n\nexit status:\n" + "\n".join(
    textwrap.fill(text, 76, initial_indent=f"  {code:<5}", subsequent_indent=" " * 7)
    for code, text in EXIT_CODES)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tocsin", description="Alert-routing daemon.", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"tocsin {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("url", "token"):  # a command's own --url/--token, else its group's, else None
        if not hasattr(args, name):
            setattr(args, name, None)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"tocsin: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tocsin: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``tocsin alerts list | head``): no traceback, and none
        # either when Python flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
