"""The PagerDuty channel against a local Events API v2 that checks every event as
PagerDuty documents it (required fields, enums, lengths, types) and answers as
PagerDuty does: 202, 400 for an invalid event, 429, 5xx."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.unit.channels.providers import context, provider
from tests.unit.fakeservice import serving
from tocsin.channels import ChannelContext, DeliveryError
from tocsin.channels.pagerduty import (
    PagerdutyChannel,
    change_events_url,
    dedup_key,
    send_change_event,
    severity_level,
)
from tocsin.config.document import ConfigError
from tocsin.core.events import NotificationFailed, NotificationSent
from tocsin.core.models import Alert, Notification
from tocsin.core.timefmt import format_ts
from tocsin.testing import EventRecorder, advance, instant_retries, make_config, no_jitter, post, running

EXTERNAL = "http://tocsin.example:9095"
KEY = "0123456789abcdef0123456789abcdef"  # integration keys are 32 characters
OTHER_KEY = "fedcba9876543210fedcba9876543210"


# -- a PagerDuty Events API v2 that validates what it gets -----------------------------------


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _timestamp_ok(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _https(v: Any) -> bool:
    return isinstance(v, str) and urlsplit(v).scheme == "https" and bool(urlsplit(v).netloc)


def _links(links: Any, problems: list[str]) -> None:
    if not isinstance(links, list):
        problems.append("links must be an array")
        return
    for i, link in enumerate(links):
        if not isinstance(link, dict) or set(link) - {"href", "text"}:
            problems.append(f"links[{i}]: an object with href and text")
        elif not _is_str(link.get("href")) or not link["href"]:
            problems.append(f"links[{i}].href is required")
        elif "text" in link and not _is_str(link["text"]):
            problems.append(f"links[{i}].text must be a string")


def _images(images: Any, problems: list[str]) -> None:
    if not isinstance(images, list):
        problems.append("images must be an array")
        return
    for i, img in enumerate(images):
        if not isinstance(img, dict) or set(img) - {"src", "href", "alt"}:
            problems.append(f"images[{i}]: an object with src, href, alt")
        elif not _https(img.get("src")):
            problems.append(f"images[{i}].src must be an https URL")
        elif any(k in img and not _is_str(img[k]) for k in ("href", "alt")):
            problems.append(f"images[{i}]: href and alt are strings")


def _event_envelope(body: dict, problems: list[str]) -> None:
    extra = set(body) - {"routing_key", "event_action", "dedup_key", "payload", "client", "client_url",
                         "images", "links"}
    if extra:
        problems.append(f"unknown fields {sorted(extra)}")
    if not _is_str(body.get("routing_key")) or len(body["routing_key"]) != 32:
        problems.append("routing_key must be a 32 character integration key")
    action = body.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        problems.append("event_action must be trigger, acknowledge or resolve")
    if "dedup_key" in body and (not _is_str(body["dedup_key"]) or not 0 < len(body["dedup_key"]) <= 255):
        problems.append("dedup_key must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and "dedup_key" not in body:
        problems.append("dedup_key is required to acknowledge or resolve")
    if body.get("payload") is None and action == "trigger":
        problems.append("payload is required to trigger")
    for key in ("client", "client_url"):
        if key in body and not _is_str(body[key]):
            problems.append(f"{key} must be a string")


def _event_payload(payload: Any, problems: list[str]) -> None:
    if not isinstance(payload, dict):
        problems.append("payload must be an object")
        return
    extra = set(payload) - {"summary", "source", "severity", "timestamp", "component", "group",
                            "class", "custom_details"}
    if extra:
        problems.append(f"payload: unknown fields {sorted(extra)}")
    summary = payload.get("summary")
    if not _is_str(summary) or not summary:
        problems.append("payload.summary is required")
    elif len(summary) > 1024:
        problems.append(f"payload.summary is {len(summary)} characters, more than 1024")
    if not _is_str(payload.get("source")) or not payload["source"]:
        problems.append("payload.source is required")
    if payload.get("severity") not in ("critical", "error", "warning", "info"):
        problems.append(f"payload.severity {payload.get('severity')!r} is not critical, error, "
                        "warning or info")
    if "timestamp" in payload and not _timestamp_ok(payload["timestamp"]):
        problems.append("payload.timestamp must be ISO 8601")
    for key in ("component", "group", "class"):
        if key in payload and not _is_str(payload[key]):
            problems.append(f"payload.{key} must be a string")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        problems.append("payload.custom_details must be an object")


def check_event(body: Any) -> list[str]:
    """Problems for which PagerDuty answers 400 "Event object is invalid"."""
    if not isinstance(body, dict):
        return ["event must be a JSON object"]
    problems: list[str] = []
    _event_envelope(body, problems)
    if body.get("payload") is not None:
        _event_payload(body["payload"], problems)
    if "images" in body:
        _images(body["images"], problems)
    if "links" in body:
        _links(body["links"], problems)
    return problems


def check_change_event(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["event must be a JSON object"]
    problems: list[str] = []
    if set(body) - {"routing_key", "payload", "links"}:
        problems.append(f"unknown fields {sorted(set(body) - {'routing_key', 'payload', 'links'})}")
    if not _is_str(body.get("routing_key")) or len(body["routing_key"]) != 32:
        problems.append("routing_key must be a 32 character integration key")
    payload = body.get("payload")
    if not isinstance(payload, dict):
        return [*problems, "payload is required"]
    if set(payload) - {"summary", "source", "timestamp", "custom_details"}:
        problems.append("payload: unknown fields")
    if not _is_str(payload.get("summary")) or not 0 < len(payload["summary"]) <= 1024:
        problems.append("payload.summary: 1 to 1024 characters")
    if "source" in payload and not _is_str(payload["source"]):
        problems.append("payload.source must be a string")
    if "timestamp" in payload and not _timestamp_ok(payload["timestamp"]):
        problems.append("payload.timestamp must be ISO 8601")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        problems.append("payload.custom_details must be an object")
    if "links" in body:
        _links(body["links"], problems)
    return problems


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class PagerDuty:
    requests: list[Request] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: Answers, used in turn, then 202: (status, headers).
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            self.problems.append("body is not JSON")
            return web.json_response({"status": "invalid event", "message": "Event object is invalid",
                                      "errors": ["not JSON"]}, status=400)
        self.requests.append(Request(request.path, dict(request.headers), body))
        if request.headers.get("Content-Type") != "application/json":
            self.problems.append("Content-Type must be application/json")
        if request.path.endswith("/v2/change/enqueue"):
            found = check_change_event(body)
        elif request.path.endswith("/v2/enqueue"):
            found = check_event(body)
        else:
            return web.Response(status=404)
        if found:
            self.problems.extend(found)
            return web.json_response({"status": "invalid event", "message": "Event object is invalid",
                                      "errors": found}, status=400)
        if self.script:
            status, headers = self.script.pop(0)
            if status == 400:
                return web.json_response({"status": "invalid event", "message": "Event object is invalid",
                                          "errors": ["'payload.summary' is missing or blank"]}, status=400)
            return web.json_response({"status": "throttled" if status == 429 else "error",
                                      "message": "try later"}, status=status, headers=headers)
        answer = {"status": "success", "message": "Event processed"}
        if "dedup_key" in body or "event_action" in body:
            answer["dedup_key"] = body.get("dedup_key", "generated")
        return web.json_response(answer, status=202)

    def url(self, path: str = "/v2/enqueue") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    @property
    def events(self) -> list[dict]:
        return [r.body for r in self.requests]


@asynccontextmanager
async def pagerduty() -> AsyncIterator[PagerDuty]:
    pd = PagerDuty()
    async with serving(pd):
        yield pd
    assert pd.problems == [], pd.problems


def config(entry: str = "", *, url: str | None = None, key: str | None = KEY, global_: str = "",
           group_by: str = "[alertname]") -> str:
    items = ([f"routing_key: {key}"] if key else []) + ([f"url: {url}"] if url else [])
    items += [line for line in entry.strip("\n").splitlines() if line.strip()]
    lines = "    pagerduty_configs:\n      - " + "\n        ".join(items or ["{}"]) + "\n"
    return f"""
global:
  resolve_timeout: 1h
{global_}
route:
  receiver: oncall
  group_by: {group_by}
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
server:
  external_url: {EXTERNAL}
receivers:
  - name: oncall
{lines}"""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- events ----------------------------------------------------------------------------------


async def test_trigger_event(tmp_path):
    async with pagerduty() as pd:
        async with running(config(url=pd.url()), tmp_path) as rt:
            starts = rt.clock.now() - 600
            await post(
                rt,
                {"labels": {"alertname": "Disk", "job": "node", "instance": "b"},
                 "annotations": {"summary": "disk full"}, "startsAt": format_ts(starts + 60),
                 "generatorURL": "http://prom:9090/graph"},
                {"labels": {"alertname": "Disk", "job": "node", "instance": "a"},
                 "startsAt": format_ts(starts)},
            )
            await advance(rt, 30)
        assert pd.problems == []
        (event,) = pd.events
        assert pd.requests[0].path == "/v2/enqueue"
        details = event["payload"].pop("custom_details")
        assert event == {
            "routing_key": KEY,
            "event_action": "trigger",
            "dedup_key": sha256('{}:{alertname="Disk"}'),
            "payload": {
                "summary": "[FIRING:2] Disk (node)",
                "source": "tocsin",
                "severity": "error",  # Alertmanager's default
                "timestamp": format_ts(starts),  # when the earliest alert began
            },
            "client": "tocsin",
            "client_url": f"{EXTERNAL}/#/alerts?receiver=oncall",
        }
        assert details["num_firing"] == "2"
        assert details["num_resolved"] == "0"
        assert details["resolved"] == ""
        assert details["firing"] == (
            "Labels:\n - alertname = Disk\n - instance = a\n - job = node\nAnnotations:\nSource: \n"
            "Labels:\n - alertname = Disk\n - instance = b\n - job = node\nAnnotations:\n"
            " - summary = disk full\nSource: http://prom:9090/graph"
        )


async def test_trigger_then_resolve_with_the_same_dedup_key(tmp_path):
    async with pagerduty() as pd:
        async with running(config(url=pd.url()), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            ends = rt.clock.now()
            await post(rt, {"labels": {"alertname": "A"}, "endsAt": format_ts(ends)})
            await advance(rt, 300)
            assert rt.dispatcher.groups == {}
        assert pd.problems == []
        trigger, resolve = pd.events
        assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
        assert trigger["dedup_key"] == resolve["dedup_key"] == sha256('{}:{alertname="A"}')
        assert resolve["payload"]["summary"] == "[RESOLVED] A"
        assert resolve["payload"]["timestamp"] == format_ts(ends)
        assert resolve["payload"]["custom_details"]["num_resolved"] == "1"


async def test_acknowledging_in_tocsin_acknowledges_the_pagerduty_alert(tmp_path):
    async with pagerduty() as pd:
        async with running(config(url=pd.url()), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A", "instance": "x"}})
            await advance(rt, 30)
            fp = next(iter(rt.alerts)).fingerprint
            await rt.lifecycle.acknowledge(fp, by="alice", note="mine")
            await advance(rt, 0)
        assert pd.problems == []
        trigger, ack = pd.events
        assert ack == {"routing_key": KEY, "event_action": "acknowledge",
                       "dedup_key": trigger["dedup_key"]}


async def test_dedup_key_is_stable_within_a_group_and_differs_across_groups(tmp_path):
    async with pagerduty() as pd:
        async with running(config(url=pd.url()), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A", "instance": "1"}},
                       {"labels": {"alertname": "B", "instance": "1"}})
            await advance(rt, 30)
            await post(rt, {"labels": {"alertname": "A", "instance": "2"}})
            await advance(rt, 300)  # A's group flushes again, with a new alert
            await advance(rt, 3600)  # resolve_timeout passes: both groups resolve
        a, b = sha256('{}:{alertname="A"}'), sha256('{}:{alertname="B"}')
        by_group: dict[str, list[tuple[str, str, str]]] = {}
        for e in pd.events:  # groups flush concurrently: compare each group's own sequence
            name = e["payload"]["summary"].split("] ")[1][0]
            by_group.setdefault(name, []).append((e["payload"]["summary"], e["event_action"], e["dedup_key"]))
        assert by_group == {
            "A": [("[FIRING:1] A (1)", "trigger", a), ("[FIRING:2] A", "trigger", a),
                  ("[RESOLVED] A", "resolve", a)],
            "B": [("[FIRING:1] B (1)", "trigger", b), ("[RESOLVED] B (1)", "resolve", b)],
        }


def test_dedup_key_is_alertmanagers_hash():
    # notify.Key.Hash(): sha256 of the group key, lower-case hex.
    assert dedup_key('{}:{alertname="A"}') == (
        "ad4b39d3af6c5f089ddb8504a474cd124febe3ef322f263d58074fb0c51dc572")
    assert len(dedup_key("x" * 10_000)) == 64


@pytest.mark.parametrize(("label", "expected"), [
    ("critical", "critical"), ("WARN", "warning"), ("Error", "error"), ("info", "info"),
    ("informational", "info"), ("bogus", "error"), (None, "error"),
])
async def test_templated_severity_is_mapped(tmp_path, label, expected):
    async with pagerduty() as pd:
        cfg = config("severity: '{{ commonLabels.severity }}'", url=pd.url())
        async with running(cfg, tmp_path) as rt:
            labels = {"alertname": "A"} | ({"severity": label} if label else {})
            await post(rt, {"labels": labels})
            await advance(rt, 30)
        assert pd.problems == []
        assert pd.events[0]["payload"]["severity"] == expected


def test_severity_level():
    assert [severity_level(s) for s in ("critical", " Warning ", "crit", "page", "")] == [
        "critical", "warning", "critical", None, None]


async def test_fixed_fields_templates_images_and_links(tmp_path):
    entry = """\
severity: warning
client: Monitoring
client_url: https://monitoring.example/alerts
source: "{{ commonLabels.instance }}"
class: "{{ commonLabels.alertname|lower }}"
component: database
group: "{{ commonLabels.team }}"
description: "{{ commonLabels.alertname }} on {{ commonLabels.instance }}: {{ commonAnnotations.summary }}"
details: {team: "{{ commonLabels.team }}", num_firing: "{{ firing|length }} alerts"}
images: [{src: "https://graphs.example/{{ commonLabels.alertname }}.png", href: "https://g.example", alt: graph}, {src: "{{ commonAnnotations.nothing }}"}]
links: [{href: "{{ commonAnnotations.runbook_url }}", text: Runbook}, {href: "https://x.example/a"}, {href: "{{ commonAnnotations.nothing }}", text: gone}]
"""  # noqa: E501
    async with pagerduty() as pd:
        async with running(config(entry, url=pd.url()), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "Disk", "instance": "db1", "team": "dba"},
                            "annotations": {"summary": "full", "runbook_url": "https://rb.example/disk"}})
            await advance(rt, 30)
        assert pd.problems == []
        (e,) = pd.events
        payload = e["payload"]
        assert payload["summary"] == "Disk on db1: full"
        assert (payload["severity"], payload["source"], payload["class"], payload["component"],
                payload["group"]) == ("warning", "db1", "disk", "database", "dba")
        assert (e["client"], e["client_url"]) == ("Monitoring", "https://monitoring.example/alerts")
        assert payload["custom_details"]["team"] == "dba"
        assert payload["custom_details"]["num_firing"] == "1 alerts"  # overrides the default
        assert "firing" in payload["custom_details"]  # other defaults stay
        assert e["images"] == [{"src": "https://graphs.example/Disk.png", "href": "https://g.example",
                                "alt": "graph"}]
        assert e["links"] == [{"href": "https://rb.example/disk", "text": "Runbook"},
                              {"href": "https://x.example/a", "text": "https://x.example/a"}]


async def test_summary_is_cut_to_1024_characters(tmp_path):
    async with pagerduty() as pd:
        cfg = config("description: '{{ commonAnnotations.summary }}'", url=pd.url())
        async with running(cfg, tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A"}, "annotations": {"summary": "é" * 5000}})
            await advance(rt, 30)
        assert pd.problems == []
        summary = pd.events[0]["payload"]["summary"]
        assert len(summary) == 1024
        assert summary.endswith("…")


async def test_oversized_event_drops_custom_details(tmp_path):
    async with pagerduty() as pd:
        async with running(config(url=pd.url()), tmp_path) as rt:
            await post(rt, *({"labels": {"alertname": "A", "instance": str(i)},
                              "annotations": {"description": "x" * 10_000}} for i in range(60)))
            await advance(rt, 30)
        assert pd.problems == []
        (e,) = pd.events
        assert list(e["payload"]["custom_details"]) == ["error"]
        assert len(json.dumps(e)) < 512_000


async def test_a_broken_template_falls_back(tmp_path):
    entry = "description: '{{ 1 / 0 }}'\nseverity: '{{ nope.x() }}'\nsource: '{{ 1 / 0 }}'"
    async with pagerduty() as pd:
        with structlog.testing.capture_logs() as logs:
            async with running(config(entry, url=pd.url()), tmp_path) as rt:
                await post(rt, {"labels": {"alertname": "A"}})
                await advance(rt, 30)
        assert pd.problems == []
        payload = pd.events[0]["payload"]
        assert payload["summary"] == "[FIRING:1] A (oncall)"
        assert payload["severity"] == "error"
        assert payload["source"] == "[FIRING:1] A (oncall)"
        failed = {e["template"] for e in logs if e["event"].startswith("template failed")}
        assert failed == {"oncall/pagerduty[0].description", "oncall/pagerduty[0].severity",
                          "oncall/pagerduty[0].source"}


async def test_send_resolved_false_sends_no_resolve(tmp_path):
    async with pagerduty() as pd:
        async with running(config("send_resolved: false", url=pd.url()), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            await post(rt, {"labels": {"alertname": "A"}, "endsAt": format_ts(rt.clock.now())})
            await advance(rt, 300)
        assert [e["event_action"] for e in pd.events] == ["trigger"]


async def test_global_pagerduty_url(tmp_path):
    async with pagerduty() as pd:
        cfg = config(global_=f"  pagerduty_url: {pd.url('/eu/v2/enqueue')}")
        async with running(cfg, tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
        assert [r.path for r in pd.requests] == ["/eu/v2/enqueue"]


# -- delivery --------------------------------------------------------------------------------


async def test_retries_on_500_then_succeeds(tmp_path):
    events = EventRecorder()
    async with pagerduty() as pd:
        pd.script = [(500, {}), (502, {})]
        async with running(config(url=pd.url()), tmp_path, plugins=[events]) as rt:
            sleep = instant_retries(rt, move_clock=False)
            await post(rt, {"labels": {"alertname": "A"}})
            with no_jitter():
                await advance(rt, 30)
            assert sleep.delays == [0.5, 0.75]
        assert len(pd.requests) == 3
        assert pd.events[0] == pd.events[2]
        (sent,) = events.of(NotificationSent)
        assert (sent.integration, sent.attempts) == ("pagerduty[0]", 3)


async def test_429_retry_after_is_honoured(tmp_path):
    events = EventRecorder()
    async with pagerduty() as pd:
        pd.script = [(429, {"Retry-After": "30"})]
        async with running(config(url=pd.url()), tmp_path, plugins=[events]) as rt:
            sleep = instant_retries(rt, move_clock=False)
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            assert sleep.delays == [30.0]
        assert len(pd.requests) == 2
        assert [e.attempts for e in events.of(NotificationSent)] == [2]


async def test_400_is_not_retried(tmp_path):
    events = EventRecorder()
    async with pagerduty() as pd:
        pd.script = [(400, {})]
        async with running(config(url=pd.url()), tmp_path, plugins=[events]) as rt:
            sleep = instant_retries(rt, move_clock=False)
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            assert sleep.delays == []
        assert len(pd.requests) == 1
        (failed,) = events.of(NotificationFailed)
        assert failed.attempts == 1
        assert "HTTP 400" in failed.error
        assert "Event object is invalid" in failed.error
        assert KEY not in failed.error


async def test_routing_key_file_is_read_at_each_send(tmp_path):
    secret = tmp_path / "pd-key"
    secret.write_text(KEY + "\n")
    async with pagerduty() as pd:
        async with running(config(f"routing_key_file: {secret}", url=pd.url(), key=None), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            secret.write_text(OTHER_KEY)
            await post(rt, {"labels": {"alertname": "B"}})
            await advance(rt, 30)
        assert pd.problems == []
        assert [e["routing_key"] for e in pd.events] == [KEY, OTHER_KEY]


async def test_missing_routing_key_file_is_not_retried(tmp_path):
    events = EventRecorder()
    cfg = config(f"routing_key_file: {tmp_path / 'nope'}", url="http://127.0.0.1:1/v2/enqueue", key=None)
    async with running(cfg, tmp_path, plugins=[events]) as rt:
        instant_retries(rt, move_clock=False)
        await post(rt, {"labels": {"alertname": "A"}})
        await advance(rt, 30)
    (failed,) = events.of(NotificationFailed)
    assert failed.attempts == 1
    assert "routing_key_file" in failed.error


def test_render_hides_the_routing_key_and_reads_no_file(tmp_path):
    cfg = make_config(config(f"routing_key_file: {tmp_path / 'absent'}", key=None))
    (spec,) = cfg.receivers["oncall"].integrations
    ctx = ChannelContext(session=None, external_url=EXTERNAL, global_config=cfg.global_,  # type: ignore[arg-type]
                         receiver="oncall", integration=spec.name, templates=cfg.templates)
    channel = PagerdutyChannel(spec.config, ctx)
    alert = Alert(fingerprint="f", labels={"alertname": "A"}, starts_at=1_700_000_000.0, ends_at=0.0)
    n = Notification(receiver="oncall", group_key="{}:{}", group_labels={}, alerts=[alert],
                     now=1_700_000_000.0)
    body = json.loads(channel.render(n))
    assert body["routing_key"] == "<secret>"
    body["routing_key"] = KEY
    assert check_event(body) == []
    assert channel.url == "https://events.pagerduty.com/v2/enqueue"


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "key", "path", "message"), [
    ("", None, "pagerduty_configs[0].routing_key", "missing routing key"),
    ("routing_key: ''", None, "pagerduty_configs[0].routing_key", "missing routing key"),
    ("routing_key_file: /k", KEY, "pagerduty_configs[0].routing_key_file", "not both"),
    ("url: events.pagerduty.com", KEY, "pagerduty_configs[0].url", "invalid URL"),
    ("images: [{alt: x}]", KEY, "pagerduty_configs[0].images[0].src", "missing required field"),
    ("links: [{text: x}]", KEY, "pagerduty_configs[0].links[0].href", "missing required field"),
    ("details: {a: '{{ x'}", KEY, "pagerduty_configs[0].details.a", "template syntax error"),
    ("service_key: abc\nservice_key_file: /k", None, "pagerduty_configs[0].service_key_file", "not both"),
])
def test_config_errors_name_their_path(entry, key, path, message):
    with pytest.raises(ConfigError) as err:
        make_config(config(entry, key=key))
    problems = [(p.path, p.message) for p in err.value.problems]
    assert any(p == f"receivers[0].{path}" and message in m for p, m in problems), problems
    assert all(p.line for p in err.value.problems)


def test_defaults():
    cfg = make_config(config())
    (spec,) = cfg.receivers["oncall"].integrations
    assert spec.name == "pagerduty[0]"
    assert spec.config.send_resolved is True
    assert repr(spec.config.routing_key) == "<secret>"


# -- change events ---------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("https://events.pagerduty.com/v2/enqueue", "https://events.pagerduty.com/v2/change/enqueue"),
    ("https://events.eu.pagerduty.com/v2/enqueue/", "https://events.eu.pagerduty.com/v2/change/enqueue"),
    ("http://127.0.0.1:8080/pd/v2/enqueue", "http://127.0.0.1:8080/pd/v2/change/enqueue"),
    ("https://events.pagerduty.com/v2/change/enqueue", "https://events.pagerduty.com/v2/change/enqueue"),
    ("http://proxy.example", "http://proxy.example/v2/change/enqueue"),
])
def test_change_events_url(url, expected):
    assert change_events_url(url) == expected


def test_change_events_url_refuses_a_guess():
    with pytest.raises(ValueError, match="cannot derive"):
        change_events_url("https://example.com/hooks/pd")


async def test_send_change_event():
    async with pagerduty() as pd, aiohttp.ClientSession() as session:
        status = await send_change_event(
            session, pd.url(), KEY, "Restarted db1 " + "x" * 2000, "tocsin",
            {"remediation": "restart", "attempt": 1},
            [{"href": "https://runbooks.example/db", "text": "runbook"}, {"href": ""}],
            5.0, timestamp=1_700_000_000.0,
        )
        assert status == 202
        assert pd.problems == []
        (req,) = pd.requests
        assert req.path == "/v2/change/enqueue"
        body = req.body
        assert body["routing_key"] == KEY
        assert len(body["payload"]["summary"]) == 1024
        assert body["payload"]["source"] == "tocsin"
        assert body["payload"]["timestamp"] == "2023-11-14T22:13:20.000Z"
        assert body["payload"]["custom_details"] == {"remediation": "restart", "attempt": 1}
        assert body["links"] == [{"href": "https://runbooks.example/db", "text": "runbook"}]


async def test_send_change_event_errors():
    async with pagerduty() as pd, aiohttp.ClientSession() as session:
        pd.script = [(429, {"Retry-After": "3"})]
        with pytest.raises(DeliveryError) as err:
            await send_change_event(session, pd.url(), KEY, "x", None, None, (), 5.0)
        assert err.value.retryable
        assert err.value.status == 429
        assert err.value.retry_after == 3.0
        with pytest.raises(DeliveryError) as err:
            await send_change_event(session, pd.url(), "short", "x")  # PagerDuty: 400
        assert not err.value.retryable
        assert err.value.status == 400
        with pytest.raises(DeliveryError) as err:
            await send_change_event(session, pd.url(), "", "x")
        assert not err.value.retryable
        assert err.value.status is None
        assert len(pd.requests) == 2
        pd.problems.clear()  # the short key was refused on purpose


# -- Events API v1 (service_key) ---------------------------------------------------------------


async def test_a_service_key_sends_alertmanagers_v1_events():
    async with provider() as pd, context() as ctx:
        cfg = make_config(config(f"service_key: {OTHER_KEY}\nevents_v1_url: {pd.url}/v1\n"
                                 "description: '{{ .CommonLabels.alertname }} is {{ .Status }}'\n"
                                 "details: {n: '{{ len .Alerts }}'}", key=None))
        (spec,) = cfg.receivers["oncall"].integrations
        channel = PagerdutyChannel(spec.config, ctx)
        firing = Alert(fingerprint="f", labels={"alertname": "A"}, starts_at=1_700_000_000.0, ends_at=0.0)
        n = Notification(receiver="oncall", group_key="{}:{}", group_labels={}, alerts=[firing],
                         now=1_700_000_100.0)
        await channel.send(n)
        resolved = Alert(fingerprint="f", labels={"alertname": "A"}, starts_at=1_700_000_000.0,
                         ends_at=1_700_000_050.0)
        await channel.send(Notification(receiver="oncall", group_key="{}:{}", group_labels={},
                                        alerts=[resolved], now=1_700_000_100.0))
    trigger, resolve = (r.json() for r in pd.requests)
    assert [r.path for r in pd.requests] == ["/v1", "/v1"]
    assert list(trigger) == ["service_key", "incident_key", "event_type", "description", "event_action",
                             "payload", "client", "client_url", "details"]
    assert trigger["service_key"] == OTHER_KEY
    assert trigger["incident_key"] == dedup_key("{}:{}")
    assert (trigger["event_type"], trigger["description"], trigger["payload"]) == (
        "trigger", "A is firing", None)
    assert trigger["details"]["n"] == "1"
    assert trigger["details"]["num_firing"] == "1"
    assert (resolve["event_type"], "client" in resolve) == ("resolve", False)
    assert json.loads(channel.render(n))["service_key"] == "<secret>"
