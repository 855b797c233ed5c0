"""``tocsin storage copy --from PATH|URL --to PATH|URL``: every record of one database
copied into another, to move a single host's SQLite state into PostgreSQL (or back).

Run it with tocsin stopped: a SQLite database in use by a running tocsin is refused
(its lock), and records written during a copy might be missed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tocsin.cli.common import STDOUT, CLIError, SubParsers, command, group, print_json, print_table

if TYPE_CHECKING:
    from tocsin.config.server import StorageLocation

__all__ = ["add_commands", "storage_copy"]

_WHERE = "a SQLite file (PATH or sqlite:PATH) or postgresql://user@host:5432/db"


def add_commands(sub: SubParsers) -> None:
    ssub = group(sub, "storage", "the database: move state between SQLite and PostgreSQL")
    c = command(ssub, "copy", "copy every record (alerts, incidents, history, silences, notification "
                              "log, dead letters, attempts, remediation runs, callbacks handled) into "
                              "another database")
    c.add_argument("--from", dest="source", required=True, metavar="PATH|URL", help=f"copied from: {_WHERE}")
    c.add_argument("--to", dest="target", required=True, metavar="PATH|URL", help=f"copied into: {_WHERE}")
    c.add_argument("--force", action="store_true",
                   help="delete what the target holds first (without it, a target with records is refused)")
    c.set_defaults(func=_cmd_copy)


def _cmd_copy(args: argparse.Namespace) -> int:
    from tocsin.daemon.logsetup import configure_logging

    configure_logging("warning", "console")  # on stderr: stdout is the counts (or -o json)
    return storage_copy(args.source, args.target, force=args.force, output=args.output)


def storage_copy(source: str, target: str, *, force: bool = False, output: str = "simple",
                 out: TextIO = STDOUT) -> int:
    """Copy; print how many rows of each table (``-o json``: ``{"from", "to", "copied"}``)."""
    import asyncio

    from tocsin.config.server import parse_storage

    try:
        src, dst = parse_storage(source), parse_storage(target)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if src == dst:
        raise CLIError("--from and --to are the same database")
    if src.kind == "sqlite" and not Path(src.target).is_file():
        raise CLIError(f"--from: no SQLite database at {src.target}")
    copied = asyncio.run(_copy(src, dst, force))
    if output == "json":
        print_json({"from": str(src), "to": str(dst), "copied": copied}, out)
        return 0
    rows = [("TABLE", "ROWS")] + [(table, str(n)) for table, n in copied.items()]
    rows.append(("total", str(sum(copied.values()))))
    out.write(f"copied {src} into {dst}\n")
    print_table(rows, out)
    return 0


async def _copy(src: StorageLocation, dst: StorageLocation, force: bool) -> dict[str, int]:
    from tocsin.store import StorageError
    from tocsin.store.copy import copy_store
    from tocsin.store.factory import store_at

    source, target = store_at(src), store_at(dst)
    try:
        await source.open()
        await target.open()
        return await copy_store(source, target, force=force)
    except StorageError as exc:
        raise CLIError(str(exc)) from None
    finally:
        await target.close()
        await source.close()
