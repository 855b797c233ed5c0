"""The stats page, ``/stats``: incident history drawn as charts.

``window`` is the days looked back over (1, 7, 30 or 90; default 7), ``tz`` the time
zone of the heatmap and of the days (default UTC). The window ends at the end of the
current hour, so its hours are the clock's. Drawn: incidents fired per hour; a heatmap
by hour of the week; MTTA and MTTR per day (per hour for a one-day window); the
noisiest and the flapping alerts; delivery success per receiver, over time and in
total. The series are the store's bucketed queries (:mod:`tocsin.store.series`) and
what ``tocsin stats`` computes (:func:`tocsin.incidents.stats.compute_stats`).

The time series are embedded in the page as JSON and drawn by ``static/charts.js``
with uPlot; a ``<noscript>`` table stands in for each without JavaScript. The heatmap
and the bar charts are plain HTML.
"""

from __future__ import annotations

import math
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from tocsin.core.routes import HTTPRoute
from tocsin.incidents.stats import Stats, compute_stats, humanize_duration
from tocsin.store import IncidentQuery
from tocsin.web.dashboard import charts
from tocsin.web.dashboard.charts import HOUR
from tocsin.web.dashboard.render import page
from tocsin.web.keys import RUNTIME

__all__ = ["WINDOWS", "routes"]

#: The windows offered, in days.
WINDOWS = (1, 7, 30, 90)
DEFAULT_WINDOW = 7
DAY = 86400.0
#: Flapping: more firings than this in an hour (as ``tocsin stats``' default).
FLAP_THRESHOLD = 3
TOP = 10


def _params(request: web.Request) -> tuple[int, str, ZoneInfo] | str:
    """(days, tz name, zone), or why they are not valid."""
    raw = request.query.get("window", str(DEFAULT_WINDOW))
    if not raw.isdigit() or int(raw) not in WINDOWS:
        return f"window: one of {', '.join(map(str, WINDOWS))} days, got {raw[:40]!r}"
    tz = request.query.get("tz", "UTC").strip() or "UTC"
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"tz: unknown time zone {tz[:60]!r}"
    return int(raw), tz, zone


def _bars(stats: Stats) -> dict[str, list[charts.Bar]]:
    def labels(d: dict[str, str]) -> str:
        return ", ".join(f'{k}="{v}"' for k, v in sorted(d.items()) if k != "alertname")

    noisy = charts.bars((n.alertname or "-", n.firings,
                         f"{_plural(n.firings, 'firing')}, {_plural(n.occurrences, 'post')}",
                         labels(n.labels)) for n in stats.noisiest)
    flapping = charts.bars((f.alertname or "-", f.max_per_hour,
                            f"{f.max_per_hour} in an hour, {f.firings} in all", labels(f.labels))
                           for f in stats.flapping[:TOP])
    delivery = charts.bars(
        ((r.receiver, 100.0 * r.sent / (r.sent + r.failed) if r.sent + r.failed else 0.0,
          f"{_percent(r.sent, r.failed)} of {r.sent + r.failed} ({r.failed} failed)", "")
         for r in stats.notifications), most=100.0)
    return {"noisiest": noisy, "flapping": flapping, "delivery": delivery}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _percent(sent: int, failed: int) -> str:
    total = sent + failed
    return f"{100.0 * sent / total:.1f}%" if total else "-"


async def _series(request: web.Request, days: int, zone: ZoneInfo, until: float) -> dict[str, Any]:
    """The charts' data: per hour, MTTA/MTTR over time, delivery over time, the heatmap."""
    store = request.app[RUNTIME].store
    since = until - days * DAY
    hourly = await store.incident_buckets(since, until, HOUR)
    xs, counts = charts.hourly_counts(hourly, since, days * 24)
    daily = days > 1
    starts, mtta, mttr = charts.response_series(hourly, since, until, zone, daily=daily)
    width = DAY if days > 7 else HOUR
    attempts = await store.attempt_buckets(since, until, width)
    dx, success = charts.delivery_series(attempts, since, width, int(days * DAY / width))
    return {
        "per_hour": {"x": xs, "series": [{"label": "incidents", "values": counts}], "kind": "bars"},
        "response": {"x": starts, "unit": "duration", "series": [
            {"label": "MTTA", "values": mtta}, {"label": "MTTR", "values": mttr}]},
        "delivery": {"x": dx, "unit": "percent", "series": [
            {"label": name, "values": values} for name, values in success.items()]},
        "heatmap": charts.hour_of_week(hourly, since, zone),
        "response_rows": [(s, m, r) for s, m, r in zip(starts, mtta, mttr, strict=True)
                          if m is not None or r is not None],
        "period": "day" if daily else "hour",
    }


async def stats_page(request: web.Request) -> web.Response:
    params = _params(request)
    if isinstance(params, str):
        return page(request, "stats.html", "stats", status=400, error=params, windows=WINDOWS,
                    window=DEFAULT_WINDOW, tz="UTC")
    days, tz, zone = params
    rt = request.app[RUNTIME]
    until = (math.floor(rt.clock.now() / HOUR) + 1) * HOUR
    since = until - days * DAY
    incidents = await rt.store.query_incidents(IncidentQuery(since=since, until=until))
    attempts = await rt.store.attempt_counts(since, until)
    stats = compute_stats(incidents, attempts, now=until, days=days, flap_threshold=FLAP_THRESHOLD,
                          top=TOP, tz=tz)
    series = await _series(request, days, zone, until)
    chart_data = {"tz": tz, **{k: series[k] for k in ("per_hour", "response", "delivery")}}
    return page(request, "stats.html", "stats", error="", windows=WINDOWS, window=days, tz=tz,
                stats=stats, bars=_bars(stats), heatmap=series["heatmap"], weekdays=charts.WEEKDAYS,
                response_rows=series["response_rows"], period=series["period"],
                chart_json=charts.embed(chart_data), duration=humanize_duration,
                percent=_percent)


def routes() -> list[HTTPRoute]:
    return [HTTPRoute("GET", "/stats", stats_page, access="read",
                      summary="Dashboard: incident and delivery statistics as charts")]
