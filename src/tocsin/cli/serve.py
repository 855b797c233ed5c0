"""``tocsin serve`` runs the daemon in the foreground; ``tocsin check-config``
validates config files the way the daemon loads them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from tocsin.cli.common import DEFAULT_CONFIG, STDOUT, SubParsers, command, print_json

__all__ = ["add_commands", "check_config"]


def add_commands(sub: SubParsers) -> None:
    s = command(sub, "serve", "run the daemon in the foreground", output=None)
    s.add_argument("--config", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    s.add_argument("--listen", help="HOST:PORT to listen on, overriding server.listen")
    s.add_argument("--storage", metavar="PATH|URL",
                   help="where the state lives, overriding storage.path and storage.url: a SQLite "
                        "file (PATH or sqlite:PATH) or postgresql://user@host:5432/db")
    s.add_argument("--default-storage", metavar="PATH|URL",
                   help="where the state lives when the config sets neither storage.path nor "
                        "storage.url (the systemd unit passes /var/lib/tocsin/tocsin.db)")
    s.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    s.set_defaults(func=_cmd_serve)

    c = command(sub, "check-config", "validate config files; exit 1 on any error")
    c.add_argument("paths", nargs="*", help="config files (default: --config)")
    c.add_argument("--config", default=DEFAULT_CONFIG)
    c.set_defaults(func=_cmd_check_config)


def _cmd_serve(args: argparse.Namespace) -> int:
    import asyncio
    import importlib.util

    from tocsin.config.document import ConfigError
    from tocsin.daemon.logsetup import configure_logging
    from tocsin.daemon.serve import ConfigLoader, load_plugins, serve

    configure_logging(args.log_level or "info")
    pm = load_plugins()
    loader = ConfigLoader(Path(args.config), pm, {"listen": args.listen, "storage": args.storage,
                                                  "default_storage": args.default_storage})
    try:
        config = loader.load()
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    logging_cfg = config.document.logging
    configure_logging(args.log_level or logging_cfg.level, logging_cfg.format)
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop

        return uvloop.run(serve(loader))
    return asyncio.run(serve(loader))


def _cmd_check_config(args: argparse.Namespace) -> int:
    return check_config(args.paths or [args.config], output=args.output)


def check_config(paths: list[str], *, output: str = "simple", out: TextIO = STDOUT) -> int:
    """Each file's errors (``line N: yaml.path: message``) or its summary; exit 1 on any error.
    With ``-o json``, an array of ``{"path", "ok", "summary" | "errors"}``."""
    from tocsin.config.document import ConfigError
    from tocsin.daemon.serve import ConfigLoader, load_plugins

    status = 0
    results: list[dict[str, Any]] = []
    for path in paths:
        try:
            config = ConfigLoader(Path(path), load_plugins()).load()
        except ConfigError as exc:
            status = 1
            results.append({"path": path, "ok": False, "errors": [
                {"line": p.line, "path": p.path, "message": p.message} for p in exc.problems]})
            if output != "json":
                out.write(f"{exc.render()}\n{path}: {len(exc.problems)} error(s)\n")
            continue
        results.append({"path": path, "ok": True, "summary": config.summary()})
        if output != "json":
            out.write(f"{path}: OK: {config.summary()}\n")
    if output == "json":
        print_json(results, out)
    return status
