"""The routes page, ``/routes``: the routing tree drawn, a route test, and the config.

Each node shows its matchers, receiver, grouping, timers, ``continue``, time
intervals, escalation policy and remediations. ``labels`` (``alertname="Disk",
severity="page"``, commas or new lines between pairs) tests the tree as ``tocsin route
test --tree`` does (:mod:`tocsin.dispatch.routetest`): the nodes on the matching path
are highlighted and the receivers listed. Below, the running config as ``/api/v2/status``
answers it in ``config.original`` (and ``amtool config show`` prints it): secrets masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from tocsin.core.matchers import split_matchers
from tocsin.core.routes import HTTPRoute
from tocsin.dispatch import routetest
from tocsin.dispatch.route import Route
from tocsin.web.amv2.config_show import alertmanager_config
from tocsin.web.dashboard.render import page
from tocsin.web.keys import RUNTIME

__all__ = ["Node", "routes", "tree"]

#: Longest ``labels`` text read.
MAX_LABELS_TEXT = 4000


@dataclass(slots=True)
class Node:
    """One route as the page draws it."""

    id: str
    matchers: str
    receiver: str
    group_by: str
    timers: str
    continue_: bool
    extras: list[tuple[str, str]]
    #: On the matching path of the labels tested, and whether it ends the path there
    #: (a route the alert goes through).
    on_path: bool = False
    matched: bool = False
    children: list[Node] = field(default_factory=list)


def _node(route: Route, path: set[str], leaves: set[str], root: bool) -> Node:
    opts = route.opts
    group_by = "... (every label)" if opts.group_by_all else (", ".join(sorted(opts.group_by)) or "-")
    extras = [(name, ", ".join(values)) for name, values in (
        ("mute_time_intervals", opts.mute_time_intervals),
        ("active_time_intervals", opts.active_time_intervals),
        ("remediations", opts.remediations)) if values]
    if opts.escalation_policy:
        extras.append(("escalation_policy", opts.escalation_policy))
    return Node(
        id=route.id, matchers=routetest.str_matchers(route) or ("(root)" if root else "(every alert)"),
        receiver=route.receiver, group_by=group_by,
        timers=f"wait {opts.group_wait}, interval {opts.group_interval}, repeat {opts.repeat_interval}",
        continue_=route.continue_, extras=extras, on_path=route.id in path, matched=route.id in leaves,
        children=[_node(child, path, leaves, False) for child in route.routes])


def tree(root: Route, labels: dict[str, str] | None) -> tuple[Node, list[str]]:
    """The tree to draw, the matching path marked when ``labels`` are given, and the
    receivers those labels go to (in tree order, as ``tocsin route test`` prints them)."""
    if labels is None:
        return _node(root, set(), set(), True), []
    path = routetest.matching_path(root, labels)
    leaves = path.leaves()
    return _node(root, path.ids(), {r.id for r in leaves}, True), [r.receiver for r in root.match(labels)]


def parse_labels_text(text: str) -> dict[str, str]:
    """``a="b", c=d`` (commas or new lines between pairs) as labels; ValueError says why not."""
    pairs = [p.strip() for line in text.splitlines() for p in split_matchers(line.strip())]
    return routetest.parse_labels(p for p in pairs if p)


async def routes_page(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    text = request.query.get("labels", "")[:MAX_LABELS_TEXT]
    error = ""
    labels: dict[str, str] | None = None
    if text.strip():
        try:
            labels = parse_labels_text(text)
        except ValueError as exc:
            error = str(exc)
    root, receivers = tree(rt.config.route, labels)
    return page(request, "routes.html", "routes", status=400 if error else 200, root=root,
                labels_text=text, labels=labels, receivers=receivers, error=error,
                config_text=alertmanager_config(rt.config))


def routes() -> list[HTTPRoute]:
    return [HTTPRoute("GET", "/routes", routes_page, access="read",
                      summary="Dashboard: the routing tree, a route test and the running config")]
