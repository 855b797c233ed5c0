"""What ``tocsin route test`` answers, for the command line and the dashboard alike.

:func:`parse_labels` reads ``name=value`` pairs; :func:`matching_path` walks the
routing tree as ``amtool config routes test --tree`` does: from the root, into each
child whose own matchers match, stopping after the first one without ``continue``.
Its leaves are the routes the alert is delivered through (:meth:`Route.match`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from tocsin.core.matchers import MatcherError, MatchType, parse_matcher
from tocsin.dispatch.route import Route

__all__ = ["RouteMatch", "matching_path", "parse_labels", "str_matchers"]


@dataclass(slots=True)
class RouteMatch:
    """A route on the matching path and the matching children it went into."""

    route: Route
    children: list[RouteMatch] = field(default_factory=list)

    def walk(self) -> Iterator[RouteMatch]:
        yield self
        for child in self.children:
            yield from child.walk()

    def ids(self) -> set[str]:
        """The ids of every route on the path."""
        return {m.route.id for m in self.walk()}

    def leaves(self) -> list[Route]:
        """The routes at the ends of the path, in tree order: those the alert goes through."""
        return [m.route for m in self.walk() if not m.children]


def parse_labels(args: Iterable[str]) -> dict[str, str]:
    """``name=value`` pairs (values may be quoted) as labels. Raises ValueError naming the
    pair that is no such pair."""
    labels: dict[str, str] = {}
    for arg in args:
        try:
            m = parse_matcher(arg)
        except MatcherError as exc:
            raise ValueError(f"Failed to parse labels: {exc}") from None
        if m.type is not MatchType.EQUAL:
            raise ValueError("Failed to parse labels: labels must be specified as key=value pairs")
        labels[m.name] = m.value
    return labels


def matching_path(root: Route, labels: Mapping[str, str]) -> RouteMatch:
    """The matching branches from ``root``, as amtool's ``--tree`` walks them."""
    node = RouteMatch(root)
    for child in root.routes:
        if child.matches(labels):
            node.children.append(matching_path(child, labels))
            if not child.continue_:
                break
    return node


def str_matchers(route: Route) -> str:
    """The route's matchers as ``{a="b",c=~"d"}``, or ``""`` when it has none."""
    return "{" + ",".join(str(m) for m in route.matchers) + "}" if route.matchers else ""
