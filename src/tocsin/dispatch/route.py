"""The routing tree, with Alertmanager's semantics.

A child inherits its parent's receiver, grouping and timers unless it sets
its own; time intervals are not inherited. Matching is depth-first, left to
right: the first matching child wins unless it has ``continue``; a node none
of whose children match is itself the match.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from tocsin import hookimpl
from tocsin.config.types import ConfigBase, MatcherList, Regex
from tocsin.config.validate import field_error
from tocsin.core.durations import Duration
from tocsin.core.labels import labelset_string, valid_label_name
from tocsin.core.matchers import Matcher, MatchType, matchers_string, matches_all
from tocsin.core.models import Alert

if TYPE_CHECKING:
    from tocsin.core.facade import Facade

__all__ = ["Route", "RouteConfig", "RouteOpts"]


class RouteConfig(ConfigBase):
    """One node of ``route:`` as written (Alertmanager's keys); :class:`Route` is it resolved."""

    receiver: str | None = None
    group_by: list[str] | None = None
    continue_: bool = msgspec.field(default=False, name="continue")
    matchers: list[MatcherList] = []
    match: dict[str, str] = {}
    match_re: dict[str, Regex] = {}
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    mute_time_intervals: list[str] = []
    active_time_intervals: list[str] = []
    #: Name of an ``escalation_policies`` entry; not inherited by child routes.
    escalation_policy: str | None = None
    #: Names of ``remediations`` entries to run for this route's firing alerts; not inherited.
    remediations: list[str] = []
    routes: list[RouteConfig] = []

    def __post_init__(self) -> None:
        if self.group_by is not None:
            seen: set[str] = set()
            for i, name in enumerate(self.group_by):
                if name != "..." and not valid_label_name(name):
                    raise field_error(f"group_by[{i}]", f"invalid label name {name!r}")
                if name in seen and name != "...":  # Alertmanager tolerates a repeated '...'
                    raise field_error(f"group_by[{i}]", f"duplicated label {name!r}")
                seen.add(name)
            if "..." in seen and len(seen) > 1:
                raise field_error("group_by", "'...' (group by all labels) must stand alone")
        for key in ("match", "match_re"):
            for name in getattr(self, key):
                if not valid_label_name(name):
                    raise field_error(f"{key}.{name}", f"invalid label name {name!r}")
        if self.group_interval is not None and self.group_interval == 0:
            raise field_error("group_interval", "cannot be zero")
        if self.repeat_interval is not None and self.repeat_interval == 0:
            raise field_error("repeat_interval", "cannot be zero")


@dataclass(frozen=True, slots=True)
class RouteOpts:
    receiver: str = ""
    group_by: frozenset[str] = frozenset()
    group_by_all: bool = False
    group_wait: Duration = Duration(30)
    group_interval: Duration = Duration(300)
    repeat_interval: Duration = Duration(4 * 3600)
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    #: Not inherited: a policy applies to the route that names it.
    escalation_policy: str | None = None
    #: Not inherited either: remediations run for the route that names them.
    remediations: tuple[str, ...] = ()


class Route:
    __slots__ = ("_key", "continue_", "id", "matchers", "opts", "parent", "routes")

    def __init__(
        self,
        opts: RouteOpts,
        matchers: tuple[Matcher, ...] = (),
        *,
        continue_: bool = False,
        parent: Route | None = None,
    ) -> None:
        self.opts = opts
        self.matchers = matchers
        self.continue_ = continue_
        self.parent = parent
        self.routes: list[Route] = []
        key = matchers_string(matchers)
        self._key = f"{parent.key}/{key}" if parent is not None else key
        self.id = self._key

    @classmethod
    def build(cls, cfg: RouteConfig, parent: Route | None = None, position: int | None = None) -> Route:
        base = parent.opts if parent is not None else RouteOpts()
        group_by, group_by_all = base.group_by, base.group_by_all
        # As in Alertmanager: named labels replace the parent's grouping; '...'
        # alone switches to grouping by all labels; an empty list inherits.
        names = [n for n in cfg.group_by or () if n != "..."]
        if names:
            group_by, group_by_all = frozenset(names), False
        elif cfg.group_by and "..." in cfg.group_by:
            group_by_all = True
        opts = RouteOpts(
            receiver=cfg.receiver or base.receiver,
            group_by=group_by,
            group_by_all=group_by_all,
            group_wait=cfg.group_wait if cfg.group_wait is not None else base.group_wait,
            group_interval=cfg.group_interval if cfg.group_interval is not None else base.group_interval,
            repeat_interval=(
                cfg.repeat_interval if cfg.repeat_interval is not None else base.repeat_interval
            ),
            mute_time_intervals=tuple(cfg.mute_time_intervals),
            active_time_intervals=tuple(cfg.active_time_intervals),
            escalation_policy=cfg.escalation_policy,
            remediations=tuple(cfg.remediations),
        )
        matchers: list[Matcher] = [Matcher.create(k, MatchType.EQUAL, v) for k, v in cfg.match.items()]
        matchers += [Matcher.legacy_regex(k, v) for k, v in cfg.match_re.items()]
        for line in cfg.matchers:
            matchers.extend(line)
        matchers.sort(key=Matcher.sort_key)
        route = cls(opts, tuple(matchers), continue_=cfg.continue_, parent=parent)
        if position is not None:
            route.id = f"{route.key}/{position}"
        route.routes = [cls.build(child, route, i) for i, child in enumerate(cfg.routes)]
        return route

    @property
    def key(self) -> str:
        """Alertmanager's route key: the matchers of each node from the root, joined by '/'."""
        return self._key

    @property
    def receiver(self) -> str:
        return self.opts.receiver

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert with ``labels`` is delivered through, in tree order."""
        if not self.matches(labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            sub = child.match(labels)
            found.extend(sub)
            if sub and not child.continue_:
                break
        return found or [self]

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        if self.opts.group_by_all:
            return dict(labels)
        gb = self.opts.group_by
        return {k: v for k, v in labels.items() if k in gb}

    def group_key(self, group_labels: Mapping[str, str]) -> str:
        """Alertmanager's group key: ``<route key>:<group labels>``."""
        return f"{self._key}:{labelset_string(group_labels)}"

    def walk(self) -> Iterator[Route]:
        yield self
        for child in self.routes:
            yield from child.walk()

    def __repr__(self) -> str:
        return f"<Route {self.id} receiver={self.receiver!r}>"

@hookimpl(trylast=True)
def tocsin_route(runtime: Facade, alert: Alert) -> list[Route]:
    return runtime.config.route.match(alert.labels)
