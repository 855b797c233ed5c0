"""tocsin.incidents.stats: figures of a hand-built incident history, and their rendering."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import msgspec
import pytest

from tocsin.core.records import RemediationRun
from tocsin.incidents.plan import ACKNOWLEDGED, FIRING, RESOLVED, Incident
from tocsin.incidents.stats import (
    DayCount,
    FlappingAlert,
    IntegrationNotifications,
    NameCount,
    NoisyAlert,
    ReceiverNotifications,
    RemediationStats,
    ResponseTimes,
    Stats,
    compute_stats,
    humanize_duration,
    max_in_window,
    nearest_rank,
    render_stats,
    response_times,
)
from tocsin.store import AttemptCount

H = 3600.0
DAY = 86400.0
#: 2024-05-01T00:00:00Z: New York is on EDT (UTC-4) all through the window.
BASE = datetime(2024, 5, 1, tzinfo=UTC).timestamp()
NOW = BASE + 3 * DAY


def incident(
    id: str, fp: str, alertname: str, severity: str | None, fired_at: float, *,
    ack: float | None = None, res: float | None = None, occurrences: int = 1, **labels: str,
) -> Incident:
    """An incident acknowledged ``ack`` and resolved ``res`` seconds after it fired."""
    all_labels = {"alertname": alertname, **({"severity": severity} if severity else {}), **labels}
    state = RESOLVED if res is not None else ACKNOWLEDGED if ack is not None else FIRING
    return Incident(
        id=id, fingerprint=fp, labels=all_labels, state=state, fired_at=fired_at, last_seen=fired_at,
        occurrences=occurrences,
        acknowledged_at=fired_at + ack if ack is not None else 0.0,
        acknowledged_by="alice" if ack is not None else "",
        resolved_at=fired_at + res if res is not None else 0.0,
        resolution="resolved" if res is not None else "",
    )


def history() -> list[Incident]:
    """12 incidents in [BASE, NOW), and two just outside it."""
    day1, day2, day3 = BASE, BASE + DAY, BASE + 2 * DAY
    flaps = [  # fires 5 times in 40 minutes, resolved after 1..5 minutes
        incident(f"lat{i}", "fp-lat", "HighLatency", "warning", day1 + 14 * H + 600 * i, res=60.0 * (i + 1),
                 service="api")
        for i in range(5)
    ]
    return [
        *flaps,
        incident("d1", "fp-disk", "DiskFull", "critical", day1 + 3 * H, ack=120, res=3600, occurrences=4,
                 instance="db1"),
        incident("d2", "fp-disk", "DiskFull", "critical", day2 + 3.5 * H, ack=300, res=7200, occurrences=2,
                 instance="db1"),
        incident("d3", "fp-disk2", "DiskFull", "critical", day2 + 14.25 * H, ack=60, res=1800,
                 occurrences=10, instance="db2"),
        incident("i1", "fp-down", "InstanceDown", "critical", day2 + 22 * H, ack=600, res=5400,
                 instance="web1"),
        incident("i2", "fp-down", "InstanceDown", "critical", day3 + 9 * H, ack=900, occurrences=3,
                 instance="web1"),  # acknowledged, still open
        incident("c1", "fp-cert", "CertExpiry", None, day3 + 14 * H + 50 * 60, res=600),
        incident("w1", "fp-wd", "Watchdog", None, day3 + 14 * H + 5 * 60),  # firing, still open
        # Outside the window: filtered out although callers should not pass them.
        incident("old", "fp-old", "DiskFull", "critical", BASE - 1, occurrences=50),
        incident("new", "fp-new", "DiskFull", "critical", NOW, occurrences=50),
    ]


ATTEMPTS = [
    AttemptCount(receiver="ops", integration="slack", sent=12, failed=1),
    AttemptCount(receiver="ops", integration="email", sent=4, failed=0),
    AttemptCount(receiver="db-team", integration="webhook", sent=3, failed=2),
    AttemptCount(receiver="ops", integration="slack", sent=1, failed=0),  # another row: summed
]


@pytest.fixture
def stats() -> Stats:
    return compute_stats(history(), ATTEMPTS, now=NOW, days=3)


def test_window_and_totals(stats: Stats) -> None:
    assert (stats.since, stats.until) == ("2024-05-01T00:00:00.000Z", "2024-05-04T00:00:00.000Z")
    assert (stats.days, stats.tz) == (3, "UTC")
    assert (stats.total, stats.open, stats.acknowledged, stats.resolved) == (12, 2, 5, 10)


def test_by_alertname_and_severity(stats: Stats) -> None:
    assert stats.by_alertname == [
        NameCount(name="HighLatency", count=5),
        NameCount(name="DiskFull", count=3),
        NameCount(name="InstanceDown", count=2),
        NameCount(name="CertExpiry", count=1),
        NameCount(name="Watchdog", count=1),
    ]
    assert stats.by_severity == [
        NameCount(name="critical", count=5),
        NameCount(name="warning", count=5),
        NameCount(name="none", count=2),
    ]


def test_hourly_and_peak(stats: Stats) -> None:
    expected = [0] * 24
    expected[3], expected[9], expected[14], expected[22] = 2, 1, 8, 1
    assert stats.hourly == expected
    assert (stats.peak_hour, stats.peak_hour_count) == (14, 8)


def test_daily(stats: Stats) -> None:
    # The window ends at midnight UTC, so it holds exactly three UTC dates.
    assert stats.daily == [
        DayCount(date="2024-05-01", count=6),
        DayCount(date="2024-05-02", count=3),
        DayCount(date="2024-05-03", count=3),
    ]


def test_response_times(stats: Stats) -> None:
    # Acknowledged after 60, 120, 300, 600, 900 seconds.
    assert stats.mtta == ResponseTimes(count=5, mean=396.0, p50=300.0, p90=900.0)
    # Resolved after 60, 120, 180, 240, 300, 600, 1800, 3600, 5400, 7200 seconds.
    assert stats.mttr == ResponseTimes(count=10, mean=1950.0, p50=300.0, p90=5400.0)


def test_flapping(stats: Stats) -> None:
    assert stats.flap_threshold == 3
    assert stats.flapping == [
        FlappingAlert(fingerprint="fp-lat", alertname="HighLatency",
                      labels={"alertname": "HighLatency", "severity": "warning", "service": "api"},
                      max_per_hour=5, firings=5),
    ]
    assert compute_stats(history(), [], now=NOW, days=3, flap_threshold=4).flapping[0].fingerprint == "fp-lat"
    assert compute_stats(history(), [], now=NOW, days=3, flap_threshold=5).flapping == []


def test_noisiest(stats: Stats) -> None:
    assert [(n.fingerprint, n.firings, n.occurrences) for n in stats.noisiest] == [
        ("fp-lat", 5, 5),
        ("fp-disk", 2, 6),  # ties on firings: more occurrences first
        ("fp-down", 2, 4),
        ("fp-disk2", 1, 10),
        ("fp-cert", 1, 1),  # ties on both: by fingerprint
        ("fp-wd", 1, 1),
    ]
    assert stats.noisiest[1] == NoisyAlert(
        fingerprint="fp-disk", alertname="DiskFull",
        labels={"alertname": "DiskFull", "severity": "critical", "instance": "db1"},
        firings=2, occurrences=6,
    )
    top3 = compute_stats(history(), [], now=NOW, days=3, top=3).noisiest
    assert [n.fingerprint for n in top3] == ["fp-lat", "fp-disk", "fp-down"]


def test_notifications(stats: Stats) -> None:
    assert stats.notifications == [
        ReceiverNotifications(receiver="db-team", sent=3, failed=2, integrations=[
            IntegrationNotifications(integration="webhook", sent=3, failed=2),
        ]),
        ReceiverNotifications(receiver="ops", sent=17, failed=1, integrations=[
            IntegrationNotifications(integration="email", sent=4, failed=0),
            IntegrationNotifications(integration="slack", sent=13, failed=1),
        ]),
    ]
    assert (stats.notifications_sent, stats.notifications_failed) == (20, 3)


def test_time_zone_shifts_hours_and_days(stats: Stats) -> None:
    ny = compute_stats(history(), ATTEMPTS, now=NOW, days=3, tz="America/New_York")
    assert ny.tz == "America/New_York"
    assert (ny.peak_hour, ny.peak_hour_count) == (10, 8)  # 14:00 UTC is 10:00 EDT
    assert ny.hourly == [stats.hourly[(h + 4) % 24] for h in range(24)]
    # The window now starts at 20:00 on April 30 and ends at 20:00 on May 3.
    assert ny.daily == [
        DayCount(date="2024-04-30", count=1),
        DayCount(date="2024-05-01", count=6),
        DayCount(date="2024-05-02", count=2),
        DayCount(date="2024-05-03", count=3),
    ]
    assert sum(d.count for d in ny.daily) == ny.total == stats.total
    # Nothing else depends on the time zone.
    same = msgspec.structs.replace(ny, tz="UTC", hourly=stats.hourly, peak_hour=14, daily=stats.daily)
    assert same == stats


def test_peak_hour_ties_go_to_the_earliest_hour() -> None:
    incs = [incident(f"x{i}", f"fp{i}", "A", "info", BASE + h * H) for i, h in enumerate((20, 7, 20, 7))]
    stats = compute_stats(incs, [], now=BASE + DAY, days=1)
    assert (stats.peak_hour, stats.peak_hour_count) == (7, 2)


def test_flapping_window_is_half_open_and_sorted() -> None:
    # fp-a fires every 20 minutes: never more than 3 within [t, t + 3600).
    incs = [incident(f"a{i}", "fp-a", "A", "info", BASE + 1200 * i) for i in range(4)]
    # fp-b fires 3 times within a minute, then 3 more times later in the day: 3 an hour, 6 in all.
    incs += [incident(f"b{i}", "fp-b", "B", "info", BASE + 5 * H + 20 * i) for i in range(3)]
    incs += [incident(f"b{i}", "fp-b", "B", "info", BASE + 10 * H + 20 * i) for i in range(3, 6)]
    # fp-c: 4 within an hour.
    incs += [incident(f"c{i}", "fp-c", "C", "info", BASE + 12 * H + 900 * i) for i in range(4)]
    stats = compute_stats(incs, [], now=BASE + DAY, days=1, flap_threshold=2)
    assert [(f.fingerprint, f.max_per_hour, f.firings) for f in stats.flapping] == [
        ("fp-c", 4, 4), ("fp-b", 3, 6), ("fp-a", 3, 4),
    ]
    assert compute_stats(incs, [], now=BASE + DAY, days=1).flapping[0].fingerprint == "fp-c"


def test_max_in_window() -> None:
    assert max_in_window([]) == 0
    assert max_in_window([0.0]) == 1
    assert max_in_window([0.0, 1200.0, 2400.0, 3600.0]) == 3
    assert max_in_window([0.0, 1200.0, 2400.0, 3599.0]) == 4


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 11)]
    assert nearest_rank(values, 90) == 9.0
    assert nearest_rank(values, 50) == 5.0
    assert nearest_rank(values, 100) == 10.0
    assert nearest_rank([7.0], 50) == nearest_rank([7.0], 90) == 7.0
    assert response_times([]) == ResponseTimes(count=0, mean=None, p50=None, p90=None)
    assert response_times([30.0, -5.0]) == ResponseTimes(count=2, mean=15.0, p50=0.0, p90=30.0)


def test_empty_history() -> None:
    stats = compute_stats([], [], now=NOW, days=2)
    assert (stats.total, stats.open, stats.acknowledged, stats.resolved) == (0, 0, 0, 0)
    assert stats.by_alertname == stats.by_severity == []
    assert stats.hourly == [0] * 24
    assert (stats.peak_hour, stats.peak_hour_count) == (None, 0)
    assert stats.daily == [DayCount(date="2024-05-02", count=0), DayCount(date="2024-05-03", count=0)]
    assert stats.mtta == stats.mttr == ResponseTimes(count=0, mean=None, p50=None, p90=None)
    assert stats.flapping == stats.noisiest == stats.notifications == []
    assert (stats.notifications_sent, stats.notifications_failed) == (0, 0)
    text = render_stats(stats)
    assert text.count("  (none)\n") == 9
    assert "Total 0: 0 open, 0 acknowledged, 0 resolved" in text


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "America", "../etc/passwd", "utc"])
def test_unknown_time_zone(tz: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(f'unknown time zone {tz!r}')}$"):
        compute_stats([], [], now=NOW, days=1, tz=tz)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"days": 0}, "days must be at least 1"),
    ({"days": 1, "flap_threshold": 0}, "flap_threshold must be at least 1"),
    ({"days": 1, "top": -1}, "top must not be negative"),
])
def test_bad_arguments(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_stats([], [], now=NOW, **kwargs)


def test_encodes_to_json(stats: Stats) -> None:
    data = msgspec.json.decode(msgspec.json.encode(stats))
    assert data["peak_hour"] == 14
    assert data["mtta"] == {"count": 5, "mean": 396.0, "p50": 300.0, "p90": 900.0}
    assert data["by_alertname"][0] == {"name": "HighLatency", "count": 5}
    assert data["notifications"][1]["integrations"][1] == {"integration": "slack", "sent": 13, "failed": 1}
    assert msgspec.json.decode(msgspec.json.encode(stats), type=Stats) == stats


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "-"),
    (0, "0s"),
    (0.4, "0s"),
    (-3, "0s"),
    (45, "45s"),
    (59.6, "1m 00s"),
    (270, "4m 30s"),
    (3600, "1h 00m"),
    (3720, "1h 02m"),
    (3 * H - 1, "2h 59m"),
    (DAY, "1d 0h"),
    (2 * DAY + 3 * H + 59 * 60, "2d 3h"),
])
def test_humanize_duration(seconds: float | None, text: str) -> None:
    assert humanize_duration(seconds) == text


GOLDEN = """\
Incidents from 2024-05-01T12:00:00.000Z to 2024-05-02T12:00:00.000Z (1 day, UTC)
Total 4: 1 open, 2 acknowledged, 3 resolved
Notifications: 6 sent, 1 failed

By alertname
  ALERTNAME  COUNT
  DiskFull       2
  HighLoad       1
  Watchdog       1

By severity
  SEVERITY  COUNT
  critical      2
  none          1
  warning       1

Hour of day (UTC)
  HOUR  COUNT
  00        0
  01        0
  02        1  ####################
  03        0
  04        0
  05        0
  06        0
  07        0
  08        0
  09        0
  10        0
  11        0
  12        0
  13        2  ########################################  <- peak
  14        0
  15        0
  16        0
  17        0
  18        0
  19        0
  20        0
  21        0
  22        0
  23        1  ####################

By day (UTC)
  DATE        COUNT
  2024-05-01      3  ########################################
  2024-05-02      1  #############

Response times
        COUNT     MEAN     P50     P90
  MTTA      2   3m 00s  1m 30s  4m 30s
  MTTR      3  46m 40s  1h 02m  1h 02m

Flapping (more than 1 firing in an hour)
  ALERTNAME  FINGERPRINT       MAX/HOUR  FIRINGS  LABELS
  DiskFull   4c7a1f0e9b2d3a55         2        2  {instance="db1", severity="critical"}

Noisiest alerts
  ALERTNAME  FINGERPRINT       FIRINGS  OCCURRENCES  LABELS
  DiskFull   4c7a1f0e9b2d3a55        2            4  {instance="db1", severity="critical"}
  HighLoad   0a0b0c0d0e0f1011        1            1  {severity="warning"}
  Watchdog   d4e5f60718293a4b        1            1  {}

Notifications per receiver
  RECEIVER   SENT  FAILED
  ops           6       1
    slack       4       1
    webhook     2       0
  total         6       1

Remediations
  REMEDIATION  RUNS  SUCCEEDED  RESOLVED IN WINDOW  INEFFECTIVE  MEDIAN TO RESOLVE
  restart         2          2                   1            1             1h 01m
"""


def test_render_golden() -> None:
    now = BASE + 1.5 * DAY  # 2024-05-02T12:00:00Z
    incs = [
        incident("a1", "4c7a1f0e9b2d3a55", "DiskFull", "critical", BASE + 13 * H, ack=270, res=3720,
                 occurrences=3, instance="db1"),
        incident("a2", "4c7a1f0e9b2d3a55", "DiskFull", "critical", BASE + 13 * H + 1200, ack=90, res=3720,
                 instance="db1"),
        incident("b1", "0a0b0c0d0e0f1011", "HighLoad", "warning", BASE + 23 * H, res=960),
        incident("c1", "d4e5f60718293a4b", "Watchdog", None, BASE + DAY + 2 * H),
    ]
    attempts = [
        AttemptCount(receiver="ops", integration="webhook", sent=2, failed=0),
        AttemptCount(receiver="ops", integration="slack", sent=4, failed=1),
    ]
    runs = [run("r1", "restart", "a1", BASE + 13 * H + 60, verdict="resolved"),
            run("r2", "restart", "a2", BASE + 13 * H + 1260, verdict="ineffective")]
    stats = compute_stats(incs, attempts, now=now, days=1, flap_threshold=1, top=5, runs=runs)
    assert render_stats(stats) == GOLDEN
    assert render_stats(stats) == render_stats(msgspec.json.decode(msgspec.json.encode(stats), type=Stats))


def run(id: str, remediation: str, alert_id: str, finished: float, *, state: str = "succeeded",
        verdict: str = "") -> RemediationRun:
    """A run made and finished at ``finished``."""
    return RemediationRun(id=id, remediation=remediation, kind="command", fingerprint="fp", alert_id=alert_id,
                          state=state, trigger="route /", created_at=finished, started_at=finished,
                          finished_at=finished, verdict=verdict)


def test_remediation_stats() -> None:
    t = BASE + 2 * DAY
    incs = [incident("i1", "fp", "AppDown", None, t, res=600),  # resolved 10m after it fired
            incident("i2", "fp", "AppDown", None, t + H, res=60),
            incident("i3", "fp", "AppDown", None, t + 2 * H, res=1800),
            incident("i4", "fp", "AppDown", None, t + 3 * H)]  # still firing
    runs = [
        run("a", "restart", "i1", t + 120, verdict="resolved"),  # resolved 8m after the run
        run("b", "restart", "i2", t + H + 30, verdict="resolved"),  # 30s after
        run("c", "restart", "i3", t + 2 * H + 60, verdict="ineffective"),  # 29m after, too late
        run("d", "restart", "i4", t + 3 * H + 60, verdict="ineffective"),
        run("e", "restart", "i4", t + 3 * H + 90, state="failed"),
        run("f", "restart", "i4", t + 3 * H + 95, state="skipped"),  # nothing ran: not counted
        run("g", "restart", "i4", t + 3 * H + 99, state="dry_run"),
        run("h", "restart", "i1", BASE - DAY),  # before the window
        run("k", "failover", "i4", t + 3 * H + 200, state="interrupted"),
        run("m", "notify-owner", "i1", t + 300),  # no verify: resolved 5m after
    ]
    stats = compute_stats(incs, [], now=NOW, days=3, runs=runs)
    assert stats.remediations == [
        RemediationStats(remediation="failover", runs=1, succeeded=0, resolved_in_window=0, ineffective=0,
                         resolved_after=0, median_time_to_resolve=None),
        RemediationStats(remediation="notify-owner", runs=1, succeeded=1, resolved_in_window=0,
                         ineffective=0, resolved_after=1, median_time_to_resolve=300.0),
        RemediationStats(remediation="restart", runs=5, succeeded=4, resolved_in_window=2, ineffective=2,
                         resolved_after=3, median_time_to_resolve=480.0),
    ]
    assert msgspec.json.decode(msgspec.json.encode(stats), type=Stats).remediations == stats.remediations
