"""``tocsin route test``: the receivers an alert with these labels goes to.

It prints exactly what ``amtool config routes test`` prints (``--tree`` too),
so scripts written for one work with the other.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tocsin.cli.common import DEFAULT_CONFIG, STDOUT, CLIError, SubParsers, command, group, print_json
from tocsin.dispatch import routetest
from tocsin.dispatch.routetest import RouteMatch, str_matchers

if TYPE_CHECKING:
    from tocsin.config.document import Config
    from tocsin.dispatch.route import Route

__all__ = ["add_commands", "answer", "matching_tree", "parse_labels", "route_test"]


def add_commands(sub: SubParsers) -> None:
    rsub = group(sub, "route", "routing tree tools")
    rt = command(rsub, "test", "print the receivers an alert with these labels goes to, "
                               "as amtool config routes test does")
    rt.add_argument("--config", default=DEFAULT_CONFIG)
    rt.add_argument("--tree", action="store_true", help="also print the matching routes")
    rt.add_argument("--verify.receivers", dest="verify_receivers", metavar="R1,R2",
                    help="exit 1 unless the receivers are exactly these")
    rt.add_argument("labels", nargs="*", help="label=value ...")
    rt.set_defaults(func=_cmd_test)


def _cmd_test(args: argparse.Namespace) -> int:
    return route_test(args.config, args.labels, tree=args.tree, verify=args.verify_receivers,
                      output=args.output)


def parse_labels(args: list[str]) -> dict[str, str]:
    try:
        return routetest.parse_labels(args)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _slug(route: Route, receiver: bool) -> str:
    text = str_matchers(route) or "default-route"
    return f"{text}  receiver: {route.receiver}" if receiver else text


def matching_tree(root: Route, labels: dict[str, str]) -> list[str]:
    """The matching branches, drawn as amtool draws them (treeprint)."""
    lines = ["."]

    def draw(children: list[RouteMatch], prefix: str) -> None:
        for i, m in enumerate(children):
            last = i == len(children) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{_slug(m.route, receiver=not m.children)}")
            draw(m.children, prefix + ("    " if last else "│\u00a0\u00a0 "))

    draw([routetest.matching_path(root, labels)], "")
    return lines


def route_test(
    config_path: str, labels_args: list[str], *, tree: bool = False,
    verify: str | None = None, output: str = "simple", out: TextIO = STDOUT,
) -> int:
    """The receivers, comma separated, as amtool prints them; with ``-o json``
    ``{"receivers": [...]}`` (and ``tree``, its lines). Exit 1 when ``verify`` differs."""
    from tocsin.config.document import ConfigError
    from tocsin.daemon.serve import ConfigLoader, load_plugins

    try:
        config = ConfigLoader(Path(config_path), load_plugins()).load()
    except ConfigError as exc:
        raise CLIError(exc.render()) from None
    return answer(config, labels_args, tree=tree, verify=verify, output=output, out=out)


def answer(config: Config, labels_args: list[str], *, tree: bool = False, verify: str | None = None,
           output: str = "simple", out: TextIO = STDOUT) -> int:
    """:func:`route_test` of a config loaded already (one config, many label sets)."""
    labels = parse_labels(labels_args)
    receivers = [r.receiver for r in config.route.match(labels)]
    slug = ",".join(receivers)
    differs = verify is not None and verify != slug
    if output == "json":
        data: dict[str, Any] = {"receivers": receivers}
        if tree:
            data["tree"] = matching_tree(config.route, labels)
        if verify is not None:
            data["verified"] = not differs
        print_json(data, out)
        return 1 if differs else 0
    if tree:
        out.write("Matching routes:\n" + "\n".join(matching_tree(config.route, labels)) + "\n\n\n")
    out.write(slug + "\n")
    if differs:
        out.write("WARNING: Expected receivers did not match resolved receivers.\n")
        return 1
    return 0
