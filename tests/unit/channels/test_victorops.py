"""The VictorOps channel against a local server; every request is checked against the REST
endpoint as VictorOps (Splunk On-Call) documents it: ``POST .../alert/<api key>/<routing
key>``, a JSON object of strings with a known ``message_type``."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from tests.unit.channels.oncall import FIRING_LIST, checked_service, config, fire, resolve
from tocsin.core.events import NotificationFailed, NotificationSent
from tocsin.testing import (
    ConfigError,
    EventRecorder,
    RecordingServer,
    advance,
    instant_retries,
    make_config,
    running,
)

KEY = "558e7ebc-cafe-4b6d-a1a2-d1e2f3a4b5c6"
ENTITY = hashlib.sha256(b'{}:{alertname="Disk"}').hexdigest()
MESSAGE_TYPES = ("CRITICAL", "WARNING", "ACKNOWLEDGEMENT", "INFO", "RECOVERY")


def problems(req: RecordingServer.Request) -> list[str]:
    found = []
    if req.method != "POST" or not req.path.startswith("/vo/"):
        found.append(f"unknown request {req.method} {req.path}")
    if req.headers.get("Content-Type") != "application/json":
        found.append("Content-Type must be application/json")
    parts = req.path.split("/")
    if len(parts) != 4 or not all(parts[2:]):
        found.append("the path must end in <api key>/<routing key>")
    body = json.loads(req.body)
    if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
        return [*found, "the body must be an object of strings"]
    if body.get("message_type") not in MESSAGE_TYPES:
        found.append(f"message_type {body.get('message_type')!r}")
    if not body.get("entity_id"):
        found.append("entity_id is required to resolve an incident")
    return found


@pytest.fixture
async def victorops():
    async with checked_service(b'{"result": "success", "entity_id": "x"}', problems) as server:
        yield server


def vo(server: RecordingServer, entry: str = "", *, key: str | None = KEY, **kw: Any) -> str:
    items = ([f"api_key: {key}"] if key else []) + [f"api_url: {server.url}/vo", "routing_key: db",
                                                     *entry.splitlines()]
    return config("victorops", "\n".join(items), **kw)


def sent(server: RecordingServer) -> list[tuple[str, dict]]:
    return [(r.path, json.loads(r.body)) for r in server.requests]


async def test_critical_then_recovery_as_alertmanager(tmp_path, victorops):
    async with running(vo(victorops), tmp_path) as rt:
        await fire(rt)
        await resolve(rt)
    (path, critical), (path2, recovery) = sent(victorops)
    assert path == path2 == f"/vo/{KEY}/db"
    assert critical == {
        "message_type": "CRITICAL",
        "entity_id": ENTITY,
        "entity_display_name": "[FIRING:2] Disk (node critical)",
        "state_message": "disk full\nAlerts Firing:\n" + FIRING_LIST + "\n",
        "monitoring_tool": "tocsin",
    }
    assert recovery["message_type"] == "RECOVERY"
    assert recovery["entity_id"] == ENTITY
    assert recovery["entity_display_name"] == "[RESOLVED] Disk (node critical)"


async def test_send_resolved_false_sends_no_recovery(tmp_path, victorops):
    async with running(vo(victorops, "send_resolved: false"), tmp_path) as rt:
        await fire(rt)
        await resolve(rt)
    assert [b["message_type"] for _, b in sent(victorops)] == ["CRITICAL"]


@pytest.mark.parametrize(("template", "expected"), [
    ("WARNING", "WARNING"), ("INFO", "INFO"), ("'{{ commonLabels.severity|upper }}'", "CRITICAL"),
    ("warning", "CRITICAL"), ("RECOVERY", "CRITICAL"), ("''", "CRITICAL"),
])
async def test_message_type_while_firing(tmp_path, victorops, template, expected):
    async with running(vo(victorops, f"message_type: {template}"), tmp_path) as rt:
        await fire(rt)
    assert [b["message_type"] for _, b in sent(victorops)] == [expected]


async def test_templates_custom_fields_and_the_routing_key(tmp_path, victorops):
    entry = """\
routing_key: 'team-{{ commonLabels.job }}'
state_message: '{{ "y" * 20500 }}'
entity_display_name: '{{ commonLabels.job }} disk'
monitoring_tool: prometheus
custom_fields: {runbook: 'http://wiki/{{ groupLabels.alertname }}', team: db}"""
    async with running(vo(victorops, entry), tmp_path) as rt:
        await fire(rt)
    ((path, body),) = sent(victorops)
    assert path == f"/vo/{KEY}/team-node"
    assert body["state_message"] == "y" * 20479 + "…"  # Alertmanager's 20480 characters
    assert (body["entity_display_name"], body["monitoring_tool"]) == ("node disk", "prometheus")
    assert (body["runbook"], body["team"]) == ("http://wiki/Disk", "db")


async def test_global_key_and_url(tmp_path, victorops):
    glob = f"  victorops_api_key: {KEY}\n  victorops_api_url: {victorops.url}/vo/"
    async with running(config("victorops", "routing_key: db", global_=glob), tmp_path) as rt:
        await fire(rt)
    assert [p for p, _ in sent(victorops)] == [f"/vo/{KEY}/db"]


async def test_key_file_is_read_at_each_send(tmp_path, victorops):
    key = tmp_path / "key"
    key.write_text("first\n")
    async with running(vo(victorops, f"api_key_file: {key}", key=None), tmp_path) as rt:
        await fire(rt)
        key.write_text("second")
        await resolve(rt)
    assert [p for p, _ in sent(victorops)] == ["/vo/first/db", "/vo/second/db"]


@pytest.mark.parametrize(("status", "attempts"), [(500, 2), (502, 2), (429, 1), (400, 1), (404, 1)])
async def test_retries_as_alertmanager(tmp_path, victorops, status, attempts):
    events = EventRecorder()
    victorops.answer_next(status, body=b'{"result": "failure"}')
    async with running(vo(victorops), tmp_path, plugins=[events]) as rt:
        instant_retries(rt, move_clock=False)
        await fire(rt)
    assert len(victorops.requests) == attempts
    if attempts == 2:
        assert [e.attempts for e in events.of(NotificationSent)] == [2]
    else:
        (failed,) = events.of(NotificationFailed)
        assert f"HTTP {status}" in failed.error
        assert KEY not in failed.error  # the key is in the URL: errors show its host only


async def test_acknowledging_in_tocsin_acknowledges_the_incident(tmp_path, victorops):
    async with running(vo(victorops), tmp_path) as rt:
        await fire(rt)
        fp = next(iter(rt.alerts)).fingerprint
        await rt.lifecycle.acknowledge(fp, by="alice", note="on it")
        await advance(rt, 0)
    (_, critical), (_, ack) = sent(victorops)
    assert ack["message_type"] == "ACKNOWLEDGEMENT"
    assert ack["entity_id"] == critical["entity_id"]
    assert ack["state_message"] == "Acknowledged by alice: on it"


# -- configuration ---------------------------------------------------------------------------


def test_alertmanagers_defaults_load_as_tocsins():
    shown = """\
api_key: <secret>
api_url: https://alert.victorops.com/integrations/generic/20131114/alert/
routing_key: db
message_type: CRITICAL
state_message: '{{ template "victorops.default.state_message" . }}'
entity_display_name: '{{ template "victorops.default.entity_display_name" . }}'
monitoring_tool: '{{ template "victorops.default.monitoring_tool" . }}'"""
    (spec,) = make_config(config("victorops", shown)).receivers["oncall"].integrations
    defaults = make_config(config("victorops", "api_key: k\nrouting_key: db")).receivers["oncall"]
    for key in ("message_type", "state_message", "entity_display_name", "monitoring_tool"):
        assert getattr(spec.config, key) == getattr(defaults.integrations[0].config, key)


@pytest.mark.parametrize(("entry", "path", "message"), [
    ("routing_key: db", "victorops_configs[0].api_key", "no VictorOps API key"),
    ("api_key: k", "victorops_configs[0].routing_key", "missing routing key"),
    ("api_key: k\nrouting_key: db\napi_key_file: /k", "victorops_configs[0].api_key_file", "not both"),
    ("api_key: k\nrouting_key: db\ncustom_fields: {entity_state: x}",
     "victorops_configs[0].custom_fields.entity_state", "cannot be a custom field"),
    ("api_key: k\nrouting_key: db\napi_url: alert.victorops.com", "victorops_configs[0].api_url",
     "invalid URL"),
])
def test_config_errors_name_their_path(entry, path, message):
    with pytest.raises(ConfigError) as err:
        make_config(config("victorops", entry))
    found = [(p.path, p.message) for p in err.value.problems]
    assert any(p == f"receivers[0].{path}" and message in m for p, m in found), found


def test_global_key_and_key_file_are_exclusive():
    glob = "  victorops_api_key: a\n  victorops_api_key_file: /k"
    with pytest.raises(ConfigError) as err:
        make_config(config("victorops", "routing_key: db", global_=glob))
    found = [(p.path, p.message) for p in err.value.problems]
    assert any(p == "global.victorops_api_key_file" and "not both" in m for p, m in found), found
