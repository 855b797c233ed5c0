"""tocsin.ingest.native: native events (``POST /api/tocsin/v1/events``) to PostableAlert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest

from tocsin.core.labels import fingerprint
from tocsin.core.models import PostableAlert
from tocsin.ingest.native import NativeEvent, NativeEventError, decode_events, to_postable

NOW = 1_700_000_000.0
NOW_DT = datetime.fromtimestamp(NOW, UTC)


def body(obj: Any) -> bytes:
    return msgspec.json.encode(obj)


def one(event: dict[str, Any], now: float = NOW) -> PostableAlert:
    """The alert of a single good event."""
    good, bad = decode_events(body(event), now)
    assert bad == []
    assert [i for i, _ in good] == [0]
    return good[0][1]


def problems(event: Any) -> list[tuple[int, str, str]]:
    """The problems of a single bad event, as ``(index, field, message)``."""
    good, bad = decode_events(body(event), NOW)
    assert good == []
    return [(e.index, e.field, e.message) for e in bad]


def problem(event: Any) -> str:
    """The only problem of a single bad event, as ``str(error)``."""
    good, bad = decode_events(body(event), NOW)
    assert good == []
    assert len(bad) == 1, bad
    assert bad[0].index == 0
    return str(bad[0])


# -- the whole mapping ---------------------------------------------------------------------


def test_every_field_maps_to_its_label_or_annotation():
    alert = one({
        "type": "  DiskFull ",
        "title": "Disk almost full",
        "message": "db1 /var is 97.5% full",
        "severity": "CRIT",
        "priority": "p2",
        "category": "Database",
        "resource": "db1",
        "environment": "prod",
        "labels": {"team": "storage", "dc": ""},
        "annotations": {"owner": "alice"},
        "metadata": {"mount": "/var", "sizes": [1, 2.5, None], "ok": True},
        "value": 97.5,
        "threshold": 90.0,
        "recommendations": ["Delete old logs", "  ", "", "Grow the volume "],
        "affected_users": 12,
        "runbook_url": "https://runbooks.example/disk",
        "dashboard_url": "http://grafana.example/d/x?var=db1",
        "generator_url": "https://app.example/checks/7",
        "starts_at": "2023-11-14T22:00:00Z",
        "ttl": "15m",
    })
    assert alert == PostableAlert(
        labels={
            "alertname": "DiskFull",
            "severity": "critical",
            "priority": "P2",
            "category": "database",
            "resource": "db1",
            "environment": "prod",
            "team": "storage",
        },
        annotations={
            "summary": "Disk almost full",
            "description": "db1 /var is 97.5% full",
            "metadata": '{"mount":"/var","sizes":[1,2.5,null],"ok":true}',
            "value": "97.5",
            "threshold": "90",
            "recommendations": "Delete old logs\nGrow the volume",
            "affected_users": "12",
            "runbook_url": "https://runbooks.example/disk",
            "dashboard_url": "http://grafana.example/d/x?var=db1",
            "owner": "alice",
        },
        starts_at=datetime(2023, 11, 14, 22, 0, tzinfo=UTC),
        ends_at=NOW_DT + timedelta(minutes=15),
        generator_url="https://app.example/checks/7",
    )


def test_minimal_event_is_a_warning_starting_now_with_no_end():
    assert one({"type": "Ping"}) == PostableAlert(
        labels={"alertname": "Ping", "severity": "warning"},
        annotations={},
        starts_at=NOW_DT,
        ends_at=None,
        generator_url="",
    )


def test_null_and_empty_optional_fields_are_left_out():
    alert = one({
        "type": "Ping", "title": "", "message": None, "severity": " ", "priority": "",
        "category": None, "resource": "  ", "environment": "", "labels": None, "annotations": None,
        "metadata": None, "value": None, "recommendations": [], "runbook_url": "", "generator_url": None,
        "ttl": None, "starts_at": None,
    })
    assert alert.labels == {"alertname": "Ping", "severity": "warning"}
    assert alert.annotations == {}
    assert (alert.starts_at, alert.ends_at, alert.generator_url) == (NOW_DT, None, "")


def test_the_result_is_what_the_v2_api_decodes():
    """The handler hands these to ingest; they must encode as Alertmanager alerts."""
    alert = one({"type": "Ping", "resolve": True, "generator_url": "http://g.example/"})
    assert msgspec.json.decode(msgspec.json.encode(alert)) == {
        "labels": {"alertname": "Ping", "severity": "warning"},
        "annotations": {},
        "startsAt": "2023-11-14T22:13:20Z",
        "endsAt": "2023-11-14T22:13:20Z",
        "generatorURL": "http://g.example/",
    }


# -- severity and priority -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("critical", "critical"), ("CRITICAL", "critical"), ("crit", "critical"),
        ("error", "error"), ("Err", "error"),
        ("warning", "warning"), ("WARN", "warning"),
        ("info", "info"), ("information", "info"), (" Info ", "info"),
    ],
)
def test_severity_and_its_aliases(severity: str, expected: str):
    alert = one({"type": "X", "severity": severity})
    assert alert.labels == {"alertname": "X", "severity": expected}


@pytest.mark.parametrize(
    ("priority", "severity", "label"),
    [
        ("P1", "critical", "P1"), ("p1", "critical", "P1"), ("critical", "critical", "critical"),
        ("P2", "error", "P2"), ("High", "error", "high"),
        ("P3", "warning", "P3"), ("medium", "warning", "medium"),
        ("P4", "info", "P4"), ("p5", "info", "P5"), ("LOW", "info", "low"), ("info", "info", "info"),
    ],
)
def test_priority_sets_severity_and_is_kept_as_a_label(priority: str, severity: str, label: str):
    alert = one({"type": "X", "priority": priority})
    assert alert.labels == {"alertname": "X", "severity": severity, "priority": label}


def test_severity_wins_over_priority():
    alert = one({"type": "X", "severity": "info", "priority": "P1"})
    assert alert.labels == {"alertname": "X", "severity": "info", "priority": "P1"}


@pytest.mark.parametrize(
    "category",
    ["system", "database", "application", "performance", "security", "business", "availability"],
)
def test_categories(category: str):
    assert one({"type": "X", "category": category.upper()}).labels["category"] == category


# -- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (92, "92"), (92.0, "92"), (92.5, "92.5"), (-3, "-3"), (0, "0"), (0.0, "0"),
        (0.001, "0.001"), (1e-7, "1e-07"), (1e20, "100000000000000000000"),
        ("92", "92"), ("92.0", "92"), (" 92.50 ", "92.5"), ("+7", "7"), ("-0.5", "-0.5"),
        ("1e3", "1000"), (".5", "0.5"), ("007", "7"),
    ],
)
def test_value_and_threshold_rendering(value: Any, text: str):
    alert = one({"type": "X", "value": value, "threshold": value})
    assert alert.annotations == {"value": text, "threshold": text}


@pytest.mark.parametrize("value", ["high", "", "nan", "NaN", "inf", "-Infinity", "1_000", "0x10", "1,5"])
def test_value_must_be_numeric(value: str):
    assert problem({"type": "X", "value": value}) == f"value: must be a number (got {value!r})"


def test_threshold_problems_name_threshold():
    assert problem({"type": "X", "threshold": "lots"}) == "threshold: must be a number (got 'lots')"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"type": "X", "value": True}, "value: must be a number or a numeric string (got a boolean)"),
        ({"type": "X", "value": [1]}, "value: must be a number or a numeric string (got an array)"),
        ({"type": "X", "threshold": 1e999}, "threshold: must be a finite number"),
        ({"type": "X", "value": "1e999"}, "value: must be a finite number"),
    ],
)
def test_value_type_and_range(event: dict[str, Any], message: str):
    if isinstance(event.get("threshold"), float):  # msgspec cannot encode inf: write the JSON by hand
        raw = b'{"type": "X", "threshold": 1e999}'
        good, bad = decode_events(raw, NOW)
        assert good == []
        assert [str(e) for e in bad] == [message]
    else:
        assert problem(event) == message


def test_affected_users():
    assert one({"type": "X", "affected_users": 0}).annotations == {"affected_users": "0"}
    assert problem({"type": "X", "affected_users": -1}) == "affected_users: must not be negative (got -1)"
    assert problem({"type": "X", "affected_users": 1.5}) == (
        "affected_users: must be a whole number (got a number)"
    )
    assert problem({"type": "X", "affected_users": "12"}) == (
        "affected_users: must be a whole number (got a string)"
    )


# -- metadata and recommendations ----------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "text"),
    [
        ({"b": 1, "a": {"c": [True, None]}}, '{"b":1,"a":{"c":[true,null]}}'),
        ([1, "two", 3.5], '[1,"two",3.5]'),
        ("plain", '"plain"'),
        (0, "0"),
        (False, "false"),
        ({}, "{}"),
        ("é\n", '"é\\n"'),
    ],
)
def test_metadata_is_compact_json(metadata: Any, text: str):
    assert one({"type": "X", "metadata": metadata}).annotations == {"metadata": text}


def test_metadata_whitespace_is_not_kept():
    raw = b'{"type": "X", "metadata": { "a" :  [ 1 , 2 ] } }'
    good, bad = decode_events(raw, NOW)
    assert bad == []
    assert good[0][1].annotations == {"metadata": '{"a":[1,2]}'}


def test_recommendations_one_per_line_without_empty_ones():
    alert = one({"type": "X", "recommendations": ["", " a ", "b", "\t"]})
    assert alert.annotations == {"recommendations": "a\nb"}
    assert one({"type": "X", "recommendations": ["", "  "]}).annotations == {}
    assert problem({"type": "X", "recommendations": ["a", 2]}) == (
        "recommendations[1]: must be a string (got a number)"
    )
    assert problem({"type": "X", "recommendations": "a"}) == (
        "recommendations: must be a list of strings (got a string)"
    )


# -- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["runbook_url", "dashboard_url", "generator_url"])
@pytest.mark.parametrize(
    "url", ["ftp://host/x", "host/path", "https://", "http:///path", "javascript:alert(1)", "http://[::1"]
)
def test_urls_must_be_http_with_a_host(field: str, url: str):
    assert problem({"type": "X", field: url}) == f"{field}: must be an http(s) URL (got {url!r})"


@pytest.mark.parametrize("url", ["http://h", "HTTPS://h.example:8443/a?b=c#d", "http://[::1]:9/"])
def test_good_urls(url: str):
    alert = one({"type": "X", "runbook_url": url, "dashboard_url": url, "generator_url": url})
    assert alert.annotations == {"runbook_url": url, "dashboard_url": url}
    assert alert.generator_url == url


# -- extra labels and annotations ----------------------------------------------------------


def test_extra_labels_join_the_derived_ones_and_empty_values_are_dropped():
    alert = one({"type": "X", "labels": {"team": "a", "_b": "", "c9": "v"}})
    assert alert.labels == {"alertname": "X", "severity": "warning", "team": "a", "c9": "v"}


@pytest.mark.parametrize("name", ["9x", "bad-name", "a.b", "", "é"])
def test_invalid_label_names(name: str):
    assert problems({"type": "X", "labels": {name: "v"}}) == [
        (0, f"labels.{name}", f"invalid label name {name!r}")
    ]


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("alertname", "type"), ("severity", "severity"), ("priority", "priority"),
        ("category", "category"), ("resource", "resource"), ("environment", "environment"),
    ],
)
def test_labels_may_not_set_what_event_fields_set(name: str, field: str):
    # Reserved even when the event leaves the field out (and even with an empty value).
    for value in ("v", ""):
        assert problems({"type": "X", "labels": {name: value}}) == [
            (0, f"labels.{name}", f"set by the event field '{field}'")
        ]


def test_label_values_must_be_strings():
    assert problems({"type": "X", "labels": {"a": 1, "b": None, "c": True, "d": [], "e": {}}}) == [
        (0, "labels.a", "must be a string (got a number)"),
        (0, "labels.b", "must be a string (got null)"),
        (0, "labels.c", "must be a string (got a boolean)"),
        (0, "labels.d", "must be a string (got an array)"),
        (0, "labels.e", "must be a string (got an object)"),
    ]
    assert problem({"type": "X", "labels": ["a"]}) == "labels: must be an object of strings (got an array)"


def test_extra_annotations():
    alert = one({"type": "X", "title": "t", "annotations": {"owner": "bob", "empty": ""}})
    # Annotations keep empty values, as Alertmanager does.
    assert alert.annotations == {"summary": "t", "owner": "bob", "empty": ""}


def test_an_annotation_may_not_clash_with_one_a_field_set():
    event = {
        "type": "X", "title": "t", "message": "m", "value": 1, "runbook_url": "http://r",
        "annotations": {"summary": "s", "description": "d", "value": "2", "runbook_url": "x", "ok": "y"},
    }
    assert problems(event) == [
        (0, "annotations.summary", "set by the event field 'title'"),
        (0, "annotations.description", "set by the event field 'message'"),
        (0, "annotations.value", "set by the event field 'value'"),
        (0, "annotations.runbook_url", "set by the event field 'runbook_url'"),
    ]


def test_an_annotation_a_field_could_set_is_free_when_the_field_is_not_given():
    alert = one({"type": "X", "annotations": {"summary": "s", "description": "d"}})
    assert alert.annotations == {"summary": "s", "description": "d"}


def test_invalid_annotation_names_and_values():
    assert problems({"type": "X", "annotations": {"a-b": "v", "n": 3}}) == [
        (0, "annotations.a-b", "invalid annotation name 'a-b'"),
        (0, "annotations.n", "must be a string (got a number)"),
    ]


# -- resolve, ttl and starts_at --------------------------------------------------------------


def test_resolve_ends_now():
    alert = one({"type": "X", "resolve": True})
    assert (alert.starts_at, alert.ends_at) == (NOW_DT, NOW_DT)
    assert alert.ends_at.tzinfo is UTC


def test_resolve_wins_over_ttl():
    alert = one({"type": "X", "resolve": True, "ttl": 600})
    assert alert.ends_at == NOW_DT


def test_resolve_false_is_firing():
    assert one({"type": "X", "resolve": False}).ends_at is None
    assert problem({"type": "X", "resolve": "yes"}) == "resolve: must be true or false (got a string)"


@pytest.mark.parametrize(
    ("ttl", "seconds"),
    [
        (60, 60), (0.5, 0.5), (90.0, 90), ("15m", 900), ("1h30m", 5400), ("1d", 86400),
        ("500ms", 0.5), (" 30s ", 30), ("120", 120), ("2.5", 2.5),
    ],
)
def test_ttl_ends_that_long_after_now(ttl: Any, seconds: float):
    alert = one({"type": "X", "ttl": ttl})
    assert alert.starts_at == NOW_DT
    assert alert.ends_at == NOW_DT + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("ttl", "message"),
    [
        (0, "ttl: must be greater than zero"),
        (-5, "ttl: must be greater than zero"),
        (0.0, "ttl: must be greater than zero"),
        ("0", "ttl: must be greater than zero"),
        ("0s", "ttl: must be greater than zero"),
        ("-1", "ttl: must be greater than zero"),
        ("soon", "ttl: must be a number of seconds or a duration such as '15m' (got 'soon')"),
        ("15 minutes", "ttl: must be a number of seconds or a duration such as '15m' (got '15 minutes')"),
        ("", "ttl: must be a number of seconds or a duration such as '15m' (got '')"),
        ("1e999", "ttl: must be a finite number"),
        (True, "ttl: must be a number of seconds or a duration such as '15m' (got a boolean)"),
    ],
)
def test_bad_ttl(ttl: Any, message: str):
    assert problem({"type": "X", "ttl": ttl}) == message


def test_bad_ttl_is_reported_even_when_resolving():
    assert problem({"type": "X", "resolve": True, "ttl": 0}) == "ttl: must be greater than zero"


@pytest.mark.parametrize("name", ["starts_at", "startsAt"])
def test_starts_at_in_either_spelling_is_kept_in_utc(name: str):
    alert = one({"type": "X", name: "2023-11-14T23:00:00+01:00", "ttl": 60})
    assert alert.starts_at == datetime(2023, 11, 14, 22, 0, tzinfo=UTC)
    assert alert.starts_at.utcoffset() == timedelta(0)
    assert alert.ends_at == NOW_DT + timedelta(seconds=60)


def test_starts_at_in_the_future_is_accepted():
    alert = one({"type": "X", "starts_at": "2030-01-01T00:00:00Z"})
    assert alert.starts_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert alert.ends_at is None


def test_both_spellings_of_starts_at_is_an_error():
    event = {"type": "X", "starts_at": "2023-11-14T22:00:00Z", "startsAt": "2023-11-14T22:00:00Z"}
    assert problem(event) == "startsAt: give either starts_at or startsAt, not both"


@pytest.mark.parametrize("name", ["starts_at", "startsAt"])
@pytest.mark.parametrize("value", ["2023-11-14T22:00:00", "yesterday", 1700000000, "2023-13-01T00:00:00Z"])
def test_starts_at_must_be_rfc3339_with_a_zone(name: str, value: Any):
    assert problem({"type": "X", name: value}) == (
        f"{name}: must be an RFC 3339 timestamp with a time zone, e.g. 2024-05-01T12:00:00Z"
    )


@pytest.mark.parametrize("name", ["starts_at", "startsAt"])
def test_resolving_before_the_start_is_an_error_on_the_start(name: str):
    start = (NOW_DT + timedelta(seconds=10)).isoformat()
    assert problem({"type": "X", name: start, "resolve": True}) == (
        f"{name}: is after the time the event resolves (now)"
    )


def test_a_ttl_ending_before_the_start_is_an_error_on_ttl():
    start = NOW_DT + timedelta(hours=2)
    assert problem({"type": "X", "starts_at": start.isoformat(), "ttl": "1h"}) == (
        "ttl: ends the alert before its start (2023-11-15T00:13:20+00:00)"
    )
    # Ending exactly at the start is fine.
    alert = one({"type": "X", "starts_at": start.isoformat(), "ttl": "2h"})
    assert alert.ends_at == alert.starts_at == start


# -- errors in an event --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, "type: required"),
        ({"title": "t"}, "type: required"),
        ({"type": ""}, "type: must not be empty"),
        ({"type": " \t"}, "type: must not be empty"),
        ({"type": 5}, "type: must be a string (got a number)"),
        ({"type": None}, "type: must be a string (got null)"),
        ({"type": "X", "severity": "urgent"},
         "severity: must be one of critical, error, warning, info (got 'urgent')"),
        ({"type": "X", "severity": 1}, "severity: must be a string (got a number)"),
        ({"type": "X", "priority": "P6"},
         "priority: must be one of P1, P2, P3, P4, P5, critical, high, medium, low, info (got 'P6')"),
        ({"type": "X", "priority": "urgent", "severity": "info"},
         "priority: must be one of P1, P2, P3, P4, P5, critical, high, medium, low, info (got 'urgent')"),
        ({"type": "X", "category": "network"},
         "category: must be one of system, database, application, performance, security, business, "
         "availability (got 'network')"),
        ({"type": "X", "sevrity": "info"}, "sevrity: unknown field 'sevrity' (did you mean 'severity'?)"),
        ({"type": "X", "start_at": "x"}, "start_at: unknown field 'start_at' (did you mean 'starts_at'?)"),
        ({"type": "X", "color": "red"}, "color: unknown field 'color'"),
        ({"type": "X", "metadata": {"nested": 1}, "labels": {"a": "b"}, "extra": 1},
         "extra: unknown field 'extra'"),
    ],
)
def test_event_errors_name_the_field(event: dict[str, Any], message: str):
    assert problem(event) == message


def test_field_and_message_are_separate():
    _, bad = decode_events(body({"type": "X", "severity": "urgent"}), NOW)
    (err,) = bad
    assert isinstance(err, NativeEventError)
    assert (err.index, err.field) == (0, "severity")
    assert err.message == "must be one of critical, error, warning, info (got 'urgent')"


def test_every_problem_of_an_event_is_reported():
    event = {
        "type": "", "severity": "urgent", "priority": "P9", "category": "x", "value": "v",
        "threshold": "t", "affected_users": -2, "runbook_url": "r", "dashboard_url": "d",
        "generator_url": "g", "ttl": 0, "labels": {"9": "a", "alertname": "b"},
        "annotations": {"-": "c"},
    }
    assert [f for _, f, _ in problems(event)] == [
        "type", "severity", "priority", "category", "labels.9", "labels.alertname", "value",
        "threshold", "affected_users", "runbook_url", "dashboard_url", "annotations.-",
        "generator_url", "ttl",
    ]


# -- bodies and batches --------------------------------------------------------------------


def test_single_object_is_index_zero():
    good, bad = decode_events(b'{"type": "A"}', NOW)
    assert bad == []
    assert good == [(0, PostableAlert(labels={"alertname": "A", "severity": "warning"}, starts_at=NOW_DT))]


def test_array_of_events_keeps_indices():
    good, bad = decode_events(body([{"type": "A"}, {"type": "B", "severity": "info"}]), NOW)
    assert bad == []
    assert [(i, a.labels) for i, a in good] == [
        (0, {"alertname": "A", "severity": "warning"}),
        (1, {"alertname": "B", "severity": "info"}),
    ]


def test_a_bad_event_does_not_lose_the_good_ones():
    events = [
        {"type": "A"},
        {"type": "B", "severity": "urgent"},
        {"type": "C", "resolve": True},
        {"sevrity": "info"},
        42,
        {"type": "F", "labels": {"9x": "v"}, "value": "high"},
        {"type": "G"},
    ]
    good, bad = decode_events(body(events), NOW)
    assert [(i, a.labels["alertname"]) for i, a in good] == [(0, "A"), (2, "C"), (6, "G")]
    assert good[1][1].ends_at == NOW_DT
    assert [(e.index, e.field, e.message) for e in bad] == [
        (1, "severity", "must be one of critical, error, warning, info (got 'urgent')"),
        (3, "sevrity", "unknown field 'sevrity' (did you mean 'severity'?)"),
        (4, "", "an event must be a JSON object (got a number)"),
        (5, "labels.9x", "invalid label name '9x'"),
        (5, "value", "must be a number (got 'high')"),
    ]
    assert str(bad[2]) == "an event must be a JSON object (got a number)"
    assert str(bad[3]) == "labels.9x: invalid label name '9x'"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty body"),
        (b"  \n", "empty body"),
        (b"[]", "no events"),
        (b" [ ] ", "no events"),
        (b'"event"', "expected a JSON object or an array of objects (got a string)"),
        (b"42", "expected a JSON object or an array of objects (got a number)"),
        (b"-1", "expected a JSON object or an array of objects (got a number)"),
        (b"null", "expected a JSON object or an array of objects (got null)"),
        (b"true", "expected a JSON object or an array of objects (got a boolean)"),
    ],
)
def test_bodies_that_hold_no_events(raw: bytes, message: str):
    with pytest.raises(NativeEventError) as info:
        decode_events(raw, NOW)
    err = info.value
    assert (err.index, err.field, err.message) == (-1, "", message)
    assert str(err) == message


@pytest.mark.parametrize("raw", [b"{", b'{"type": "A"} x', b'[{"type": "A"}, {"type": ]', b"{'type': 'A'}"])
def test_invalid_json(raw: bytes):
    with pytest.raises(NativeEventError) as info:
        decode_events(raw, NOW)
    err = info.value
    assert (err.index, err.field) == (-1, "")
    # The rest is msgspec's own description, e.g. "Input data was truncated".
    assert err.message.startswith("invalid JSON: ")
    assert len(err.message) > len("invalid JSON: ")
    assert str(err) == err.message


def test_error_str_and_repr():
    err = NativeEventError(2, "ttl", "must be greater than zero")
    assert str(err) == "ttl: must be greater than zero"
    assert repr(err) == "NativeEventError(index=2, field='ttl', message='must be greater than zero')"


# -- stable identity -----------------------------------------------------------------------


def test_the_same_event_gives_the_same_fingerprint_at_any_time():
    event = {"type": "DiskFull", "priority": "P1", "resource": "db1", "labels": {"team": "s"},
             "title": "t", "metadata": {"x": 1}, "ttl": "5m"}
    first = one(event, now=NOW)
    again = one(event, now=NOW + 3600)
    assert first.labels == again.labels
    assert fingerprint(first.labels) == fingerprint(again.labels)
    assert first.ends_at != again.ends_at
    # The fingerprint is Alertmanager's for this label set, whatever order the event gave.
    reordered = one({"labels": {"team": "s"}, "resource": "db1", "priority": "p1", "type": " DiskFull"})
    assert fingerprint(reordered.labels) == fingerprint(first.labels)
    assert fingerprint(first.labels) == fingerprint(
        {"alertname": "DiskFull", "severity": "critical", "priority": "P1", "resource": "db1", "team": "s"}
    )


def test_annotations_and_times_do_not_change_the_fingerprint():
    a = one({"type": "X", "title": "one", "value": 1})
    b = one({"type": "X", "title": "two", "value": 2, "resolve": True})
    assert fingerprint(a.labels) == fingerprint(b.labels)
    c = one({"type": "X", "severity": "critical"})
    assert fingerprint(c.labels) != fingerprint(a.labels)


# -- to_postable directly --------------------------------------------------------------------


def test_to_postable_takes_a_decoded_event():
    event = NativeEvent(type="X", severity="err", ttl=30, starts_at=datetime(2023, 11, 14, tzinfo=UTC))
    alert = to_postable(event, 3, NOW)
    assert alert == PostableAlert(
        labels={"alertname": "X", "severity": "error"},
        starts_at=datetime(2023, 11, 14, tzinfo=UTC),
        ends_at=NOW_DT + timedelta(seconds=30),
    )
    errors = to_postable(NativeEvent(type="X", category="nope"), 3, NOW)
    assert isinstance(errors, list)
    assert [(e.index, e.field) for e in errors] == [(3, "category")]


def test_to_postable_converts_other_zones_to_utc():
    cet = timezone(timedelta(hours=1))
    alert = to_postable(NativeEvent(type="X", startsAt=datetime(2023, 11, 14, 23, tzinfo=cet)), 0, NOW)
    assert isinstance(alert, PostableAlert)
    assert alert.starts_at == datetime(2023, 11, 14, 22, tzinfo=UTC)
    assert alert.starts_at.tzinfo is UTC
