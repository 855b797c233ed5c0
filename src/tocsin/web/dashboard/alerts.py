"""The alert list: ``/`` and ``/alerts``, its live part, and the filter's completions.

``/alerts`` takes ``filter`` (Alertmanager matchers: ``severity="critical" instance=~"db.*"``),
``state`` (repeatable; default: every state but resolved), ``group_by`` (label names,
comma separated; default: the routing tree's groups) and ``sort`` (``severity`` or
``started``). ``partial=1`` answers the list alone, which the page's script swaps in when
the event stream says something changed. ``/`` is the same list; its script also sends
the Alertmanager UI's links (``/#/silences/new?filter=...``) to their page here.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

from aiohttp import web

from tocsin.core.matchers import Matcher, MatcherError
from tocsin.core.models import Alert
from tocsin.core.routes import HTTPRoute
from tocsin.web.dashboard import alertview, filtertext
from tocsin.web.dashboard.render import fragment, page
from tocsin.web.keys import RUNTIME

__all__ = ["routes"]

DEFAULT_STATES = ("firing", "acknowledged", "silenced", "inhibited")
MAX_COMPLETIONS = 40
_OPERATORS = ("!~", "=~", "!=", "=")


def _query(request: web.Request) -> tuple[str, list[Matcher] | str, list[str], list[str], str]:
    """(filter text, its matchers or why not, states, group_by, sort)."""
    text = filtertext.join(request.query.getall("filter", []))
    try:
        matchers: list[Matcher] | str = filtertext.parse(text)
    except MatcherError as exc:
        matchers = str(exc)
    states = [s for v in request.query.getall("state", []) for s in v.split(",")
              if s in alertview.STATES] or list(DEFAULT_STATES)
    group_by = [g.strip() for v in request.query.getall("group_by", []) for g in v.split(",") if g.strip()]
    sort = request.query.get("sort", "severity")
    return text, matchers, states, group_by, sort if sort in alertview.SORTS else "severity"


def _link(text: str, states: list[str], group_by: list[str], sort: str, **extra: str) -> str:
    params: list[tuple[str, str]] = [("filter", text)] if text else []
    params += [("state", s) for s in states]
    if group_by:
        params.append(("group_by", ",".join(group_by)))
    params.append(("sort", sort))
    params += list(extra.items())
    return "/alerts?" + urlencode(params)


async def alert_list(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    text, matchers, states, group_by, sort = _query(request)
    partial = request.query.get("partial") == "1"
    template = "_alert_list.html" if partial else "alerts.html"
    render = (lambda **c: fragment(request, template, **c)) if partial else \
        (lambda **c: page(request, template, "alerts", **c))
    if isinstance(matchers, str):
        return render(status=400, error=matchers, filter_text=text, states=states, group_by=group_by,
                      sort=sort, groups=[], counts=dict.fromkeys(alertview.STATES, 0), chips=[],
                      more_groups=0, more_alerts=0,
                      live_url="", page_url="/alerts", total=0)
    now = rt.clock.now()
    every = await alertview.rows(rt, matchers, now)
    counts = dict.fromkeys(alertview.STATES, 0)
    for r in every:
        counts[r.state] += 1
    shown = [r for r in every if r.state in states]
    groups = alertview.group_rows(rt, shown, group_by, sort)
    drawn = [g for g in groups if g.shown]  # past the limit, groups are only counted
    chips = []
    for s in alertview.STATES:
        toggled = [x for x in states if x != s] if s in states else [*states, s]
        chips.append({"state": s, "count": counts[s], "on": s in states,
                      "href": _link(text, toggled or [s], group_by, sort)})
    return render(error="", filter_text=text, states=states, group_by=group_by, sort=sort,
                  groups=drawn, counts=counts, chips=chips, total=len(shown),
                  more_groups=len(groups) - len(drawn),
                  more_alerts=sum(len(g.rows) for g in groups if not g.shown),
                  live_url=_link(text, states, group_by, sort, partial="1"),
                  page_url=_link(text, states, group_by, sort),
                  sort_links={s: _link(text, states, group_by, s) for s in alertview.SORTS})


def _split_last(text: str) -> tuple[str, str]:
    """(the matchers before the last one, the last one as typed so far)."""
    parts = filtertext.tokens(text)
    if not parts or text.endswith((" ", ",")):
        return text, ""
    return text[:text.rfind(parts[-1])], parts[-1]


def completions(held: Iterable[Alert], text: str) -> list[str]:
    """Whole filter texts completing the last matcher of ``text``: a label name, or a
    value of the named label among the alerts held."""
    alerts = list(held)
    head, last = _split_last(text)
    sep = "" if not head or head.endswith((" ", ",")) else " "
    for op in _OPERATORS:
        name, found, partial = last.partition(op)
        if found and name.strip():
            name = name.strip()
            partial = partial.strip().strip('"')
            values = sorted({a.labels[name] for a in alerts if name in a.labels
                             and a.labels[name].startswith(partial)})
            quoted = [v.replace("\\", "\\\\").replace('"', '\\"') for v in values[:MAX_COMPLETIONS]]
            return [f'{head}{sep}{name}{op}"{q}"' for q in quoted]
    names = sorted({n for a in alerts for n in a.labels if n.startswith(last.strip())})
    return [f"{head}{sep}{n}=" for n in names[:MAX_COMPLETIONS]]


async def complete(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    text = request.query.get("filter", "")[:2000]
    return fragment(request, "_completions.html", options=completions(list(rt.alerts), text))


def routes() -> list[HTTPRoute]:
    return [
        HTTPRoute("GET", "/", alert_list, access="read", summary="The dashboard: the alert list"),
        HTTPRoute("GET", "/alerts", alert_list, access="read", summary="The alert list"),
        HTTPRoute("GET", "/alerts/complete", complete, access="read",
                  summary="Completions of the alert filter"),
    ]
