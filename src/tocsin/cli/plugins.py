"""``tocsin plugins list``: every plugin found, where it comes from, whether it
loaded, and the channel and remediation kinds it contributes."""

from __future__ import annotations

import argparse

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pl = sub.add_parser("plugins", help="plugins")
    plsub = pl.add_subparsers(dest="plugins_command", required=True)
    ls = plsub.add_parser("list", help="list plugins: name, module, distribution, state")
    ls.set_defaults(func=_cmd_list)


def _cmd_list(args: argparse.Namespace) -> int:
    from tocsin.daemon.serve import load_plugins
    from tocsin.plugins import channel_kinds, remediation_kinds

    pm = load_plugins()
    contributed = (("channels", channel_kinds(pm)), ("remediations", remediation_kinds(pm)))
    for info in pm.infos:
        where = f"{info.distribution} {info.version}" if info.distribution else "?"
        state = "loaded" if info.loaded else f"FAILED: {info.error}"
        module = getattr(pm.get_plugin(info.name), "__name__", None)
        extra = ""
        for what, kinds in contributed:
            provides = sorted(k for k, v in kinds.items() if module and (
                v.factory.__module__ == module or v.factory.__module__.startswith(module + ".")))
            if provides:
                extra += f"  {what}: {', '.join(provides)}"
        print(f"{info.name:<22} {info.module:<32} {where:<20} {state}{extra}")
    return 0
