"""The OpsGenie channel against a local server; every request is checked against OpsGenie's
Alert API v2 as documented (paths, identifierType, GenieKey authorization, JSON fields,
their types and limits)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest

from tests.unit.channels.oncall import EXTERNAL, FIRING_LIST, checked_service, config, fire, resolve
from tocsin.core.events import NotificationFailed, NotificationSent
from tocsin.testing import (
    ConfigError,
    EventRecorder,
    RecordingServer,
    advance,
    instant_retries,
    make_config,
    post,
    running,
)

KEY = "eb243592-faa2-4ba2-a551q-1afdf565c889"
ALIAS = hashlib.sha256(b'{}:{alertname="Disk"}').hexdigest()

_CREATE_FIELDS = {"message", "alias", "description", "responders", "visibleTo", "actions", "tags",
                  "details", "entity", "source", "priority", "user", "note"}
_ACTION = re.compile(r"/v2/alerts/([0-9a-f]{64})/(close|acknowledge|unacknowledge|notes|message|description)")


def _create_problems(body: dict[str, Any]) -> list[str]:
    problems = [f"unknown field {k}" for k in set(body) - _CREATE_FIELDS]
    if not isinstance(body.get("message"), str) or not 0 < len(body["message"]) <= 130:
        problems.append("message: required, at most 130 characters")
    for key, limit in (("alias", 512), ("description", 15000), ("entity", 512), ("note", 25000)):
        if key in body and (not isinstance(body[key], str) or len(body[key]) > limit):
            problems.append(f"{key}: a string of at most {limit} characters")
    for key, most in (("tags", 20), ("actions", 10)):
        if key in body and (not isinstance(body[key], list) or len(body[key]) > most
                            or not all(isinstance(t, str) and 0 < len(t) <= 50 for t in body[key])):
            problems.append(f"{key}: at most {most} strings of at most 50 characters")
    if "details" in body and not all(isinstance(v, str) for v in body["details"].values()):
        problems.append("details: a map of strings")
    if "priority" in body and body["priority"] not in ("P1", "P2", "P3", "P4", "P5"):
        problems.append("priority: P1 to P5")
    for r in body.get("responders", []):
        if r.get("type") not in ("team", "user", "escalation", "schedule") or not (
                r.get("id") or r.get("name") or r.get("username")):
            problems.append(f"responder {r}: a type and an id, name or username")
    return problems


def problems(req: RecordingServer.Request, key: str = KEY) -> list[str]:
    """What OpsGenie would refuse in ``req``."""
    found = []
    if req.headers.get("Authorization") != f"GenieKey {key}":
        found.append(f"Authorization: {req.headers.get('Authorization')!r}")
    if req.headers.get("Content-Type") != "application/json":
        found.append("Content-Type must be application/json")
    body = json.loads(req.body)
    path = req.path.split("/og", 1)[-1].lstrip("0123456789")
    if path == "/v2/alerts" and req.method == "POST":
        return found + _create_problems(body)
    m = _ACTION.fullmatch(path)
    if m is None or req.query != "identifierType=alias":
        return [*found, f"unknown request {req.method} {req.path}?{req.query}"]
    method = "PUT" if m[2] in ("message", "description") else "POST"
    if req.method != method:
        found.append(f"{m[2]} takes {method}")
    allowed = {"message": {"message"}, "description": {"description"}}.get(m[2], {"user", "source", "note"})
    found += [f"unknown field {k}" for k in set(body) - allowed]
    if m[2] in ("notes", "message") and not body.get(m[2] if m[2] == "message" else "note"):
        found.append(f"{m[2]}: required")
    return found


@pytest.fixture
async def opsgenie():
    async with checked_service(b'{"result": "Request will be processed", "took": 0.1, "requestId": "x"}',
                               lambda r: problems(r, r.headers.get("Authorization", "")[9:]),
                               status=202) as server:
        yield server


def og(server: RecordingServer, entry: str = "", *, key: str | None = KEY, **kw: Any) -> str:
    items = ([f"api_key: {key}"] if key else []) + [f"api_url: {server.url}/og/", *entry.splitlines()]
    return config("opsgenie", "\n".join(items), **kw)


def bodies(server: RecordingServer) -> list[tuple[str, str, Any]]:
    return [(r.method, r.path + (f"?{r.query}" if r.query else ""), json.loads(r.body))
            for r in server.requests]


async def test_create_then_close_as_alertmanager(tmp_path, opsgenie):
    async with running(og(opsgenie), tmp_path) as rt:
        await fire(rt)
        await resolve(rt)
    (m1, p1, create), (m2, p2, close) = bodies(opsgenie)
    assert (m1, p1) == ("POST", "/og/v2/alerts")
    assert create == {
        "alias": ALIAS,
        "message": "[FIRING:2] Disk (node critical)",
        "description": "disk full\nAlerts Firing:\n" + FIRING_LIST + "\n",
        "details": {"alertname": "Disk", "job": "node", "severity": "critical"},
        "source": f"{EXTERNAL}/#/alerts?receiver=oncall",
    }
    assert (m2, p2) == ("POST", f"/og/v2/alerts/{ALIAS}/close?identifierType=alias")
    assert close == {"source": f"{EXTERNAL}/#/alerts?receiver=oncall"}


async def test_send_resolved_false_closes_nothing(tmp_path, opsgenie):
    async with running(og(opsgenie, "send_resolved: false"), tmp_path) as rt:
        await fire(rt)
        await resolve(rt)
    assert [p for _, p, _ in bodies(opsgenie)] == ["/og/v2/alerts"]


async def test_every_field(tmp_path, opsgenie):
    entry = """\
message: '{{ "x" * 200 }}'
description: 'about {{ commonLabels.job }}'
source: prometheus
details: {job: overridden, runbook: 'http://wiki/{{ groupLabels.alertname }}'}
entity: '{{ commonLabels.job }}'
responders: [{name: ops, type: Team}, {name: ' a,b ', type: teams}, {username: '{{ commonLabels.owner }}', type: user}, {id: abc, type: escalation}]
tags: ' {{ commonLabels.severity }},,disk '
actions: 'restart,page'
note: a note
priority: P1"""  # noqa: E501
    async with running(og(opsgenie, entry), tmp_path) as rt:
        await fire(rt)
    ((_, _, create),) = bodies(opsgenie)
    assert create == {
        "alias": ALIAS,
        "message": "x" * 129 + "…",  # cut to OpsGenie's 130 characters, as Alertmanager cuts it
        "description": "about node",
        "details": {"alertname": "Disk", "job": "overridden", "severity": "critical",
                    "runbook": "http://wiki/Disk"},
        "source": "prometheus",
        # teams: one team per name; a responder with no id, name or username is left out
        "responders": [{"name": "ops", "type": "team"}, {"name": "a", "type": "team"},
                       {"name": "b", "type": "team"}, {"id": "abc", "type": "escalation"}],
        "tags": ["critical", "disk"],
        "note": "a note",
        "priority": "P1",
        "entity": "node",
        "actions": ["restart", "page"],
    }


async def test_update_alerts_puts_message_and_description(tmp_path, opsgenie):
    async with running(og(opsgenie, "update_alerts: true\ndescription: details"), tmp_path) as rt:
        await fire(rt)
    assert [(m, p) for m, p, _ in bodies(opsgenie)] == [
        ("POST", "/og/v2/alerts"),
        ("PUT", f"/og/v2/alerts/{ALIAS}/message?identifierType=alias"),
        ("PUT", f"/og/v2/alerts/{ALIAS}/description?identifierType=alias"),
    ]
    assert [b for _, _, b in bodies(opsgenie)][1:] == [
        {"message": "[FIRING:2] Disk (node critical)"}, {"description": "details"}]


async def test_global_key_and_url_and_a_path_without_slash(tmp_path, opsgenie):
    glob = f"  opsgenie_api_key: {KEY}\n  opsgenie_api_url: {opsgenie.url}/og2"
    async with running(config("opsgenie", global_=glob), tmp_path) as rt:
        await fire(rt)
    assert [p for _, p, _ in bodies(opsgenie)] == ["/og2/v2/alerts"]


async def test_key_files_are_read_at_each_send(tmp_path, opsgenie):
    own, shared = tmp_path / "own", tmp_path / "shared"
    own.write_text("own-key\n")
    shared.write_text("shared-key\n")
    cfg = og(opsgenie, f"api_key_file: {own}", key=None, global_=f"  opsgenie_api_key_file: {shared}")
    cfg += f"""  - name: other
    opsgenie_configs: [{{api_url: "{opsgenie.url}/og/"}}]
"""
    routes = "  routes: [{matchers: [team=x], receiver: other}]\n"
    cfg = cfg.replace("  receiver: oncall\n", "  receiver: oncall\n" + routes)
    async with running(cfg, tmp_path) as rt:
        await fire(rt)
        own.write_text("rotated")
        await post(rt, {"labels": {"alertname": "B"}})
        await post(rt, {"labels": {"alertname": "C", "team": "x"}})
        await advance(rt, 30)
    keys = [r.headers["Authorization"] for r in opsgenie.requests]
    assert keys[0] == "GenieKey own-key"
    assert sorted(keys[1:]) == ["GenieKey rotated", "GenieKey shared-key"]


@pytest.mark.parametrize(("status", "attempts"), [(429, 2), (500, 2), (503, 2), (422, 1), (400, 1), (408, 1)])
async def test_retries_as_alertmanager(tmp_path, opsgenie, status, attempts):
    events = EventRecorder()
    opsgenie.answer_next(status, body=b'{"message": "no"}')
    async with running(og(opsgenie), tmp_path, plugins=[events]) as rt:
        instant_retries(rt, move_clock=False)
        await fire(rt)
    assert len(opsgenie.requests) == attempts
    if attempts == 2:
        assert [e.attempts for e in events.of(NotificationSent)] == [2]
    else:
        (failed,) = events.of(NotificationFailed)
        assert f"HTTP {status}" in failed.error
        assert KEY not in failed.error


async def test_acknowledging_in_tocsin_acknowledges_the_opsgenie_alert(tmp_path, opsgenie):
    async with running(og(opsgenie), tmp_path) as rt:
        await fire(rt)
        fp = next(iter(rt.alerts)).fingerprint
        await rt.lifecycle.acknowledge(fp, by="alice", note="on it")
        await advance(rt, 0)
    (_, _, create), (method, path, ack) = bodies(opsgenie)
    assert (method, path) == ("POST", f"/og/v2/alerts/{ALIAS}/acknowledge?identifierType=alias")
    assert ack == {"source": create["source"], "user": "alice", "note": "on it"}


# -- configuration ---------------------------------------------------------------------------


def test_alertmanagers_defaults_load_as_tocsins(tmp_path):
    shown = """\
send_resolved: true
http_config: {follow_redirects: true, enable_http2: true}
api_key: <secret>
api_url: https://api.opsgenie.com/
message: '{{ template "opsgenie.default.message" . }}'
description: '{{ template "opsgenie.default.description" . }}'
source: '{{ template "opsgenie.default.source" . }}'"""
    (spec,) = make_config(config("opsgenie", shown)).receivers["oncall"].integrations
    defaults = make_config(config("opsgenie", "api_key: k")).receivers["oncall"].integrations[0].config
    for key in ("message", "description", "source"):
        assert getattr(spec.config, key) == getattr(defaults, key)


@pytest.mark.parametrize(("entry", "glob", "path", "message"), [
    ("", "", "opsgenie_configs[0].api_key", "no OpsGenie API key"),
    ("api_key: a\napi_key_file: /k", "", "opsgenie_configs[0].api_key_file", "not both"),
    ("api_key: a\nresponders: [{type: team}]", "", "opsgenie_configs[0].responders[0].id",
     "at least one of id, name and username"),
    ("api_key: a\nresponders: [{name: x, type: group}]", "", "opsgenie_configs[0].responders[0].type",
     "team, teams, user, escalation or schedule"),
    ("api_key: a\napi_url: api.opsgenie.com", "", "opsgenie_configs[0].api_url", "invalid URL"),
    ("api_key: a\nmessage: '{{ x'", "", "opsgenie_configs[0].message", "template syntax error"),
    ("api_key: a\nvisible_to: x", "", "opsgenie_configs[0].visible_to", "unknown field"),
])
def test_config_errors_name_their_path(entry, glob, path, message):
    with pytest.raises(ConfigError) as err:
        make_config(config("opsgenie", entry, global_=glob))
    found = [(p.path, p.message) for p in err.value.problems]
    assert any(p == f"receivers[0].{path}" and message in m for p, m in found), found


def test_global_key_and_key_file_are_exclusive():
    with pytest.raises(ConfigError) as err:
        make_config(config("opsgenie", global_="  opsgenie_api_key: a\n  opsgenie_api_key_file: /k"))
    found = [(p.path, p.message) for p in err.value.problems]
    assert any(p == "global.opsgenie_api_key_file" and "not both" in m for p, m in found), found


def test_a_templated_responder_type_is_kept():
    entry = "api_key: a\nresponders: [{name: x, type: '{{ commonLabels.kind }}'}]"
    (spec,) = make_config(config("opsgenie", entry)).receivers["oncall"].integrations
    assert spec.config.responders[0].type == "{{ commonLabels.kind }}"
