"""What the alert list shows: one row per alert held, its state, and its groups.

An alert's state on the dashboard is one of :data:`STATES`, the first that applies:
``resolved`` (its end time has passed), ``silenced``, ``inhibited`` (as muting answers
now), ``acknowledged`` (its incident is), else ``firing``. Groups are the routing tree's
aggregation groups (an alert in several routes shows in each), or, with ``group_by``,
one group per combination of those labels' values.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tocsin.core.matchers import Matcher, matches_all
from tocsin.core.models import Alert
from tocsin.core.mute import MuteReason
from tocsin.core.pacing import Pacer
from tocsin.core.severity import SEVERITIES, severity_level
from tocsin.incidents.plan import Incident
from tocsin.runtime import Runtime
from tocsin.web import muting

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
    def drawn(self) -> bool:
        return self.hidden < len(self.rows)

    @property
    def shown(self) -> list[Row]:
        return self.rows[:len(self.rows) - self.hidden]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for r in self.rows:
            out[r.state] += 1
        return out


def row(rt: Runtime, alert: Alert, now: float) -> Row:
    return _row(alert, rt.lifecycle.get(alert.fingerprint),
                muting.muted(rt, alert, now) if not alert.resolved(now) else [], now)


def _row(alert: Alert, inc: Incident | None, reasons: list[MuteReason], now: float) -> Row:
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


#: Each alert's row as last drawn, and what it was drawn from: (alert, incident, mute
#: reasons, resolved, row). Alerts and incidents are replaced when they change, never
#: changed in place, and the mute reasons are the same list until they are computed again
#: (:mod:`tocsin.web.muting`), so a row drawn from the very same ones is the same row.
_Drawn = tuple[Alert, "Incident | None", list[MuteReason], bool, Row]
_NOT_MUTED: list[MuteReason] = []
_DRAWN: weakref.WeakKeyDictionary[Runtime, dict[str, _Drawn]] = weakref.WeakKeyDictionary()


async def rows(rt: Runtime, matchers: Sequence[Matcher], now: float) -> list[Row]:
    """Every alert held that ``matchers`` match, whatever its state."""
    pacer = Pacer()
    out = []
    before = _DRAWN.get(rt, {})
    drawn: dict[str, _Drawn] = {}
    reasons_of = muting.muter(rt, now)
    for alert in list(rt.alerts):  # a copy: ingest changes the alerts while this pauses
        await pacer.tick()
        if not matches_all(matchers, alert.labels):
            continue
        fp = alert.fingerprint
        inc = rt.lifecycle.get(fp)
        resolved = alert.resolved(now)
        reasons = _NOT_MUTED if resolved else reasons_of(alert)
        last = before.get(fp)
        if last is not None and last[0] is alert and last[1] is inc and last[2] is reasons \
                and last[3] == resolved:
            drawn[fp] = last
        else:
            drawn[fp] = (alert, inc, reasons, resolved, _row(alert, inc, reasons, now))
        out.append(drawn[fp][4])
    if not matchers or len(before) > 2 * len(drawn) + 1000:  # the whole list, or too many gone
        _DRAWN[rt] = drawn
    else:
        before.update(drawn)
        _DRAWN[rt] = before
    return out


def sort_rows(items: list[Row], sort: str) -> list[Row]:
    if sort == "started":
        return sorted(items, key=lambda r: (-r.starts_at, r.name, r.fingerprint))
    return sorted(items, key=lambda r: (-r.rank, -r.starts_at, r.name, r.fingerprint))


def _by_labels(items: Iterable[Row], group_by: Sequence[str]) -> list[Group]:
    names = list(dict.fromkeys(group_by))
    keyed: dict[tuple[str, ...], Group] = {}
    for r in items:
        labels = r.labels
        key = tuple([labels.get(name, "") for name in names])
        g = keyed.get(key)
        if g is None:
            g = keyed[key] = Group(dict(zip(names, key, strict=True)), "")
        g.rows.append(r)
    return list(keyed.values())


def _by_route(rt: Runtime, by_fp: dict[str, Row]) -> list[Group]:
    groups: list[Group] = []
    placed: set[str] = set()
    for aggr in list(rt.dispatcher.groups.values()):
        members = [by_fp[fp] for fp in list(aggr.alerts) if fp in by_fp]
        if members:
            groups.append(Group(dict(aggr.labels), aggr.route.receiver, members))
            placed.update(r.fingerprint for r in members)
    rest = [r for fp, r in by_fp.items() if fp not in placed]
    if rest:  # not routed yet, or resolved and out of their groups
        groups.append(Group({}, "", rest))
    return groups


def _group_key(ungrouped_last: bool) -> Callable[[Group], tuple[object, ...]]:
    def key(g: Group) -> tuple[object, ...]:
        rank = max([r.rank for r in g.rows]) if len(g.rows) > 1 else g.rows[0].rank
        labels = g.labels
        # sorted(labels.items()), without sorting a group of one label
        pairs = sorted(labels.items()) if len(labels) > 1 else list(labels.items())
        return (ungrouped_last and g.receiver == "", -rank, pairs, g.receiver)
    return key


#: The last grouping by labels: (group_by, sort, its rows, its groups). The same rows (the
#: very same objects: nothing changed) in the same groups make the same groups.
_GROUPED: weakref.WeakKeyDictionary[Runtime, tuple[tuple[str, ...], str, list[Row], list[Group]]] = \
    weakref.WeakKeyDictionary()


def group_rows(rt: Runtime, items: Iterable[Row], group_by: Sequence[str], sort: str) -> list[Group]:
    """The rows in groups, each group's rows sorted; no more than :data:`MAX_ROWS` drawn.
    The answer is not to be changed (the next request with the same rows may get it)."""
    if not group_by:
        return _drawn(_by_route(rt, {r.fingerprint: r for r in items}), sort, True)
    given = list(items)
    last = _GROUPED.get(rt)
    if last is not None and last[:2] == (tuple(group_by), sort) and len(last[2]) == len(given) \
            and all(a is b for a, b in zip(last[2], given, strict=True)):
        return last[3]
    groups = _drawn(_by_labels({r.fingerprint: r for r in given}.values(), group_by), sort, False)
    _GROUPED[rt] = (tuple(group_by), sort, given, groups)
    return groups


def _drawn(groups: list[Group], sort: str, ungrouped_last: bool) -> list[Group]:
    # Most severe first; a group's rows are sorted only when some are drawn (in a storm
    # of one-alert groups, most are only counted).
    groups.sort(key=_group_key(ungrouped_last))
    budget = MAX_ROWS
    for g in groups:
        if budget == 0:
            g.hidden = len(g.rows)
            continue
        g.rows = sort_rows(g.rows, sort)
        if len(g.rows) > budget:
            g.hidden = len(g.rows) - budget
        budget = max(0, budget - len(g.rows))
    return groups
