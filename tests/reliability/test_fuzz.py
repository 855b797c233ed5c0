"""Fuzz tests (hypothesis) for the ingest endpoints and the config loader, in-process.

Each HTTP test starts ONE real runtime (SQLite, fake clock) behind aiohttp's test
client on its own event loop, then lets hypothesis throw examples at it. For every
example: the answer is 200, 201, 400 or 413 (never a 5xx), a 4xx body is JSON with
an ``"error"`` string, and ``GET /-/healthy`` still answers 200; every 50 examples
the list endpoints (alerts, groups, incidents, silences) must read back with a 200.

The config test feeds arbitrary text and mutated copies of ``etc/tocsin/tocsin.yml``
to :func:`tocsin.config.document.load_config`, which must answer a ``Config`` or raise
``ConfigError``, nothing else.

Quick mode (the default) runs 150 examples per target. Long mode sets the number
of examples per target through the environment::

    TOCSIN_FUZZ_EXAMPLES=100000 .venv/bin/pytest -q tests/reliability/test_fuzz.py

Inputs that once broke an endpoint or the config loader (deeply nested JSON, an
event ``ttl`` or start time past the range of dates, YAML values PyYAML cannot
build) are pinned as regression cases (``REGRESSIONS``, ``CONFIG_REGRESSIONS``);
the random strategies do not nest JSON deeply, so those cases cover it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tocsin.config.document import Config, ConfigError, load_config
from tocsin.plugins import channel_kinds, remediation_kinds
from tocsin.testing import api_client, make_plugins

EXAMPLES = int(os.environ.get("TOCSIN_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

CONFIG = """
global:
  resolve_timeout: 5m
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
receivers:
  - name: default
  - name: pager
"""

ALERTS = "/api/v2/alerts"
EVENTS = "/api/tocsin/v1/events"
WEBHOOK = "/api/tocsin/v1/alertmanager/webhook"
#: 422 is go-swagger's answer to a body that breaks the schema, on Alertmanager's API.
OK = {200, 201, 400, 413, 422}

BUNDLED = Path(__file__).resolve().parents[2] / "etc" / "tocsin" / "tocsin.yml"
PM = make_plugins()
KINDS = channel_kinds(PM)
REMEDIATION_KINDS = remediation_kinds(PM)


# -- the harness -----------------------------------------------------------------------------


class Daemon:
    """One runtime + test client on a private event loop, driven from sync code."""

    def __init__(self, tmp_path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self._cm = api_client(CONFIG, tmp_path)
        self.client: TestClient
        self.client, _rt = self.run(self._cm.__aenter__())
        self.posts = 0

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        try:
            self.run(self._cm.__aexit__(None, None, None))
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    async def _post(self, path: str, body: bytes, params: dict[str, str] | None) -> tuple[int, bytes]:
        resp = await self.client.post(path, data=body, params=params,
                                      headers={"Content-Type": "application/json"})
        data = await resp.read()
        health = await self.client.get("/-/healthy")
        assert health.status == 200, f"/-/healthy answered {health.status} after {body[:300]!r}"
        await health.read()
        return resp.status, data

    async def _reads(self) -> None:
        for probe in ("/api/v2/alerts", "/api/v2/alerts/groups", "/api/tocsin/v1/alerts", "/api/v2/silences"):
            resp = await self.client.get(probe)
            assert resp.status == 200, f"GET {probe} answered {resp.status}: {(await resp.read())[:500]!r}"
            await resp.read()

    def reads_back(self) -> None:
        """What was accepted reads back: every list endpoint answers 200."""
        self.run(self._reads())

    def post(self, path: str, body: bytes, params: dict[str, str] | None = None) -> None:
        """Post ``body`` and check the answer, and that the daemon is still healthy."""
        status, data = self.run(self._post(path, body, params))
        self.posts += 1
        if self.posts % 50 == 0:
            self.reads_back()
        shown = body[:300]
        assert status in OK, f"{path} answered {status} to {shown!r}: {data[:1000]!r}"
        if 400 <= status < 500:
            try:
                answer = json.loads(data)
            except ValueError:
                pytest.fail(f"{path} answered {status} with a non-JSON body {data[:300]!r} to {shown!r}")
            if path.startswith("/api/v2/"):  # Alertmanager's shapes: a string, or go-swagger's
                assert isinstance(answer, str) or (
                    isinstance(answer, dict) and isinstance(answer.get("message"), str)), (
                    f"{path} answered {status} without an error message: {data[:300]!r} to {shown!r}")
                return
            assert isinstance(answer, dict), f"{path} answered {status} with {data[:300]!r} to {shown!r}"
            assert isinstance(answer.get("error"), str), (
                f"{path} answered {status} without an error string: {data[:300]!r} to {shown!r}")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path)
    try:
        yield d
    finally:
        d.close()


def encode(value: Any) -> bytes:
    # json (not msgspec) so that huge integers and NaN/Infinity reach the server too.
    return json.dumps(value).encode()


# -- strategies ------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
ODD_TEXT = st.one_of(
    TEXT,
    st.just(""),
    st.text(st.characters(codec="utf-8"), min_size=200, max_size=6000),
    st.sampled_from(["alertname", "__name__", "9x", "a-b", "a.b", "ä", " ", "\x00", "\n", "{}", "=~"]),
)
SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(), TEXT,
)
JSON = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=5)
                    | st.dictionaries(TEXT, inner, max_size=5), max_leaves=25)

# Go's zero time, the edges of datetime, and out-of-range/garbage variants.
EDGE_TIMES = [
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "1970-01-01T00:00:00Z",
    "2023-11-14T22:13:20Z", "2023-11-14T22:13:20.123456789+14:00", "2023-11-14T22:13:20-23:59",
    "2023-11-14T22:13:20", "2023-11-14", "2023-02-30T00:00:00Z", "2023-11-14T24:00:00Z",
    "2023-11-14t22:13:20z", "2023-11-14 22:13:20Z", "10000-01-01T00:00:00Z", "0000-01-01T00:00:00Z",
    "", "now", "-1", "1e400", "null",
]


@st.composite
def rfc3339(draw: st.DrawFn) -> str:
    tz = draw(st.one_of(st.just(UTC), st.timedeltas(min_value=timedelta(hours=-23, minutes=-59),
                                                    max_value=timedelta(hours=23, minutes=59))
                        .map(lambda d: timezone(timedelta(minutes=int(d.total_seconds() // 60))))))
    dt = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                           timezones=st.just(tz)))
    text = dt.isoformat()
    if draw(st.booleans()) and text.endswith("+00:00"):
        text = text[:-6] + "Z"
    return text


# Valid RFC 3339 whose instant is outside datetime's range once converted to UTC.
# Native events crash on these (see REGRESSIONS), so only the Alertmanager-shaped
# endpoints get them.
EDGE_OFFSET_TIMES = ["0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-14:00"]
EVENT_TIME = st.one_of(rfc3339(), st.sampled_from(EDGE_TIMES), TEXT)
EVENT_TIME_VALUE = st.one_of(EVENT_TIME, EVENT_TIME, JSON)  # mostly strings, sometimes any JSON
TIME = st.one_of(EVENT_TIME, st.sampled_from(EDGE_OFFSET_TIMES))
TIME_VALUE = st.one_of(TIME, TIME, JSON)
LABELS = st.one_of(
    st.dictionaries(ODD_TEXT, ODD_TEXT, max_size=6),
    st.dictionaries(ODD_TEXT, ODD_TEXT, max_size=6).map(lambda d: {"alertname": "Fuzz", **d}),
    st.dictionaries(TEXT, JSON, max_size=4),
)
ANNOTATIONS = st.one_of(st.dictionaries(ODD_TEXT, ODD_TEXT, max_size=4), JSON)


def maybe(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object with any subset of ``fields``."""
    return st.fixed_dictionaries({}, optional=fields)


PLAUSIBLE_ALERT = st.one_of(
    maybe(labels=LABELS, annotations=ANNOTATIONS, startsAt=TIME_VALUE, endsAt=TIME_VALUE,
          generatorURL=st.one_of(ODD_TEXT, JSON)),
    st.fixed_dictionaries({"labels": LABELS}, optional={"startsAt": TIME, "endsAt": TIME}),
)
ALERT_BODY = st.one_of(st.lists(PLAUSIBLE_ALERT, max_size=6), PLAUSIBLE_ALERT)

NUMBERISH = st.one_of(
    st.integers(), st.floats(), st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from(["NaN", "nan", "Infinity", "-inf", "1e400", "-1e400", "1_000", "0x10", " 1 ", "",
                     "97.5", "+.5", "1e", "٣"]),
    TEXT, JSON,
)
DURATION_STRINGS = ["15m", "0s", "-1s", "1y", "100000000000000000000y", "1h30m", "5", "0", "-5", "1e",
                    "NaN", "inf", "-Infinity", "1e-400", "0.000001", "1_0s", "٣s", "8000y"]
# The webhook's ttl query parameter: anything.
DURATIONISH = st.one_of(
    NUMBERISH,
    st.sampled_from([*DURATION_STRINGS, "99999999999999999999", "1e308", "9" * 400]),
)
# A native event's ttl: any size (past year 9999 is a 400 naming ttl), and random text.
_TTL_NUMBER = st.one_of(
    st.integers(-10**6, 10**25), st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, 3e11]),
)
EVENT_TTL = st.one_of(
    _TTL_NUMBER, _TTL_NUMBER.map(str), st.sampled_from(DURATION_STRINGS),
    st.text(st.characters(codec="utf-8", exclude_categories=("Nd",)), max_size=20),
    st.none(), st.booleans(), st.lists(st.integers(), max_size=2), st.dictionaries(TEXT, TEXT, max_size=2),
)
WORDISH = st.one_of(
    st.sampled_from(["critical", "CRITICAL", "error", "warning", "info", "P1", "p5", "P0", "high",
                     "low", "system", "database", "", " "]),
    ODD_TEXT, JSON,
)
PLAUSIBLE_EVENT = st.one_of(
    st.fixed_dictionaries(
        {"type": st.one_of(st.just("DiskFull"), ODD_TEXT)},
        optional={
            "severity": WORDISH, "priority": WORDISH, "category": WORDISH, "resource": ODD_TEXT,
            "environment": ODD_TEXT, "title": ODD_TEXT, "message": ODD_TEXT,
            "value": NUMBERISH, "threshold": NUMBERISH, "ttl": EVENT_TTL,
            "labels": LABELS, "annotations": ANNOTATIONS, "metadata": JSON,
            "recommendations": st.one_of(st.lists(ODD_TEXT, max_size=4), JSON),
            "affected_users": NUMBERISH, "runbook_url": st.one_of(ODD_TEXT, st.just("http://[::1")),
            "dashboard_url": ODD_TEXT, "generator_url": ODD_TEXT, "resolve": st.one_of(st.booleans(), JSON),
            "starts_at": EVENT_TIME_VALUE, "startsAt": EVENT_TIME_VALUE,
        },
    ),
    maybe(type=JSON, severity=JSON, value=JSON, ttl=EVENT_TTL, labels=JSON, unknown=JSON),
)
EVENT_BODY = st.one_of(st.lists(PLAUSIBLE_EVENT, max_size=6), PLAUSIBLE_EVENT)

WEBHOOK_ALERT = st.one_of(
    maybe(status=st.one_of(st.sampled_from(["firing", "resolved", "FIRING", ""]), JSON),
          labels=LABELS, annotations=ANNOTATIONS, startsAt=TIME_VALUE, endsAt=TIME_VALUE,
          generatorURL=st.one_of(ODD_TEXT, JSON), fingerprint=st.one_of(ODD_TEXT, JSON)),
    st.fixed_dictionaries({"labels": LABELS, "status": st.sampled_from(["firing", "resolved"])},
                          optional={"startsAt": TIME, "endsAt": TIME}),
)
WEBHOOK_BODY = st.one_of(
    maybe(version=st.one_of(st.just("4"), st.just("3"), JSON), alerts=st.lists(WEBHOOK_ALERT, max_size=6),
          receiver=st.one_of(ODD_TEXT, JSON), status=st.one_of(ODD_TEXT, JSON),
          groupKey=st.one_of(ODD_TEXT, JSON), groupLabels=JSON, commonLabels=JSON,
          externalURL=ODD_TEXT, truncatedAlerts=NUMBERISH),
    st.fixed_dictionaries({"version": st.just("4"),
                           "alerts": st.lists(WEBHOOK_ALERT, min_size=1, max_size=6)}),
)
WEBHOOK_TTL = st.one_of(st.none(), DURATIONISH.filter(lambda v: isinstance(v, str | int | float)).map(str))


# -- the three ingest endpoints: /api/v2/alerts, native events, the Alertmanager webhook -----


def run_fuzz(daemon: Daemon, path: str, strategy: st.SearchStrategy[bytes]) -> None:
    @FUZZ
    @given(strategy)
    def check(body: bytes) -> None:
        daemon.post(path, body)

    check()


ENDPOINTS = pytest.mark.parametrize("path", [ALERTS, EVENTS, WEBHOOK], ids=["alerts", "events", "webhook"])


@ENDPOINTS
def test_arbitrary_bytes(daemon: Daemon, path: str) -> None:
    run_fuzz(daemon, path, st.binary(max_size=2000))


@ENDPOINTS
def test_arbitrary_json(daemon: Daemon, path: str) -> None:
    run_fuzz(daemon, path, JSON.map(encode))


def test_alerts_plausible(daemon: Daemon) -> None:
    run_fuzz(daemon, ALERTS, ALERT_BODY.map(encode))


def test_events_plausible(daemon: Daemon) -> None:
    run_fuzz(daemon, EVENTS, EVENT_BODY.map(encode))


def test_webhook_plausible(daemon: Daemon) -> None:
    @FUZZ
    @given(WEBHOOK_BODY, WEBHOOK_TTL)
    def check(message: dict[str, Any], ttl: str | None) -> None:
        daemon.post(WEBHOOK, encode(message), None if ttl is None else {"ttl": ttl})

    check()


# -- regression cases: inputs that once broke an endpoint ------------------------------------


DEEP_ARRAY = b"[" * 5000 + b"]" * 5000
DEEP_OBJECT = b'{"a":' * 5000 + b"1" + b"}" * 5000

REGRESSIONS = [
    pytest.param(ALERTS, DEEP_ARRAY, id="alerts-deep-array"),
    pytest.param(EVENTS, DEEP_ARRAY, id="events-deep-array"),
    pytest.param(EVENTS, DEEP_OBJECT, id="events-deep-object"),
    pytest.param(WEBHOOK, DEEP_OBJECT, id="webhook-deep-object"),
    pytest.param(EVENTS, b'{"type":"X","ttl":3e11}', id="events-ttl-past-9999"),
    pytest.param(EVENTS, b'{"type":"X","ttl":"1e308"}', id="events-ttl-1e308"),
    pytest.param(EVENTS, b'[{"type":"X","ttl":99999999999999999999}]', id="events-ttl-big-int"),
    pytest.param(EVENTS, b'{"type":"X","startsAt":"0001-01-01T00:00:00+00:01"}', id="events-start-year-0"),
    pytest.param(EVENTS, b'{"type":"X","starts_at":"9999-12-31T23:59:59-00:01"}',
                 id="events-start-year-10000"),
    # Neighbours of those that always worked.
    pytest.param(ALERTS, b"[" * 200 + b"]" * 200, id="alerts-nested-200"),
    pytest.param(EVENTS, b'{"type":"X","ttl":1e11}', id="events-ttl-1e11"),
    pytest.param(EVENTS, b'{"type":"X","startsAt":"0001-01-01T00:00:00Z","ttl":"1h"}',
                 id="events-start-year-1"),
    pytest.param(ALERTS, b'[{"labels":{"a":"b"},"startsAt":"0001-01-01T00:00:00+14:00"}]',
                 id="alerts-start-edge"),
    pytest.param(WEBHOOK, b'{"version":"4","alerts":[{"labels":{"a":"b"},"status":"resolved",'
                 b'"endsAt":"0001-01-01T00:00:00+14:00"}]}', id="webhook-end-edge"),
    # An end before 1970 once counted as "no end": its expiry timer re-armed itself forever.
    pytest.param(ALERTS, b'[{"labels":{"a":"b"},"startsAt":"1900-01-01T00:00:00Z",'
                 b'"endsAt":"1901-01-01T00:00:00Z"}]', id="alerts-ended-before-1970"),
    # Unknown fields are skipped by the decoder, which recursed through them.
    pytest.param("/api/v2/silences", b'{"x":' + DEEP_ARRAY + b'}', id="silences-deep-unknown-field"),
    pytest.param("/api/tocsin/v1/alerts/x/ack", DEEP_OBJECT, id="ack-deep-object"),
    # A start after 9999 in UTC was stored, and every later GET /api/v2/alerts answered 500.
    pytest.param(ALERTS, b'[{"labels":{"a":"b"},"startsAt":"9999-12-31T23:59:59-01:00"}]',
                 id="alerts-start-past-9999-utc"),
]


@pytest.mark.parametrize(("path", "body"), REGRESSIONS)
def test_regression(daemon: Daemon, path: str, body: bytes) -> None:
    daemon.post(path, body)
    daemon.reads_back()


# -- config loading ---------------------------------------------------------------------------


def load(text: str) -> None:
    try:
        cfg = load_config(text, KINDS, remediation_kinds=REMEDIATION_KINDS)
    except ConfigError:
        return
    assert isinstance(cfg, Config)


CONFIG_REGRESSIONS = [
    pytest.param("route: {receiver: x}\nreceivers: [{name: =}]\n", id="bare-equals"),
    pytest.param("=", id="bare-equals-document"),
    pytest.param("route: !foo x\n", id="unknown-tag"),
    pytest.param("a: !!binary x\n", id="bad-binary"),
    pytest.param("a: !!timestamp x\n", id="bad-timestamp"),
    pytest.param("a: !!float x\n", id="bad-float"),
    pytest.param("a: !!int x\n", id="bad-int"),
    pytest.param("route: !!str\n", id="str-tag"),
    pytest.param("route: {receiver: x}\nreceivers: [{name: '='}]\n", id="quoted-equals"),
]


@pytest.mark.parametrize("text", CONFIG_REGRESSIONS)
def test_config_regression(text: str) -> None:
    with contextlib.suppress(ConfigError):
        load_config(text, KINDS, remediation_kinds=REMEDIATION_KINDS)


def test_bundled_config_loads() -> None:
    # The seed for the mutations below is itself valid.
    assert isinstance(load_config(BUNDLED.read_text(), KINDS, remediation_kinds=REMEDIATION_KINDS), Config)


@FUZZ
@given(st.one_of(st.text(max_size=500), st.binary(max_size=500).map(lambda b: b.decode("latin-1"))))
def test_config_arbitrary_text(text: str) -> None:
    load(text)


def _mutate(lines: list[str], ops: list[tuple[int, int, int, str]]) -> str:
    """Apply line deletions, duplications, moves, character edits, (un)commenting, re-indenting."""
    out = list(lines)
    for kind, pos, other, piece in ops:
        if not out:
            out.append(piece)
            continue
        i = pos % len(out)
        line = out[i]
        cut = other % (len(line) + 1)
        match kind:
            case 0:
                out.pop(i)
            case 1:
                out.insert(i, line)
            case 2:
                out.insert(other % (len(out) + 1), line)
            case 3:
                out[i] = line[:cut] + piece + line[cut:]
            case 4:
                out[i] = line[:cut] + line[cut + 1:]
            case 5:
                out[i] = line.lstrip("#") if line.lstrip().startswith("#") else "#" + line
            case _:
                out[i] = "  " + line if other % 2 else line[2:]
    return "\n".join(out)


YAML_PIECES = st.one_of(
    st.text(max_size=4),
    st.sampled_from([":", "-", " ", "[", "]", "{", "}", "'", '"', "&a", "*a", "!!python/object", "~",
                     "0", "-1", "1e999", "${X}", "null", "yes", "0x", "5m", "-5m", "1y", "999999999999h",
                     "\t", "|", ">", "? ", "<<: *a", "%YAML 1.1"]),
)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 10**6), st.integers(0, 10**6), YAML_PIECES),
                min_size=1, max_size=8))
def test_config_mutated_bundled(ops: list[tuple[int, int, int, str]]) -> None:
    load(_mutate(BUNDLED.read_text().splitlines(), ops))
