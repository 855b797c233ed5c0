"""What the alert list shows: one row per alert held, its state, and its groups.

An alert's state on the dashboard is one of :data:`STATES`, the first that applies:
``resolved`` (its end time has passed), ``silenced``, ``inhibited`` (as muting answers
now), ``acknowledged`` (its incident is), else ``firing``. Groups are the routing tree's
aggregation groups (an alert in several routes shows in each), or, with ``group_by``,
one group per combination of those labels' values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tocsin.core.matchers import Matcher, matches_all
from tocsin.core.models import Alert
from tocsin.core.pacing import Pacer
from tocsin.core.severity import SEVERITIES, severity_level
from tocsin.runtime import Runtime

__all__ = ["SORTS", "STATES", "Group", "Row", "group_rows", "rows", "sort_rows"]

STATES = ("firing", "acknowledged", "silenced", "inhibited", "resolved")
#: ``severity``: most severe first, then newest; ``started``: newest first.
SORTS = ("severity", "started")
#: At most this many rows are drawn (a storm is summed up in its groups' counts).
MAX_ROWS = 200


@dataclass(slots=True)
class Row:
    fingerprint: str
    #: The incident's id: the alert's page is ``/alerts/<id>``.
    id: str
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str
    severity: str
    starts_at: float
    acknowledged_by: str = ""
    ack_note: str = ""
    muted_by: tuple[str, ...] = ()
    #: Higher is more severe; 0 for a severity tocsin does not know.
    rank: int = 0


def _rank(severity: str) -> int:
    level = severity_level(severity)
    return len(SEVERITIES) - SEVERITIES.index(level) if level else 0


@dataclass(slots=True)
class Group:
    #: The group's labels (the route's ``group_by`` values, or the requested labels').
    labels: dict[str, str]
    #: The receiver of the route (routing-tree groups only).
    receiver: str
    rows: list[Row] = field(default_factory=list)
    #: How many of its rows are not drawn (over :data:`MAX_ROWS`).
    hidden: int = 0

    @property
    def shown(self) -> list[Row]:
        return self.rows[:len(self.rows) - self.hidden]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for r in self.rows:
            out[r.state] += 1
        return out


def row(rt: Runtime, alert: Alert, now: float) -> Row:
    inc = rt.lifecycle.get(alert.fingerprint)
    reasons = rt.muted(alert, None, now) if not alert.resolved(now) else []
    silenced = tuple(i for r in reasons if r.kind == "silence" for i in r.ids)
    inhibited = tuple(i for r in reasons if r.kind == "inhibition" for i in r.ids)
    if alert.resolved(now):
        state = "resolved"
    elif silenced:
        state = "silenced"
    elif inhibited:
        state = "inhibited"
    elif inc is not None and inc.state == "acknowledged":
        state = "acknowledged"
    else:
        state = "firing"
    return Row(
        fingerprint=alert.fingerprint, id=inc.id if inc is not None else alert.fingerprint,
        name=alert.labels.get("alertname", ""), labels=alert.labels, annotations=alert.annotations,
        state=state, severity=alert.labels.get("severity", ""), starts_at=alert.starts_at,
        acknowledged_by=inc.acknowledged_by if inc is not None else "",
        ack_note=inc.ack_note if inc is not None else "",
        muted_by=silenced + inhibited, rank=_rank(alert.labels.get("severity", "")))


async def rows(rt: Runtime, matchers: Sequence[Matcher], now: float) -> list[Row]:
    """Every alert held that ``matchers`` match, whatever its state."""
    pacer = Pacer()
    out = []
    for alert in list(rt.alerts):  # a copy: ingest changes the alerts while this pauses
        await pacer.tick()
        if matches_all(matchers, alert.labels):
            out.append(row(rt, alert, now))
    return out


def sort_rows(items: list[Row], sort: str) -> list[Row]:
    if sort == "started":
        return sorted(items, key=lambda r: (-r.starts_at, r.name, r.fingerprint))
    return sorted(items, key=lambda r: (-r.rank, -r.starts_at, r.name, r.fingerprint))


def _label_key(labels: dict[str, str]) -> list[tuple[str, str]]:
    return sorted(labels.items())


def group_rows(rt: Runtime, items: Iterable[Row], group_by: Sequence[str], sort: str) -> list[Group]:
    """The rows in groups, each group's rows sorted; no more than :data:`MAX_ROWS` drawn."""
    by_fp = {r.fingerprint: r for r in items}
    groups: list[Group] = []
    if group_by:
        keyed: dict[tuple[str, ...], Group] = {}
        for r in by_fp.values():
            key = tuple(r.labels.get(name, "") for name in group_by)
            if key not in keyed:
                keyed[key] = Group(dict(zip(group_by, key, strict=True)), "")
            keyed[key].rows.append(r)
        groups = list(keyed.values())
    else:
        placed: set[str] = set()
        for aggr in list(rt.dispatcher.groups.values()):
            members = [by_fp[fp] for fp in list(aggr.alerts) if fp in by_fp]
            if members:
                groups.append(Group(dict(aggr.labels), aggr.route.receiver, members))
                placed.update(r.fingerprint for r in members)
        rest = [r for fp, r in by_fp.items() if fp not in placed]
        if rest:  # not routed yet, or resolved and out of their groups
            groups.append(Group({}, "", rest))
    groups.sort(key=lambda g: (g.receiver == "" and not group_by, -max(r.rank for r in g.rows),
                               _label_key(g.labels), g.receiver))
    budget = MAX_ROWS
    for g in groups:
        g.rows = sort_rows(g.rows, sort)
        if len(g.rows) > budget:
            g.hidden = len(g.rows) - budget
        budget = max(0, budget - len(g.rows))
    return groups
