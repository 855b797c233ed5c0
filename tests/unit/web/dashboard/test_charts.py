"""The stats page's series from the store's buckets: gaps filled, local days and hours of
the week in a time zone, mean response times per period, delivery success per receiver,
and JSON that no text can break out of its script element with."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tocsin.store.series import AttemptBucket, IncidentBucket
from tocsin.web.dashboard import charts

H = 3600.0
UTC = ZoneInfo("UTC")
#: Monday 2026-11-30 00:00 UTC.
MONDAY = datetime(2026, 11, 30, tzinfo=UTC).timestamp()


def test_hourly_counts_fill_the_gaps_and_skip_what_is_outside():
    buckets = [IncidentBucket(bucket=0, fired=2), IncidentBucket(bucket=3, fired=5),
               IncidentBucket(bucket=7, fired=9)]
    xs, ys = charts.hourly_counts(buckets, MONDAY, 4)
    assert xs == [MONDAY, MONDAY + H, MONDAY + 2 * H, MONDAY + 3 * H]
    assert ys == [2, 0, 0, 5]


def test_hour_of_week_in_the_pages_time_zone():
    buckets = [IncidentBucket(bucket=0, fired=1),         # Mon 00:00 UTC
               IncidentBucket(bucket=24 + 13, fired=4),   # Tue 13:00 UTC
               IncidentBucket(bucket=24 * 7, fired=2)]    # the next Mon 00:00 UTC
    utc = charts.hour_of_week(buckets, MONDAY, UTC)
    assert (utc.cells[0][0], utc.cells[1][13], utc.most) == (3, 4, 4)
    assert sum(map(sum, utc.cells)) == 7
    assert (utc.level(1, 13), utc.level(0, 0), utc.level(2, 2)) == (5, 4, 0)
    # New York is five hours behind in winter: Monday 00:00 UTC is Sunday 19:00 there.
    ny = charts.hour_of_week(buckets, MONDAY, ZoneInfo("America/New_York"))
    assert (ny.cells[6][19], ny.cells[1][8]) == (3, 4)


def test_levels_scale_up_to_the_most():
    assert [charts.level(n, 10) for n in (0, 1, 2, 3, 5, 9, 10)] == [0, 1, 1, 2, 3, 5, 5]
    assert charts.level(3, 0) == 0


def test_response_series_mean_per_local_day_and_per_hour():
    buckets = [IncidentBucket(bucket=1, fired=3, acknowledged=2, ack_seconds=120.0, resolved=1,
                              resolve_seconds=600.0),
               IncidentBucket(bucket=5, fired=1, acknowledged=1, ack_seconds=60.0),
               IncidentBucket(bucket=30, fired=1, resolved=2, resolve_seconds=100.0)]
    starts, mtta, mttr = charts.response_series(buckets, MONDAY, MONDAY + 2 * 24 * H, UTC, daily=True)
    assert starts == [MONDAY, MONDAY + 24 * H]
    assert mtta == [60.0, None]
    assert mttr == [600.0, 50.0]
    # A window starting mid-day in Berlin (UTC+1): its first local day begins before it.
    berlin = ZoneInfo("Europe/Berlin")
    starts, mtta, _ = charts.response_series(buckets, MONDAY, MONDAY + 24 * H, berlin, daily=True)
    assert [datetime.fromtimestamp(s, berlin).isoformat() for s in starts] == [
        "2026-11-30T00:00:00+01:00", "2026-12-01T00:00:00+01:00"]
    assert mtta == [60.0, None]
    starts, mtta, _ = charts.response_series(buckets, MONDAY, MONDAY + 6 * H, UTC, daily=False)
    assert len(starts) == 6
    assert mtta == [None, 60.0, None, None, None, 60.0]


def test_delivery_series_is_the_success_share_per_receiver():
    buckets = [AttemptBucket(bucket=0, receiver="team", sent=3, failed=1),
               AttemptBucket(bucket=2, receiver="team", sent=0, failed=2),
               AttemptBucket(bucket=1, receiver="ops", sent=5, failed=0),
               AttemptBucket(bucket=9, receiver="ops", sent=5, failed=0)]
    xs, series = charts.delivery_series(buckets, MONDAY, 24 * H, 3)
    assert xs == [MONDAY, MONDAY + 24 * H, MONDAY + 48 * H]
    assert list(series) == ["ops", "team"]
    assert series == {"ops": [None, 100.0, None], "team": [75.0, None, 0.0]}


def test_bars_scale_to_the_largest_or_to_a_given_most():
    found = charts.bars([("a", 10, "10", ""), ("b", 5, "5", "t"), ("c", 0, "0", "")])
    assert [(b.label, b.width) for b in found] == [("a", 20), ("b", 10), ("c", 0)]
    assert [b.width for b in charts.bars([("x", 50.0, "", "")], most=100.0)] == [10]
    assert charts.bars([]) == []


def test_embedded_json_cannot_close_its_script_element():
    hostile = '</script><script>alert(1)</script><!-- & "'
    text = charts.embed({"series": [{"label": hostile}]})
    assert not set("<>&") & set(text)
    assert json.loads(text) == {"series": [{"label": hostile}]}


def test_vendored_uplot_is_the_one_its_record_names():
    static = Path(charts.__file__).parent / "static" / "vendor"
    record = (static / "VENDORED.md").read_text()
    for name in ("uPlot.iife.min.js", "uPlot.min.css"):
        assert hashlib.sha256((static / "uplot" / name).read_bytes()).hexdigest() in record
    assert "uplot-1.6.32.tgz" in record
    assert (static / "uplot" / "uPlot.iife.min.js").read_text().startswith(
        "/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    assert (static / "uplot" / "LICENSE").read_text().startswith("The MIT License")
