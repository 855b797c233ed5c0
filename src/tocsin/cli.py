"""The ``tocsin`` command."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
from pathlib import Path

from tocsin import __version__

DEFAULT_CONFIG = os.environ.get("TOCSIN_CONFIG", "/etc/tocsin/tocsin.yml")


def _cmd_serve(args: argparse.Namespace) -> int:
    from tocsin.config import ConfigError
    from tocsin.daemon import ConfigLoader, load_plugins, serve
    from tocsin.logsetup import configure_logging

    configure_logging(args.log_level or "info")
    pm = load_plugins()
    loader = ConfigLoader(Path(args.config), pm, {"listen": args.listen, "storage": args.storage})
    try:
        config = loader.load()
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    logging_cfg = config.document.logging
    configure_logging(args.log_level or logging_cfg.level, logging_cfg.format)
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop  # type: ignore[import-not-found]

        return uvloop.run(serve(loader))
    return asyncio.run(serve(loader))


def _cmd_check_config(args: argparse.Namespace) -> int:
    from tocsin.config import ConfigError
    from tocsin.daemon import ConfigLoader, load_plugins

    status = 0
    for path in args.paths or [args.config]:
        try:
            config = ConfigLoader(Path(path), load_plugins()).load()
        except ConfigError as exc:
            print(exc.render())
            print(f"{path}: {len(exc.problems)} error(s)")
            status = 1
            continue
        print(f"{path}: OK: {config.summary()}")
    return status


def _cmd_plugins(args: argparse.Namespace) -> int:
    from tocsin.daemon import load_plugins
    from tocsin.plugins import channel_kinds

    pm = load_plugins()
    kinds = channel_kinds(pm)
    for info in pm.infos:
        where = f"{info.distribution} {info.version}" if info.distribution else "?"
        state = "loaded" if info.loaded else f"FAILED: {info.error}"
        module = getattr(pm.get_plugin(info.name), "__name__", None)
        provides = sorted(k for k, v in kinds.items() if v.factory.__module__ == module)
        extra = f"  channels: {', '.join(provides)}" if provides else ""
        print(f"{info.name:<12} {info.module:<32} {where:<20} {state}{extra}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tocsin", description="Alert-routing daemon.")
    p.add_argument("--version", action="version", version=f"tocsin {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the daemon in the foreground")
    s.add_argument("--config", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    s.add_argument("--listen", help="HOST:PORT to listen on, overriding server.listen")
    s.add_argument("--storage", help="SQLite database path, overriding storage.path")
    s.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    s.set_defaults(func=_cmd_serve)

    c = sub.add_parser("check-config", help="validate config files; exit 1 on any error")
    c.add_argument("paths", nargs="*", help="config files (default: --config)")
    c.add_argument("--config", default=DEFAULT_CONFIG)
    c.set_defaults(func=_cmd_check_config)

    pl = sub.add_parser("plugins", help="plugins")
    plsub = pl.add_subparsers(dest="plugins_command", required=True)
    ls = plsub.add_parser("list", help="list plugins: name, module, distribution, state")
    ls.set_defaults(func=_cmd_plugins)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
