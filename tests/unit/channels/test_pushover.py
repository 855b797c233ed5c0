"""The Pushover channel against a local server; every request is checked against Pushover's
Message API as documented: a form-encoded POST to ``/1/messages.json`` with ``token``,
``user`` and ``message``, the lengths of title, message and url, a priority of -2 to 2,
and ``retry`` (at least 30 s) and ``expire`` (at most 3 h) for an emergency."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

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
    running,
)

TOKEN = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
USER = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
PARAMS = {"token", "user", "message", "title", "url", "url_title", "priority", "retry", "expire", "sound",
          "html", "ttl", "device", "timestamp", "monospace"}


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def problems(req: RecordingServer.Request) -> list[str]:
    found = []
    if (req.method, req.path) != ("POST", "/1/messages.json") or req.query:
        found.append(f"unknown request {req.method} {req.path}?{req.query}")
    if req.headers.get("Content-Type") != "application/x-www-form-urlencoded":
        found.append("Content-Type must be application/x-www-form-urlencoded")
    p = dict(parse_qsl(req.body.decode(), keep_blank_values=True))
    found += [f"unknown parameter {k}" for k in set(p) - PARAMS]
    found += [f"{k} is required" for k in ("token", "user", "message") if not p.get(k)]
    for key, limit in (("title", 250), ("message", 1024), ("url", 512), ("url_title", 100)):
        if len(p.get(key, "")) > limit:
            found.append(f"{key} is over {limit} characters")
    priority = _int(p.get("priority") or "0")
    if priority is None or not -2 <= priority <= 2:
        found.append(f"priority {p.get('priority')!r}")
    if priority == 2 and not ((_int(p.get("retry", "")) or 0) >= 30
                              and 0 < (_int(p.get("expire", "")) or 0) <= 10800):
        found.append("an emergency needs retry >= 30 and expire <= 10800")
    if p.get("html", "1") != "1" or ("ttl" in p and (_int(p["ttl"]) or 0) <= 0):
        found.append("html is 1; ttl a positive number of seconds")
    return found


@pytest.fixture
async def pushover():
    async with checked_service(b'{"status": 1, "request": "647d2300-702c-4b38-8b2f-d56326ae460b"}',
                               problems) as server:
        yield server


def po(server: RecordingServer, entry: str = "", **kw: Any) -> str:
    items = [f"token: {TOKEN}", f"user_key: {USER}", f"api_url: {server.url}/1/messages.json",
             *entry.splitlines()]
    return config("pushover", "\n".join(items), **kw)


def sent(server: RecordingServer) -> list[dict[str, str]]:
    return [dict(parse_qsl(r.body.decode(), keep_blank_values=True)) for r in server.requests]


async def test_emergency_then_normal_as_alertmanager(tmp_path, pushover):
    async with running(po(pushover), tmp_path) as rt:
        await fire(rt)
        await resolve(rt)
    firing, resolved = sent(pushover)
    assert firing == {
        "token": TOKEN, "user": USER,
        "title": "[FIRING:2] Disk (node critical)",
        "message": "disk full\n\nAlerts Firing:\n" + FIRING_LIST.rstrip("\n"),
        "url": f"{EXTERNAL}/#/alerts?receiver=oncall", "url_title": "",
        "priority": "2", "retry": "60", "expire": "3600", "sound": "",
    }
    assert (resolved["title"], resolved["priority"]) == ("[RESOLVED] Disk (node critical)", "0")
    assert resolved["message"].startswith("disk full\n\n\nAlerts Resolved:\nLabels:\n")


async def test_send_resolved_false_sends_no_resolved_message(tmp_path, pushover):
    async with running(po(pushover, "send_resolved: false"), tmp_path) as rt:
        await fire(rt)
        await resolve(rt)
    assert [m["priority"] for m in sent(pushover)] == ["2"]


async def test_every_field_and_the_limits(tmp_path, pushover):
    entry = """\
title: '{{ "t" * 300 }}'
message: '{{ "m" * 2000 }}'
url: 'http://x/{{ "u" * 600 }}'
url_title: Runbook
sound: siren
priority: '{{ "1" if commonLabels.severity == "critical" else "0" }}'
retry: 10s
expire: 5h
ttl: 1h"""
    async with running(po(pushover, entry), tmp_path) as rt:
        await fire(rt)
    (m,) = sent(pushover)
    assert m["title"] == "t" * 249 + "…"  # Alertmanager's cuts, to Pushover's limits
    assert m["message"] == "m" * 1023 + "…"
    assert m["url"] == "http://x/" + "u" * 502 + "…"
    assert (m["url_title"], m["sound"], m["priority"]) == ("Runbook", "siren", "1")
    assert (m["retry"], m["expire"], m["ttl"]) == ("10", "18000", "3600")  # as set: not an emergency


async def test_an_emergency_is_kept_within_pushovers_bounds(tmp_path, pushover):
    async with running(po(pushover, "retry: 10s\nexpire: 5h"), tmp_path) as rt:
        await fire(rt)
    (m,) = sent(pushover)
    assert (m["priority"], m["retry"], m["expire"]) == ("2", "30", "10800")


async def test_html_escapes_what_it_renders(tmp_path, pushover):
    entry = "html: true\nmessage: '<b>{{ commonLabels.job }}</b> {{ \"<i>\" }}'"
    async with running(po(pushover, entry), tmp_path) as rt:
        await fire(rt)
    (m,) = sent(pushover)
    assert (m["html"], m["message"]) == ("1", "<b>node</b> &lt;i&gt;")


async def test_an_empty_message_says_so(tmp_path, pushover):
    async with running(po(pushover, "message: '  '"), tmp_path) as rt:
        await fire(rt)
    assert sent(pushover)[0]["message"] == "(no details)"


async def test_secret_files_are_read_at_each_send(tmp_path, pushover):
    token, user = tmp_path / "token", tmp_path / "user"
    token.write_text(TOKEN + "\n")
    user.write_text(USER + "\n")
    items = [f"token_file: {token}", f"user_key_file: {user}", f"api_url: {pushover.url}/1/messages.json"]
    async with running(config("pushover", "\n".join(items)), tmp_path) as rt:
        await fire(rt)
        token.write_text("a" * 30)
        await resolve(rt)
    assert [(m["token"], m["user"]) for m in sent(pushover)] == [(TOKEN, USER), ("a" * 30, USER)]


@pytest.mark.parametrize(("status", "attempts"), [(500, 2), (503, 2), (429, 1), (400, 1)])
async def test_retries_as_alertmanager(tmp_path, pushover, status, attempts):
    events = EventRecorder()
    pushover.answer_next(status, body=b'{"status": 0, "errors": ["no"]}')
    async with running(po(pushover), tmp_path, plugins=[events]) as rt:
        instant_retries(rt, move_clock=False)
        await fire(rt)
    assert len(pushover.requests) == attempts
    if attempts == 2:
        assert [e.attempts for e in events.of(NotificationSent)] == [2]
    else:
        (failed,) = events.of(NotificationFailed)
        assert f"HTTP {status}" in failed.error
        assert TOKEN not in failed.error
        assert USER not in failed.error


async def test_an_acknowledgement_pages_nobody(tmp_path, pushover):
    async with running(po(pushover), tmp_path) as rt:
        await fire(rt)
        fp = next(iter(rt.alerts)).fingerprint
        await rt.lifecycle.acknowledge(fp, by="alice", note="on it")
        await advance(rt, 0)
    _, ack = sent(pushover)
    assert ack["title"] == "Acknowledged by alice: on it · [FIRING:1] Disk (a node critical)"
    assert ack["priority"] == "0"


# -- configuration ---------------------------------------------------------------------------


def test_alertmanagers_defaults_load_as_tocsins():
    shown = """\
user_key: <secret>
token: <secret>
title: '{{ template "pushover.default.title" . }}'
message: '{{ template "pushover.default.message" . }}'
url: '{{ template "pushover.default.url" . }}'
priority: '{{ if eq .Status "firing" }}2{{ else }}0{{ end }}'
retry: 1m0s
expire: 1h0m0s
html: false"""
    (spec,) = make_config(config("pushover", shown)).receivers["oncall"].integrations
    defaults = make_config(config("pushover", "user_key: u\ntoken: t")).receivers["oncall"]
    for key in ("title", "message", "url", "priority", "retry", "expire", "html"):
        assert getattr(spec.config, key) == getattr(defaults.integrations[0].config, key)


@pytest.mark.parametrize(("entry", "path", "message"), [
    ("token: t", "pushover_configs[0].user_key", "missing user key"),
    ("user_key: u", "pushover_configs[0].token", "missing token"),
    ("user_key: u\ntoken: t\ntoken_file: /t", "pushover_configs[0].token_file", "not both"),
    ("user_key: u\ntoken: t\nretry: soon", "pushover_configs[0].retry", "duration"),
    ("user_key: u\ntoken: t\ndevice: phone", "pushover_configs[0].device", "unknown field"),
])
def test_config_errors_name_their_path(entry, path, message):
    with pytest.raises(ConfigError) as err:
        make_config(config("pushover", entry))
    found = [(p.path, p.message) for p in err.value.problems]
    assert any(p == f"receivers[0].{path}" and message in m for p, m in found), found
