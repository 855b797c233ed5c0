"""``tocsin plugins list``: every plugin found, where it comes from, whether it
loaded, and the channel and remediation kinds it contributes."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from tocsin.cli.common import STDOUT, SubParsers, command, group, print_json, print_table

__all__ = ["add_commands", "plugins_list"]


def add_commands(sub: SubParsers) -> None:
    psub = group(sub, "plugins", "plugins")
    ls = command(psub, "list", "list plugins: name, module, distribution, state, what each provides")
    ls.set_defaults(func=_cmd_list)


def _cmd_list(args: argparse.Namespace) -> int:
    return plugins_list(output=args.output)


def _found() -> list[dict[str, Any]]:
    from tocsin.daemon.serve import load_plugins
    from tocsin.plugins import channel_kinds, remediation_kinds

    pm = load_plugins()
    contributed = (("channels", channel_kinds(pm)), ("remediations", remediation_kinds(pm)))
    found = []
    for info in pm.infos:
        module = getattr(pm.get_plugin(info.name), "__name__", None)
        item: dict[str, Any] = {"name": info.name, "module": info.module, "distribution": info.distribution,
                                "version": info.version, "loaded": info.loaded, "error": info.error}
        for what, kinds in contributed:
            item[what] = sorted(k for k, v in kinds.items() if module and (
                v.factory.__module__ == module or v.factory.__module__.startswith(module + ".")))
        found.append(item)
    return found


def plugins_list(*, output: str = "simple", out: TextIO = STDOUT) -> int:
    found = _found()
    if output == "json":
        print_json(found, out)
        return 0
    rows = [("NAME", "MODULE", "DISTRIBUTION", "STATE", "PROVIDES")]
    for p in found:
        where = f"{p['distribution']} {p['version']}" if p["distribution"] else "?"
        state = "loaded" if p["loaded"] else f"FAILED: {p['error']}"
        provides = "  ".join(f"{what}: {', '.join(p[what])}"
                             for what in ("channels", "remediations") if p[what])
        rows.append((p["name"], p["module"], where, state, provides))
    print_table(rows, out, lambda i, cell: "31" if i == 3 and cell.startswith("FAILED") else None)
    return 0
