"""Alert statistics over a window of incident history, for ``tocsin stats`` and the API.

:func:`compute_stats` turns the incidents that fired in a window, and the
delivery attempt counts of the same window, into a :class:`Stats` struct:
volumes by alert name, severity, hour of day and day, response times
(time to acknowledge and to resolve), flapping and noisy alerts,
notifications per receiver, and how well each remediation works (given its
runs). :func:`render_stats` prints it as text tables.

Both are pure: the caller reads the store and the clock and passes ``now``.
Every struct here encodes to JSON with msgspec as is.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from tocsin.core.records import RemediationRun
from tocsin.core.timefmt import format_ts
from tocsin.incidents.plan import RESOLVED, Incident
from tocsin.incidents.runstats import RemediationStats, remediation_stats
from tocsin.store import AttemptCount

__all__ = [
    "DayCount", "FlappingAlert", "IntegrationNotifications", "NameCount", "NoisyAlert",
    "ReceiverNotifications", "RemediationStats", "ResponseTimes", "Stats", "compute_stats",
    "humanize_duration", "render_stats",
]

DAY = 86400.0
#: The sliding window flapping is counted in, in seconds.
FLAP_WINDOW = 3600.0
#: Width of the longest bar in the hour-of-day and per-day tables.
BAR_WIDTH = 40
#: Group name of incidents without a label ("severity" or "alertname").
NO_LABEL = "none"


class NameCount(msgspec.Struct, kw_only=True):
    name: str
    count: int


class DayCount(msgspec.Struct, kw_only=True):
    #: ``YYYY-MM-DD`` in the stats' time zone.
    date: str
    count: int


class ResponseTimes(msgspec.Struct, kw_only=True):
    """Count, mean and nearest-rank percentiles of durations in seconds; None when count is 0."""

    count: int = 0
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None


class FlappingAlert(msgspec.Struct, kw_only=True):
    fingerprint: str
    alertname: str
    labels: dict[str, str]
    #: Most firings in any 60-minute sliding window.
    max_per_hour: int
    #: Firings in the whole stats window.
    firings: int


class NoisyAlert(msgspec.Struct, kw_only=True):
    fingerprint: str
    alertname: str
    labels: dict[str, str]
    #: Incidents (firing runs) in the window.
    firings: int
    #: Posts of the alert, summed over those incidents.
    occurrences: int


class IntegrationNotifications(msgspec.Struct, kw_only=True):
    integration: str
    sent: int
    failed: int


class ReceiverNotifications(msgspec.Struct, kw_only=True):
    receiver: str
    sent: int
    failed: int
    integrations: list[IntegrationNotifications]


class Stats(msgspec.Struct, kw_only=True):
    """Statistics of the incidents that fired in ``[since, until)``."""

    since: str
    until: str
    days: int
    tz: str
    total: int
    open: int
    acknowledged: int
    resolved: int
    by_alertname: list[NameCount]
    by_severity: list[NameCount]
    #: Incidents by hour of day (0..23) of their firing, in ``tz``.
    hourly: list[int]
    peak_hour: int | None
    peak_hour_count: int
    #: Every calendar date (in ``tz``) the window touches, oldest first.
    daily: list[DayCount]
    mtta: ResponseTimes
    mttr: ResponseTimes
    flap_threshold: int
    flapping: list[FlappingAlert]
    noisiest: list[NoisyAlert]
    notifications: list[ReceiverNotifications]
    notifications_sent: int
    notifications_failed: int
    #: Per remediation, the runs made in the window.
    remediations: list[RemediationStats] = []


# -- computing ---------------------------------------------------------------------------


def compute_stats(
    incidents: Sequence[Incident],
    attempts: Sequence[AttemptCount],
    *,
    now: float,
    days: int,
    flap_threshold: int = 3,
    top: int = 10,
    tz: str = "UTC",
    runs: Sequence[RemediationRun] = (),
) -> Stats:
    """Statistics of the incidents that fired in ``[now - days*86400, now)``.

    ``incidents`` outside the window are ignored; ``attempts`` are taken as
    already limited to it; of ``runs``, those made in the window count. Raises
    ValueError for an unknown time zone or a window of less than a day.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if flap_threshold < 1:
        raise ValueError(f"flap_threshold must be at least 1, got {flap_threshold}")
    if top < 0:
        raise ValueError(f"top must not be negative, got {top}")
    zone = _zone(tz)
    since = now - days * DAY
    window = [inc for inc in incidents if since <= inc.fired_at < now]
    hourly = _hourly(window, zone)
    peak = max(range(24), key=lambda h: (hourly[h], -h)) if window else None
    receivers = _notifications(attempts)
    return Stats(
        since=format_ts(since),
        until=format_ts(now),
        days=days,
        tz=tz,
        total=len(window),
        open=sum(1 for inc in window if inc.state != RESOLVED),
        acknowledged=sum(1 for inc in window if inc.acknowledged_at > 0),
        resolved=sum(1 for inc in window if inc.state == RESOLVED),
        by_alertname=_count_by(window, lambda inc: inc.alertname),
        by_severity=_count_by(window, lambda inc: inc.severity),
        hourly=hourly,
        peak_hour=peak,
        peak_hour_count=hourly[peak] if peak is not None else 0,
        daily=_daily(window, zone, since, now),
        mtta=response_times(inc.acknowledged_at - inc.fired_at for inc in window
                            if inc.acknowledged_at > 0),
        mttr=response_times(inc.resolved_at - inc.fired_at for inc in window
                            if inc.state == RESOLVED and inc.resolved_at > 0),
        flap_threshold=flap_threshold,
        flapping=_flapping(window, flap_threshold),
        noisiest=_noisiest(window, top),
        notifications=receivers,
        notifications_sent=sum(r.sent for r in receivers),
        notifications_failed=sum(r.failed for r in receivers),
        remediations=remediation_stats(runs, incidents, since=since, until=now),
    )


def _zone(tz: str) -> tzinfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {tz!r}") from None


def _count_by(incidents: Iterable[Incident], key: Callable[[Incident], str]) -> list[NameCount]:
    counts = Counter(key(inc) or NO_LABEL for inc in incidents)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [NameCount(name=name, count=n) for name, n in ordered]


def _hourly(incidents: Iterable[Incident], zone: tzinfo) -> list[int]:
    hours = [0] * 24
    for inc in incidents:
        hours[datetime.fromtimestamp(inc.fired_at, zone).hour] += 1
    return hours


def _local_date(ts: float, zone: tzinfo) -> date:
    return datetime.fromtimestamp(ts, zone).date()


def _daily(incidents: Iterable[Incident], zone: tzinfo, since: float, until: float) -> list[DayCount]:
    counts = Counter(_local_date(inc.fired_at, zone) for inc in incidents)
    first = _local_date(since, zone)
    end = datetime.fromtimestamp(until, zone)
    last = end.date()
    if end.time() == datetime.min.time() and last > first:
        last -= timedelta(days=1)  # the window ends at midnight: that day is not in it
    out = []
    day = first
    while day <= last:
        out.append(DayCount(date=day.isoformat(), count=counts.get(day, 0)))
        day += timedelta(days=1)
    return out


def nearest_rank(ordered: Sequence[float], percent: int) -> float:
    """The ``percent``-th percentile of sorted, non-empty values by the nearest-rank method."""
    rank = max(1, -(-percent * len(ordered) // 100))  # ceil(percent/100 * n), in integers
    return ordered[rank - 1]


def response_times(durations: Iterable[float]) -> ResponseTimes:
    """Count, mean, p50 and p90 of durations (negative ones, from clock skew, count as 0)."""
    ordered = sorted(max(0.0, d) for d in durations)
    if not ordered:
        return ResponseTimes()
    return ResponseTimes(count=len(ordered), mean=math.fsum(ordered) / len(ordered),
                         p50=nearest_rank(ordered, 50), p90=nearest_rank(ordered, 90))


def _by_fingerprint(incidents: Iterable[Incident]) -> dict[str, list[Incident]]:
    """Incidents per fingerprint, each list by firing time."""
    groups: defaultdict[str, list[Incident]] = defaultdict(list)
    for inc in incidents:
        groups[inc.fingerprint].append(inc)
    for group in groups.values():
        group.sort(key=lambda inc: (inc.fired_at, inc.id))
    return groups


def max_in_window(times: Sequence[float], width: float = FLAP_WINDOW) -> int:
    """Most of the sorted ``times`` in any window ``[t, t + width)``."""
    best = 0
    start = 0
    for end, t in enumerate(times):
        while times[start] <= t - width:
            start += 1
        best = max(best, end - start + 1)
    return best


def _flapping(incidents: Iterable[Incident], threshold: int) -> list[FlappingAlert]:
    out = []
    for fp, group in _by_fingerprint(incidents).items():
        most = max_in_window([inc.fired_at for inc in group])
        if most > threshold:
            latest = group[-1]
            out.append(FlappingAlert(fingerprint=fp, alertname=latest.alertname, labels=dict(latest.labels),
                                     max_per_hour=most, firings=len(group)))
    out.sort(key=lambda f: (-f.max_per_hour, -f.firings, f.fingerprint))
    return out


def _noisiest(incidents: Iterable[Incident], top: int) -> list[NoisyAlert]:
    out = []
    for fp, group in _by_fingerprint(incidents).items():
        latest = group[-1]
        out.append(NoisyAlert(fingerprint=fp, alertname=latest.alertname, labels=dict(latest.labels),
                              firings=len(group), occurrences=sum(inc.occurrences for inc in group)))
    out.sort(key=lambda n: (-n.firings, -n.occurrences, n.fingerprint))
    return out[:top]


def _notifications(attempts: Iterable[AttemptCount]) -> list[ReceiverNotifications]:
    sums: defaultdict[str, defaultdict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for a in attempts:
        pair = sums[a.receiver][a.integration]
        pair[0] += a.sent
        pair[1] += a.failed
    out = []
    for receiver in sorted(sums):
        integrations = [IntegrationNotifications(integration=name, sent=s, failed=f)
                        for name, (s, f) in sorted(sums[receiver].items())]
        out.append(ReceiverNotifications(receiver=receiver, sent=sum(i.sent for i in integrations),
                                         failed=sum(i.failed for i in integrations),
                                         integrations=integrations))
    return out


# -- rendering ---------------------------------------------------------------------------


def humanize_duration(seconds: float | None) -> str:
    """``45s``, ``4m 30s``, ``1h 02m``, ``2d 3h`` (lower units truncated); None is ``-``."""
    if seconds is None:
        return "-"
    total = int(max(0.0, seconds) + 0.5)
    d, rest = divmod(total, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m:02d}m"
    if m:
        return f"{m}m {s:02d}s"
    return f"{s}s"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Iterable[int] = (),
           indent: str = "  ") -> list[str]:
    """Rows under a header, columns two spaces apart, the ``right`` ones right-aligned."""
    aligned = set(right)
    lines = [header, *rows]
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    out = []
    for r in lines:
        cells = [c.rjust(w) if i in aligned else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def _bar(count: int, most: int) -> str:
    if count <= 0 or most <= 0:
        return ""
    return "#" * max(1, (2 * count * BAR_WIDTH + most) // (2 * most))  # rounded half up


def _labels_text(labels: dict[str, str]) -> str:
    """Labels but the alert name, as ``{k="v", ...}``."""
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "alertname") + "}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _header(stats: Stats) -> list[str]:
    return [
        f"Incidents from {stats.since} to {stats.until} ({_plural(stats.days, 'day')}, {stats.tz})",
        f"Total {stats.total}: {stats.open} open, {stats.acknowledged} acknowledged, "
        f"{stats.resolved} resolved",
        f"Notifications: {stats.notifications_sent} sent, {stats.notifications_failed} failed",
    ]


def _counts_section(title: str, column: str, counts: Sequence[NameCount]) -> list[str]:
    if not counts:
        return [title, "  (none)"]
    rows = [(c.name, str(c.count)) for c in counts]
    return [title, *_table((column, "COUNT"), rows, right=(1,))]


def _hourly_section(stats: Stats) -> list[str]:
    title = f"Hour of day ({stats.tz})"
    if stats.peak_hour is None:
        return [title, "  (none)"]
    most = stats.peak_hour_count
    rows = [(f"{h:02d}", str(n), _bar(n, most) + ("  <- peak" if h == stats.peak_hour else ""))
            for h, n in enumerate(stats.hourly)]
    return [title, *_table(("HOUR", "COUNT", ""), rows, right=(1,))]


def _daily_section(stats: Stats) -> list[str]:
    title = f"By day ({stats.tz})"
    if not stats.total:
        return [title, "  (none)"]
    most = max(d.count for d in stats.daily)
    rows = [(d.date, str(d.count), _bar(d.count, most)) for d in stats.daily]
    return [title, *_table(("DATE", "COUNT", ""), rows, right=(1,))]


def _response_section(stats: Stats) -> list[str]:
    title = "Response times"
    if not stats.mtta.count and not stats.mttr.count:
        return [title, "  (none)"]
    rows = [(name, str(t.count), humanize_duration(t.mean), humanize_duration(t.p50),
             humanize_duration(t.p90))
            for name, t in (("MTTA", stats.mtta), ("MTTR", stats.mttr))]
    return [title, *_table(("", "COUNT", "MEAN", "P50", "P90"), rows, right=(1, 2, 3, 4))]


def _flapping_section(stats: Stats) -> list[str]:
    title = f"Flapping (more than {_plural(stats.flap_threshold, 'firing')} in an hour)"
    if not stats.flapping:
        return [title, "  (none)"]
    rows = [(f.alertname or "-", f.fingerprint, str(f.max_per_hour), str(f.firings), _labels_text(f.labels))
            for f in stats.flapping]
    return [title, *_table(("ALERTNAME", "FINGERPRINT", "MAX/HOUR", "FIRINGS", "LABELS"), rows,
                           right=(2, 3))]


def _noisiest_section(stats: Stats) -> list[str]:
    title = "Noisiest alerts"
    if not stats.noisiest:
        return [title, "  (none)"]
    rows = [(n.alertname or "-", n.fingerprint, str(n.firings), str(n.occurrences), _labels_text(n.labels))
            for n in stats.noisiest]
    return [title, *_table(("ALERTNAME", "FINGERPRINT", "FIRINGS", "OCCURRENCES", "LABELS"), rows,
                           right=(2, 3))]


def _notifications_section(stats: Stats) -> list[str]:
    title = "Notifications per receiver"
    if not stats.notifications:
        return [title, "  (none)"]
    rows: list[tuple[str, str, str]] = []
    for r in stats.notifications:
        rows.append((r.receiver, str(r.sent), str(r.failed)))
        rows.extend((f"  {i.integration}", str(i.sent), str(i.failed)) for i in r.integrations)
    rows.append(("total", str(stats.notifications_sent), str(stats.notifications_failed)))
    return [title, *_table(("RECEIVER", "SENT", "FAILED"), rows, right=(1, 2))]


def _remediations_section(stats: Stats) -> list[str]:
    title = "Remediations"
    if not stats.remediations:
        return [title, "  (none)"]
    rows = [(r.remediation, str(r.runs), str(r.succeeded), str(r.resolved_in_window), str(r.ineffective),
             humanize_duration(r.median_time_to_resolve)) for r in stats.remediations]
    return [title, *_table(("REMEDIATION", "RUNS", "SUCCEEDED", "RESOLVED IN WINDOW", "INEFFECTIVE",
                            "MEDIAN TO RESOLVE"), rows, right=(1, 2, 3, 4, 5))]


def render_stats(stats: Stats) -> str:
    """The statistics as text tables, one section after another; ends with a newline."""
    sections = [
        _header(stats),
        _counts_section("By alertname", "ALERTNAME", stats.by_alertname),
        _counts_section("By severity", "SEVERITY", stats.by_severity),
        _hourly_section(stats),
        _daily_section(stats),
        _response_section(stats),
        _flapping_section(stats),
        _noisiest_section(stats),
        _notifications_section(stats),
        _remediations_section(stats),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"
