"""tocsin.core.durations.Duration: model.Duration as in prometheus/common v0.38 (Alertmanager 0.25)."""

from __future__ import annotations

import re

import pytest

from tocsin.core.durations import Duration

DAY = 86400.0
WEEK = 7 * DAY
YEAR = 365 * DAY


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1d", DAY),
        ("1w", WEEK),
        ("1y", YEAR),
        ("100ms", 0.1),
        ("1500ms", 1.5),
        ("0", 0.0),
        ("0s", 0.0),
        ("0ms", 0.0),
        ("1h0m", 3600.0),
        ("90s", 90.0),
        ("2h45m30s500ms", 2 * 3600 + 45 * 60 + 30.5),
        ("1y2w3d4h5m6s7ms", YEAR + 2 * WEEK + 3 * DAY + 4 * 3600 + 5 * 60 + 6.007),
        ("007s", 7.0),
        ("292y", 292 * YEAR),  # the largest whole number of years an int64 of nanoseconds holds
    ],
)
def test_parse(text: str, seconds: float) -> None:
    d = Duration.parse(text)
    assert isinstance(d, Duration)
    assert isinstance(d, float)
    assert d == pytest.approx(seconds, abs=1e-9)


@pytest.mark.parametrize(
    "text",
    [
        "5x",
        "",
        "m",
        "s",
        "ms",
        "1.5h",
        "-1s",
        "+1s",
        "5",  # only a bare 0 may omit the unit
        "00",
        "5M",
        "5S",
        "1m1h",  # units must come largest first
        "1h1h",
        "1s1m",
        "1ms1s",
        " 5m",
        "5m ",
        "5 m",
        "1h 30m",
        "5mm",
        "5us",
        "5ns",
        "1e3s",
        "\u0661s",  # an Arabic-Indic digit: Go's [0-9] is ASCII-only
        "\uff15m",  # a full-width digit
        "293y",  # more than an int64 of nanoseconds: "duration out of range"
        "106752d",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        Duration.parse(text)


def test_out_of_range_message() -> None:
    with pytest.raises(ValueError, match="out of range"):
        Duration.parse("1000y")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("30s", "30s"),
        ("5m", "5m"),
        ("1h30m", "1h30m"),
        ("90m", "1h30m"),
        ("1d", "1d"),
        ("24h", "1d"),
        ("1w", "1w"),
        ("7d", "1w"),
        ("14d", "2w"),
        ("100ms", "100ms"),
        ("1500ms", "1s500ms"),
        ("0", "0s"),
        ("0s", "0s"),
        ("0ms", "0s"),
        ("1h0m", "1h"),
        ("61m", "1h1m"),
        ("1y", "1y"),
        ("365d", "1y"),
        ("2h45m30s500ms", "2h45m30s500ms"),
        # As Prometheus: years and weeks only when they divide exactly ("90d", not "12w6d").
        ("8d", "8d"),
        ("90d", "90d"),
        ("1w1d", "8d"),
        ("366d", "366d"),
        ("1y1w", "372d"),
        ("1y1d", "366d"),
        ("2w12h", "14d12h"),
        ("1y2w3d4h5m6s7ms", "382d4h5m6s7ms"),
    ],
)
def test_str(text: str, canonical: str) -> None:
    assert str(Duration.parse(text)) == canonical


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "0s"), (0.001, "1ms"), (0.25, "250ms"), (59.0, "59s"), (300.0, "5m"), (4 * 3600.0, "4h")],
)
def test_str_of_constructed_durations(seconds: float, text: str) -> None:
    assert str(Duration(seconds)) == text


@pytest.mark.parametrize(
    "text", ["1s", "1m1s", "1h1m1s1ms", "1d1h", "1w", "2w", "3d", "1y", "2y", "13d23h59m59s999ms"]
)
def test_canonical_strings_round_trip(text: str) -> None:
    d = Duration.parse(text)
    assert str(d) == text
    assert Duration.parse(str(d)) == d


def test_repr_and_arithmetic() -> None:
    d = Duration.parse("5m")
    assert repr(d) == "Duration(5m)"
    assert d + 1 == 301.0
    assert d > Duration.parse("4m59s")
    assert Duration.parse("1h30m") == Duration.parse("90m")
