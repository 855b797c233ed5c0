from datetime import UTC, datetime, timedelta, timezone

from tocsin.core.timefmt import ZERO_TIME, format_ts, format_ts_nano, from_datetime


def test_api_format_has_milliseconds_like_alertmanagers_api():
    assert format_ts(1700000000.0) == "2023-11-14T22:13:20.000Z"
    assert format_ts(1700000000.1234) == "2023-11-14T22:13:20.123Z"


def test_webhook_format_is_go_rfc3339nano():
    assert format_ts_nano(1700000000.0) == "2023-11-14T22:13:20Z"
    assert format_ts_nano(1700000000.05) == "2023-11-14T22:13:20.05Z"
    assert format_ts_nano(1700000000.123456) == "2023-11-14T22:13:20.123456Z"


def test_years_before_1000_have_four_digits_as_go_writes_them():
    year_900 = datetime(900, 3, 4, 5, 6, 7, 250000, tzinfo=UTC).timestamp()
    assert format_ts(year_900) == "0900-03-04T05:06:07.250Z"
    assert format_ts_nano(year_900) == "0900-03-04T05:06:07.25Z"
    assert format_ts_nano(-1e12) == "0001-01-02T00:00:00Z"  # before Go's zero day: its first


def test_zero_is_go_zero_time():
    assert format_ts(0) == format_ts_nano(0) == ZERO_TIME == "0001-01-01T00:00:00Z"


def test_from_datetime():
    assert from_datetime(None) == 0.0
    assert from_datetime(datetime(1, 1, 1, tzinfo=UTC)) == 0.0
    assert from_datetime(datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)) == 1700000000.0
    plus2 = timezone(timedelta(hours=2))
    assert from_datetime(datetime(2023, 11, 15, 0, 13, 20, tzinfo=plus2)) == 1700000000.0
    assert from_datetime(datetime(2023, 11, 14, 22, 13, 20)) == 1700000000.0  # naive: UTC
