"""The Slack channel against a local incoming webhook that checks every message
as Slack documents Block Kit (types, required fields, lengths, counts)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.unit.fakeservice import serving
from tocsin.channels import ChannelContext
from tocsin.channels.slack import (
    SlackChannel,
    SlackConfig,
    cut,
    fingerprints_value,
    labels_value,
    severity_level,
)
from tocsin.config.document import ConfigError
from tocsin.core.events import NotificationFailed, NotificationSent
from tocsin.core.labels import fingerprint
from tocsin.core.models import Alert, Notification
from tocsin.core.timefmt import format_ts
from tocsin.testing import (
    EventRecorder,
    advance,
    instant_retries,
    make_config,
    no_jitter,
    post,
    running,
    wait_until,
)

EXTERNAL = "http://tocsin.example:9095"
RED, ORANGE, BLUE, GREEN = "#d63232", "#f2a33a", "#3a87f2", "#2eb67d"


# -- a Slack incoming webhook that validates what it gets ------------------------------------


def units(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _text_object(obj: Any, where: str, problems: list[str], *, limit: int, plain: bool = False) -> None:
    if not isinstance(obj, dict):
        problems.append(f"{where}: a text object must be an object")
        return
    kinds = {"plain_text"} if plain else {"plain_text", "mrkdwn"}
    if obj.get("type") not in kinds:
        problems.append(f"{where}.type: must be one of {sorted(kinds)}, got {obj.get('type')!r}")
    allowed = {"type", "text", "emoji"} if obj.get("type") == "plain_text" else {"type", "text", "verbatim"}
    if set(obj) - allowed:
        problems.append(f"{where}: unknown keys {sorted(set(obj) - allowed)}")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        problems.append(f"{where}.text: required, a non-empty string")
    elif units(text) > limit:
        problems.append(f"{where}.text: {units(text)} characters, more than {limit}")


def _block_id(block: dict, where: str, problems: list[str]) -> None:
    if "block_id" in block and (not isinstance(block["block_id"], str) or len(block["block_id"]) > 255):
        problems.append(f"{where}.block_id: a string of at most 255 characters")


def _web_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _header(block: dict, w: str, problems: list[str], action_ids: set[str]) -> None:
    if set(block) - {"type", "text", "block_id"}:
        problems.append(f"{w}: unknown keys")
    _text_object(block.get("text"), f"{w}.text", problems, limit=150, plain=True)


def _section(block: dict, w: str, problems: list[str], action_ids: set[str]) -> None:
    if set(block) - {"type", "text", "fields", "block_id", "accessory"}:
        problems.append(f"{w}: unknown keys")
    if "text" not in block and "fields" not in block:
        problems.append(f"{w}: a section needs text or fields")
    if "text" in block:
        _text_object(block["text"], f"{w}.text", problems, limit=3000)
    if "fields" in block:
        fields = block["fields"]
        if not isinstance(fields, list) or not 1 <= len(fields) <= 10:
            problems.append(f"{w}.fields: 1 to 10 text objects")
            return
        for j, f in enumerate(fields):
            _text_object(f, f"{w}.fields[{j}]", problems, limit=2000)


def _actions(block: dict, w: str, problems: list[str], action_ids: set[str]) -> None:
    if set(block) - {"type", "elements", "block_id"}:
        problems.append(f"{w}: unknown keys")
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
        problems.append(f"{w}.elements: 1 to 25 elements")
        return
    for j, el in enumerate(elements):
        _button(el, f"{w}.elements[{j}]", problems, action_ids)


def _button(el: Any, we: str, problems: list[str], action_ids: set[str]) -> None:
    if not isinstance(el, dict) or el.get("type") != "button":
        problems.append(f"{we}: expected a button")
        return
    extra = set(el) - {"type", "text", "url", "action_id", "style", "value", "confirm",
                       "accessibility_label"}
    if extra:
        problems.append(f"{we}: unknown keys {sorted(extra)}")
    _text_object(el.get("text"), f"{we}.text", problems, limit=75, plain=True)
    if "url" in el and (not _web_url(el["url"]) or len(el["url"]) > 3000):
        problems.append(f"{we}.url: an http(s) URL of at most 3000 characters")
    aid = el.get("action_id")
    if aid is not None:
        if not isinstance(aid, str) or not aid or len(aid) > 255:
            problems.append(f"{we}.action_id: 1 to 255 characters")
        elif aid in action_ids:
            problems.append(f"{we}.action_id: {aid!r} is not unique in the message")
        action_ids.add(aid)
    if "style" in el and el["style"] not in ("primary", "danger"):
        problems.append(f"{we}.style: primary or danger")
    if "value" in el and (not isinstance(el["value"], str) or units(el["value"]) > 2000):
        problems.append(f"{we}.value: a string of at most 2000 characters")
    if "url" not in el and "value" not in el:
        problems.append(f"{we}: a button without url or value does nothing")
    if "confirm" in el:
        _confirm(el["confirm"], f"{we}.confirm", problems)


def _context(block: dict, w: str, problems: list[str], action_ids: set[str]) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
        problems.append(f"{w}.elements: 1 to 10 elements")
        return
    for j, el in enumerate(elements):
        _text_object(el, f"{w}.elements[{j}]", problems, limit=3000)


def _divider(block: dict, w: str, problems: list[str], action_ids: set[str]) -> None:
    pass


#: The block types tocsin sends, and the check of each.
BLOCKS = {"header": _header, "section": _section, "actions": _actions, "context": _context,
          "divider": _divider}


def check_blocks(blocks: Any, where: str, problems: list[str], action_ids: set[str]) -> None:
    if not isinstance(blocks, list):
        problems.append(f"{where}: must be an array")
        return
    if len(blocks) > 50:
        problems.append(f"{where}: {len(blocks)} blocks, more than 50")
    for i, block in enumerate(blocks):
        w = f"{where}[{i}]"
        if not isinstance(block, dict):
            problems.append(f"{w}: a block must be an object")
            continue
        _block_id(block, w, problems)
        check = BLOCKS.get(block.get("type"))
        if check is None:
            problems.append(f"{w}.type: unsupported block type {block.get('type')!r}")
        else:
            check(block, w, problems, action_ids)


def _confirm(obj: Any, where: str, problems: list[str]) -> None:
    """A confirmation dialog object."""
    if not isinstance(obj, dict) or set(obj) - {"title", "text", "confirm", "deny", "style"}:
        problems.append(f"{where}: title, text, confirm, deny (and style) only")
        return
    for key, limit in (("title", 100), ("text", 300), ("confirm", 30), ("deny", 30)):
        _text_object(obj.get(key), f"{where}.{key}", problems, limit=limit, plain=True)


TOP_LEVEL = {"text", "blocks", "attachments", "channel", "username", "icon_emoji", "icon_url",
             "link_names", "mrkdwn", "unfurl_links", "unfurl_media", "thread_ts"}
ATTACHMENT = {"color", "blocks", "fallback", "text", "title", "title_link", "pretext", "fields",
              "footer", "mrkdwn_in"}


def check_message(body: Any) -> list[str]:
    """Problems Slack would answer ``invalid_payload`` / ``invalid_blocks`` for."""
    problems: list[str] = []
    if not isinstance(body, dict):
        return ["the payload must be a JSON object"]
    if set(body) - TOP_LEVEL:
        problems.append(f"unknown top-level keys {sorted(set(body) - TOP_LEVEL)}")
    # With blocks, "text" is the notification / accessibility fallback Slack asks for.
    if not isinstance(body.get("text"), str) or not body["text"].strip():
        problems.append("text: a non-empty fallback text is required alongside blocks")
    elif units(body["text"]) > 40000:
        problems.append("text: more than 40000 characters")
    action_ids: set[str] = set()
    if "blocks" in body:
        check_blocks(body["blocks"], "blocks", problems, action_ids)
    for i, att in enumerate(body.get("attachments", [])):
        _attachment(att, f"attachments[{i}]", problems, action_ids)
    _overrides(body, problems)
    return problems


def _attachment(att: Any, w: str, problems: list[str], action_ids: set[str]) -> None:
    if not isinstance(att, dict):
        problems.append(f"{w}: must be an object")
        return
    if set(att) - ATTACHMENT:
        problems.append(f"{w}: unknown keys {sorted(set(att) - ATTACHMENT)}")
    color = att.get("color")
    if color is not None and not (color in ("good", "warning", "danger")
                                  or re.fullmatch(r"#[0-9a-fA-F]{6}", str(color))):
        problems.append(f"{w}.color: a hex colour or good/warning/danger")
    if "blocks" in att:
        check_blocks(att["blocks"], f"{w}.blocks", problems, action_ids)


def _overrides(body: dict, problems: list[str]) -> None:
    """The legacy webhook's channel, username and icon."""
    for key in ("channel", "username"):
        if key in body and (not isinstance(body[key], str) or not body[key]):
            problems.append(f"{key}: a non-empty string")
    if "icon_emoji" in body and not re.fullmatch(r":[^:\s]+:", str(body["icon_emoji"])):
        problems.append("icon_emoji: an emoji code such as :ghost:")
    if "icon_url" in body and not _web_url(body["icon_url"]):
        problems.append("icon_url: a URL")


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class SlackHook:
    requests: list[Request] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: Answers per path, used in turn, then 200 ok: (status, headers, text).
    script: dict[str, list[tuple[int, dict[str, str], str]]] = field(default_factory=dict)
    server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            self.problems.append("body is not JSON")
            return web.Response(status=400, text="invalid_payload")
        self.requests.append(Request(request.path, dict(request.headers), body))
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            self.problems.append("Content-Type is not application/json")
        found = check_message(body)
        if found:
            self.problems.extend(found)
            return web.Response(status=400, text="invalid_blocks")
        queued = self.script.get(request.path)
        if queued:
            status, headers, text = queued.pop(0)
            return web.Response(status=status, headers=headers, text=text)
        return web.Response(status=200, text="ok")

    def url(self, path: str = "/services/T000/B000/XXXXSECRETXXXX") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    @property
    def bodies(self) -> list[dict]:
        return [r.body for r in self.requests]


@asynccontextmanager
async def slack_hook() -> AsyncIterator[SlackHook]:
    hook = SlackHook()
    async with serving(hook):
        yield hook
    assert hook.problems == [], hook.problems


def config(entry: str = "", *, api_url: str | None = None, global_: str = "",
           external: str | None = EXTERNAL) -> str:
    lines = "    slack_configs:\n      - "
    items = ([f"api_url: {api_url}"] if api_url else []) + [
        line for line in entry.strip("\n").splitlines() if line.strip()]
    lines += "\n        ".join(items or ["{}"]) + "\n"
    server = f"server:\n  external_url: {external}\n" if external else ""
    return f"""
global:
  resolve_timeout: 1h
{global_}
route:
  receiver: chat
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
{server}
receivers:
  - name: chat
{lines}"""


def buttons(body: dict) -> dict[str, dict]:
    out = {}
    for block in body["attachments"][0]["blocks"]:
        if block["type"] == "actions":
            for el in block["elements"]:
                out[el["action_id"]] = el
    return out


def fields(body: dict) -> dict[str, str]:
    out = {}
    for block in body["attachments"][0]["blocks"]:
        if block["type"] == "section":
            for f in block["fields"]:
                name, _, value = f["text"].partition("\n")
                out[name.strip("*")] = value
    return out


def section_text(body: dict) -> str:
    return next(b["text"]["text"] for b in body["blocks"] if b["type"] == "section")


def header(body: dict) -> str:
    return body["blocks"][0]["text"]["text"]


# -- the message -----------------------------------------------------------------------------


async def test_grouped_firing_message(tmp_path):
    async with slack_hook() as hook:
        cfg = config("channel: '#ops'\nusername: tocsin\nicon_emoji: ':rotating_light:'",
                     api_url=hook.url())
        async with running(cfg, tmp_path) as rt:
            starts = rt.clock.now() - 3600
            common = {"alertname": "DiskFull", "job": "node", "service": "storage", "severity": "warning"}
            await post(
                rt,
                {"labels": {**common, "instance": "db1:9100"}, "startsAt": format_ts(starts),
                 "annotations": {"summary": "/var is 97% full", "value": "97%",
                                 "runbook_url": "https://runbooks.example/disk"}},
                {"labels": {**common, "instance": "db2:9100"}, "startsAt": format_ts(starts + 600),
                 "annotations": {"summary": "/var is 91% <full> & rising", "value": "91%",
                                 "runbook_url": "https://runbooks.example/disk"}},
            )
            await advance(rt, 30)

        assert len(hook.requests) == 1
        body = hook.bodies[0]
        assert hook.requests[0].path == "/services/T000/B000/XXXXSECRETXXXX"
        assert (body["channel"], body["username"], body["icon_emoji"]) == (
            "#ops", "tocsin", ":rotating_light:")
        # Alertmanager's subject: group label values, then the other common label values.
        assert header(body) == "[FIRING:2] DiskFull (node storage warning)"
        assert body["text"] == "[FIRING:2] DiskFull (node storage warning)"
        text = section_text(body)
        assert text.splitlines() == [
            ":red_circle: *DiskFull* `db1:9100`: /var is 97% full",
            ":red_circle: *DiskFull* `db2:9100`: /var is 91% &lt;full&gt; &amp; rising",
        ]
        att = body["attachments"][0]
        assert att["color"] == ORANGE
        assert fields(body) == {
            "Severity": "warning",
            "Service": "storage",
            "Instance": "db1:9100, db2:9100",
            "Started": "1h 30s ago (2023-11-14 21:13 UTC)",
            "Value": "97%, 91%",
            "Alerts": "2 firing, 0 resolved",
        }
        b = buttons(body)
        assert list(b) == ["runbook-0", "silence", "ack-0", "ack-1"]
        assert b["runbook-0"]["url"] == "https://runbooks.example/disk"
        assert b["runbook-0"]["text"]["text"] == "Runbook"
        silence = urlsplit(b["silence"]["url"])
        assert b["silence"]["url"].startswith(f"{EXTERNAL}/#/silences/new?filter=")
        assert unquote(silence.fragment.split("filter=")[1].split("&")[0]) == (
            '{alertname="DiskFull", job="node", service="storage", severity="warning"}')
        fp1 = fingerprint({**common, "instance": "db1:9100"})
        assert b["ack-0"]["url"] == f"{EXTERNAL}/api/tocsin/v1/alerts/{fp1}/ack"
        assert b["ack-0"]["text"]["text"] == "Ack: db1:9100"
        context = att["blocks"][-1]
        assert context["type"] == "context"
        assert "receiver *chat*" in context["elements"][0]["text"]


async def test_single_alert_shows_its_description_and_one_acknowledge(tmp_path):
    async with slack_hook() as hook:
        async with running(config(api_url=hook.url()), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A", "severity": "info"},
                            "annotations": {"summary": "short", "description": "line 1\nline 2"}})
            await advance(rt, 30)
        body = hook.bodies[0]
        assert section_text(body) == ":red_circle: *A*: short\n>line 1\n>line 2"
        assert body["attachments"][0]["color"] == BLUE
        b = buttons(body)
        assert list(b) == ["silence", "ack-0"]
        assert b["ack-0"]["text"]["text"] == "Acknowledge"
        assert "Alerts" not in fields(body)


@pytest.mark.parametrize(("severity", "color"), [
    ("critical", RED), ("error", RED), ("ERR", RED), ("warning", ORANGE), ("info", BLUE), ("", RED),
    ("bogus", RED),
])
async def test_colour_follows_the_highest_severity(tmp_path, severity, color):
    async with slack_hook() as hook:
        async with running(config(api_url=hook.url()), tmp_path) as rt:
            labels = {"alertname": "A"} | ({"severity": severity} if severity else {})
            await post(rt, {"labels": labels})
            await advance(rt, 30)
        assert hook.bodies[0]["attachments"][0]["color"] == color


def test_severity_levels():
    assert [severity_level(s) for s in ("Critical", " warn ", "information", "page", None)] == [
        "critical", "warning", "info", None, None]


async def test_resolved_message_when_send_resolved(tmp_path):
    async with slack_hook() as hook:
        async with running(config("send_resolved: true", api_url=hook.url()), tmp_path) as rt:
            starts = rt.clock.now()
            alert = {"labels": {"alertname": "A", "severity": "critical"},
                     "annotations": {"runbook_url": "https://rb.example/a"},
                     "startsAt": format_ts(starts)}
            await post(rt, alert)
            await advance(rt, 30)
            await post(rt, alert | {"endsAt": format_ts(rt.clock.now() + 60)})
            await advance(rt, 300)
        assert len(hook.requests) == 2
        body = hook.bodies[1]
        assert header(body) == "[RESOLVED] A (critical)"
        assert section_text(body) == ":large_green_circle: *A*"
        assert body["attachments"][0]["color"] == GREEN
        assert fields(body)["Lasted"] == "1m 30s"
        # Nothing left to silence or acknowledge; the runbook stays useful.
        assert list(buttons(body)) == ["runbook-0"]


async def test_send_resolved_is_false_by_default(tmp_path):
    async with slack_hook() as hook:
        async with running(config(api_url=hook.url()), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            await post(rt, {"labels": {"alertname": "A"}, "endsAt": format_ts(rt.clock.now())})
            await advance(rt, 300)
            assert rt.dispatcher.groups == {}
        assert [header(b) for b in hook.bodies] == ["[FIRING:1] A"]


@pytest.mark.parametrize(("mention", "expected"), [
    ("'@here'", "<!here>"),
    ("'<!channel>'", "<!channel>"),
    ("'<!subteam^S0123> <@U0456>'", "<!subteam^S0123> <@U0456>"),
])
async def test_mention_only_when_a_firing_alert_is_critical(tmp_path, mention, expected):
    async with slack_hook() as hook:
        async with running(config(f"mention: {mention}", api_url=hook.url()), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "Warn", "severity": "warning"}})
            await post(rt, {"labels": {"alertname": "Crit", "severity": "critical"}})
            await advance(rt, 30)
        by_name = {header(b): b for b in hook.bodies}
        warn, crit = by_name["[FIRING:1] Warn (warning)"], by_name["[FIRING:1] Crit (critical)"]
        assert "<!" not in warn["text"]
        assert "<@" not in warn["text"]
        assert not section_text(warn).startswith("<")
        assert crit["text"] == f"{expected} [FIRING:1] Crit (critical)"
        assert section_text(crit).startswith(f"{expected} :red_circle: *Crit*")


async def test_runbook_and_dashboard_buttons_only_for_usable_urls(tmp_path):
    async with slack_hook() as hook:
        async with running(config(api_url=hook.url()), tmp_path) as rt:
            await post(
                rt,
                {"labels": {"alertname": "Both", "instance": "1"},
                 "annotations": {"runbook_url": "https://rb.example/both",
                                 "dashboard_url": "https://grafana.example/d/x"}},
                {"labels": {"alertname": "Both", "instance": "2"},
                 "annotations": {"runbook_url": "https://rb.example/both"}},
                {"labels": {"alertname": "Bad"},
                 "annotations": {"runbook_url": "see the wiki", "dashboard_url": "javascript:alert(1)"}},
                {"labels": {"alertname": "None"}},
            )
            await advance(rt, 30)
        by_name = {header(b).split()[1]: b for b in hook.bodies}
        both = buttons(by_name["Both"])
        assert list(both) == ["runbook-0", "dashboard-0", "silence", "ack-0", "ack-1"]
        assert both["dashboard-0"]["url"] == "https://grafana.example/d/x"
        assert both["dashboard-0"]["text"]["text"] == "Dashboard"
        assert list(buttons(by_name["Bad"])) == ["silence", "ack-0"]
        assert list(buttons(by_name["None"])) == ["silence", "ack-0"]


# -- interactive buttons ---------------------------------------------------------------------


async def test_interactive_buttons_call_tocsin_back(tmp_path):
    async with slack_hook() as hook:
        async with running(config("actions: interactive", api_url=hook.url()), tmp_path) as rt:
            common = {"alertname": "DiskFull", "job": "node", "severity": "warning"}
            await post(
                rt,
                {"labels": {**common, "instance": "db1"},
                 "annotations": {"runbook_url": "https://runbooks.example/disk"}},
                {"labels": {**common, "instance": "db2"}},
            )
            await advance(rt, 30)
        (body,) = hook.bodies
        b = buttons(body)
        assert list(b) == ["runbook-0", "tocsin_silence", "tocsin_ack", "tocsin_resolve"]
        assert b["runbook-0"]["url"] == "https://runbooks.example/disk"
        fps = ",".join(fingerprint({**common, "instance": i}) for i in ("db1", "db2"))
        assert b["tocsin_silence"] == {
            "type": "button", "text": {"type": "plain_text", "text": "Silence 1h", "emoji": True},
            "action_id": "tocsin_silence",
            "value": '{"alertname":"DiskFull","job":"node","severity":"warning"}'}
        assert b["tocsin_ack"] == {
            "type": "button", "text": {"type": "plain_text", "text": "Acknowledge all 2", "emoji": True},
            "action_id": "tocsin_ack", "value": fps, "style": "primary"}
        resolve = b["tocsin_resolve"]
        assert (resolve["text"]["text"], resolve["value"], resolve["style"]) == (
            "Resolve all 2", fps, "danger")
        assert resolve["confirm"]["confirm"]["text"] == "Resolve"


def test_interactive_buttons_need_no_external_url():
    alert = Alert(fingerprint="f1", labels={"alertname": "A"}, starts_at=NOW - 5, ends_at=0.0)
    body = json.loads(_channel("", actions="interactive").render(_notification([alert])))
    assert check_message(body) == []
    b = buttons(body)
    assert list(b) == ["tocsin_silence", "tocsin_ack", "tocsin_resolve"]
    assert (b["tocsin_ack"]["text"]["text"], b["tocsin_ack"]["value"]) == ("Acknowledge", "f1")
    assert b["tocsin_silence"]["value"] == '{"alertname":"A"}'


def test_interactive_buttons_only_while_firing():
    alert = Alert(fingerprint="f1", labels={"alertname": "A"}, starts_at=NOW - 60, ends_at=NOW - 5,
                  annotations={"runbook_url": "https://rb.example/a"})
    body = json.loads(_channel(EXTERNAL, actions="interactive").render(_notification([alert])))
    assert check_message(body) == []
    assert list(buttons(body)) == ["runbook-0"]


@pytest.mark.parametrize("event", ["acknowledged", "unacknowledged", "escalated"])
@pytest.mark.parametrize(("actions", "expected"), [
    ("links", ["silence"]), ("interactive", ["tocsin_silence", "tocsin_resolve"]),
])
def test_notices_have_no_acknowledge_button(event, actions, expected):
    alert = Alert(fingerprint="f1", labels={"alertname": "A"}, starts_at=NOW - 5, ends_at=0.0)
    n = _notification([alert], event=event, actor="alice")
    body = json.loads(_channel(EXTERNAL, actions=actions).render(n))
    assert check_message(body) == []
    assert list(buttons(body)) == expected
    # The group's own notification still has it.
    own = buttons(json.loads(_channel(EXTERNAL, actions=actions).render(_notification([alert]))))
    assert {"ack-0", "tocsin_ack"} & set(own)


async def test_the_acknowledged_notice_has_no_acknowledge_button(tmp_path):
    async with slack_hook() as hook:
        async with running(config("actions: interactive", api_url=hook.url()), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A", "severity": "critical"}})
            await advance(rt, 30)
            await rt.lifecycle.acknowledge(fingerprint({"alertname": "A", "severity": "critical"}),
                                           by="alice", source="api")
            await wait_until(lambda: len(hook.bodies) >= 2)
        first, notice = hook.bodies
        assert list(buttons(first)) == ["tocsin_silence", "tocsin_ack", "tocsin_resolve"]
        assert header(notice) == "✅ Acknowledged by alice · [FIRING:1] A (critical)"
        assert list(buttons(notice)) == ["tocsin_silence", "tocsin_resolve"]
        assert notice["attachments"][0]["color"] == BLUE


def test_interactive_values_stay_within_slack_limits():
    alerts = [Alert(fingerprint=f"{i:016x}", starts_at=NOW, ends_at=0.0,
                    labels={"alertname": "A", "instance": f"host-{i}", "x": "y" * 2000})
              for i in range(150)]
    n = Notification(receiver="chat", group_key="{}:{}", group_labels={"alertname": "A"}, alerts=alerts,
                     now=NOW)
    body = json.loads(_channel(EXTERNAL, actions="interactive").render(n))
    assert check_message(body) == []
    b = buttons(body)
    # The common labels are too long a value: the group's labels are the matchers.
    assert b["tocsin_silence"]["value"] == '{"alertname":"A"}'
    # As many fingerprints as fit in 2000 characters: 117 of 16 characters and 116 commas.
    value = b["tocsin_ack"]["value"]
    assert value.split(",") == [f"{i:016x}" for i in range(117)]
    assert len(value) == 1988
    assert b["tocsin_ack"]["text"]["text"] == "Acknowledge 117 of 150"
    assert b["tocsin_resolve"]["text"]["text"] == "Resolve 117 of 150"


def test_button_values():
    assert fingerprints_value(["a" * 16, "b" * 16]) == "a" * 16 + "," + "b" * 16
    assert fingerprints_value([]) == ""
    assert labels_value({}) is None
    assert labels_value({"b": "2", "a": "ü"}) == '{"a":"ü","b":"2"}'
    assert labels_value({"a": "x" * 1992}) == '{"a":"' + "x" * 1992 + '"}'  # 2000 exactly
    assert labels_value({"a": "x" * 1993}) is None
    # Slack counts UTF-16 units: an emoji is two.
    assert labels_value({"a": "😀" * 997}) is None
    assert labels_value({"a": "😀" * 996}) is not None


NOW = 1_700_000_000.0


def _notification(alerts: list[Alert], **kw: Any) -> Notification:
    return Notification(receiver="chat", group_key="{}:{}", group_labels={}, alerts=alerts, now=NOW, **kw)


def _channel(external_url: str, **config: Any) -> SlackChannel:
    ctx = ChannelContext(session=None, external_url=external_url, global_config=None,  # type: ignore[arg-type]
                         receiver="chat", integration="slack[0]")
    return SlackChannel(SlackConfig(api_url="http://127.0.0.1:1/x", **config), ctx)


def test_no_silence_or_acknowledge_without_an_external_url():
    alert = Alert(fingerprint="f1", labels={"alertname": "A"}, starts_at=NOW - 5, ends_at=0.0,
                  annotations={"runbook_url": "https://rb.example/a"})
    body = json.loads(_channel("").render(_notification([alert])))
    assert check_message(body) == []
    assert list(buttons(body)) == ["runbook-0"]
    body = json.loads(_channel("").render(_notification([
        Alert(fingerprint="f1", labels={"alertname": "A"}, starts_at=NOW - 5, ends_at=0.0)])))
    assert check_message(body) == []
    assert [b["type"] for b in body["attachments"][0]["blocks"]] == ["section", "context"]


def test_no_silence_button_when_the_alerts_share_no_label():
    alerts = [Alert(fingerprint=f"f{i}", labels={"x": str(i)}, starts_at=NOW, ends_at=0.0) for i in range(2)]
    body = json.loads(_channel(EXTERNAL).render(_notification(alerts)))
    assert check_message(body) == []
    assert list(buttons(body)) == ["ack-0", "ack-1"]


def test_many_alerts_stay_within_slack_limits():
    alerts = [
        Alert(fingerprint=f"{i:016x}", labels={"alertname": "A" * 200, "instance": f"host-{i}-" + "i" * 400,
                                               "severity": "critical", "service": "s" * 3000},
              annotations={"summary": "😀" * 3000, "value": str(i) * 2500,
                           "runbook_url": f"https://rb.example/{i}",
                           "dashboard_url": f"https://dash.example/{i}" + "x" * 3000},
              starts_at=NOW - i, ends_at=0.0)
        for i in range(40)
    ]
    n = Notification(receiver="chat", group_key="{}:{}", group_labels={"alertname": "A" * 200},
                     alerts=alerts, now=NOW)
    body = json.loads(_channel(EXTERNAL, mention="@here").render(n))
    assert check_message(body) == []
    head = header(body)
    assert units(head) == 150
    assert head.endswith("…")
    text = section_text(body)
    assert units(text) <= 3000
    assert text.endswith("…")
    assert text.startswith("<!here> ")
    f = fields(body)
    assert f["Instance"].endswith("(+35 more)")
    b = buttons(body)
    # Five runbooks, no dashboard (its URL is longer than a button's), a silence, five acks.
    assert list(b) == [f"runbook-{i}" for i in range(5)] + ["silence"] + [f"ack-{i}" for i in range(5)]
    assert all(units(el["text"]["text"]) <= 75 for el in b.values())
    # The common labels make too long a URL: the silence matches the group labels instead.
    assert unquote(b["silence"]["url"]).endswith('filter={alertname="' + "A" * 200 + '"}&duration=1h')


def test_cut_counts_utf16_units():
    assert cut("abc", 3) == "abc"
    assert cut("abcd", 3) == "ab…"
    assert cut("😀😀", 3) == "😀…"
    assert units(cut("😀" * 100, 150)) <= 150


async def test_huge_annotations_are_truncated(tmp_path):
    async with slack_hook() as hook:
        async with running(config(api_url=hook.url()), tmp_path) as rt:
            await post(rt, {
                "labels": {"alertname": "Big", "instance": "x" * 5000},
                "annotations": {"summary": "s" * 20000, "description": "d" * 20000, "value": "v" * 5000},
            })
            await advance(rt, 30)
        (body,) = hook.bodies  # check_message passed, so Slack would have taken it
        assert units(section_text(body)) == 3000
        assert all(units(f["text"]) <= 2000 for f in body["attachments"][0]["blocks"][0]["fields"])


# -- templates -------------------------------------------------------------------------------


async def test_title_and_text_templates_override_the_defaults(tmp_path):
    entry = ("title: '{{ commonLabels.alertname }} is {{ status }} on {{ firing|length }} hosts'\n"
             "text: \"{% for a in firing %}• {{ mrkdwn(a.labels.instance) }}\\n{% endfor %}\"")
    async with slack_hook() as hook:
        async with running(config(entry, api_url=hook.url()), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A", "instance": "a<1>"}},
                       {"labels": {"alertname": "A", "instance": "b"}})
            await advance(rt, 30)
        body = hook.bodies[0]
        assert header(body) == "A is firing on 2 hosts"
        assert section_text(body) == "• a&lt;1&gt;\n• b"


async def test_a_broken_template_falls_back_to_a_plain_message(tmp_path):
    entry = "title: '{{ 1 / 0 }}'\ntext: '{{ alerts[0].labels.x.y() }}'"
    async with slack_hook() as hook:
        with structlog.testing.capture_logs() as logs:
            async with running(config(entry, api_url=hook.url()), tmp_path) as rt:
                await post(rt, {"labels": {"alertname": "A"}})
                await advance(rt, 30)
        body = hook.bodies[0]
        assert header(body) == "[FIRING:1] A (chat)"
        assert section_text(body) == "[FIRING:1] A (chat)"
        failed = [e for e in logs if e["event"].startswith("template failed")]
        assert {e["template"] for e in failed} == {"chat/slack[0].title", "chat/slack[0].text"}


async def test_an_empty_text_leaves_out_the_section(tmp_path):
    async with slack_hook() as hook:
        async with running(config("text: ''", api_url=hook.url()), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
        assert [b["type"] for b in hook.bodies[0]["blocks"]] == ["header"]


# -- delivery --------------------------------------------------------------------------------

SECRET_PATH = "/services/T000/B000/XXXXSECRETXXXX"


async def test_retries_on_500_then_succeeds(tmp_path):
    events = EventRecorder()
    async with slack_hook() as hook:
        hook.script[SECRET_PATH] = [(500, {}, "rollup_error"), (503, {}, "")]
        async with running(config(api_url=hook.url()), tmp_path, plugins=[events]) as rt:
            sleep = instant_retries(rt, move_clock=False)
            await post(rt, {"labels": {"alertname": "A"}})
            with no_jitter():
                await advance(rt, 30)
            assert sleep.delays == [0.5, 0.75]
        assert len(hook.requests) == 3
        assert hook.bodies[0] == hook.bodies[2]
        (sent,) = events.of(NotificationSent)
        assert (sent.integration, sent.attempts) == ("slack[0]", 3)


async def test_429_retry_after_is_honoured(tmp_path):
    events = EventRecorder()
    async with slack_hook() as hook:
        hook.script[SECRET_PATH] = [(429, {"Retry-After": "12"}, "rate_limited")]
        async with running(config(api_url=hook.url()), tmp_path, plugins=[events]) as rt:
            sleep = instant_retries(rt, move_clock=False)
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            assert sleep.delays == [12.0]
        assert len(hook.requests) == 2
        assert [e.attempts for e in events.of(NotificationSent)] == [2]


@pytest.mark.parametrize(("status", "answer"), [
    (400, "invalid_payload"), (403, "action_prohibited"), (404, "channel_not_found"),
    (410, "channel_is_archived"),
])
async def test_client_errors_are_not_retried_and_hide_the_url(tmp_path, status, answer):
    events = EventRecorder()
    async with slack_hook() as hook:
        hook.script[SECRET_PATH] = [(status, {}, answer)]
        async with running(config(api_url=hook.url()), tmp_path, plugins=[events]) as rt:
            sleep = instant_retries(rt, move_clock=False)
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            assert sleep.delays == []
            (failed,) = events.of(NotificationFailed)
            assert failed.attempts == 1
            assert f"HTTP {status}" in failed.error
            assert answer in failed.error
            assert "SECRET" not in failed.error
            assert "<redacted>" in failed.error
            (dead,) = rt.dead_letters.list()
            assert "SECRET" not in dead.error
        assert len(hook.requests) == 1


async def test_api_url_file_is_read_at_each_send(tmp_path):
    async with slack_hook() as hook:
        secret = tmp_path / "slack-url"
        secret.write_text(hook.url("/services/one") + "\n")
        async with running(config(f"api_url_file: {secret}"), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            secret.write_text(hook.url("/services/two"))
            await post(rt, {"labels": {"alertname": "B"}})
            await advance(rt, 30)
        assert [r.path for r in hook.requests] == ["/services/one", "/services/two"]


async def test_global_slack_api_url_and_file(tmp_path):
    async with slack_hook() as hook:
        cfg = config(global_=f"  slack_api_url: {hook.url('/services/global')}")
        async with running(cfg, tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
        secret = tmp_path / "global-url"
        secret.write_text(hook.url("/services/global-file"))
        cfg = config(global_=f"  slack_api_url_file: {secret}")
        async with running(cfg, tmp_path, db_name="other.db") as rt:
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
        # A receiver's own URL wins over the global one.
        cfg = config(api_url=hook.url("/services/own"),
                     global_=f"  slack_api_url: {hook.url('/services/global')}")
        async with running(cfg, tmp_path, db_name="third.db") as rt:
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
        assert [r.path for r in hook.requests] == [
            "/services/global", "/services/global-file", "/services/own"]


def test_no_url_anywhere_is_a_config_error_with_its_path():
    from tocsin.config.document import ConfigError
    from tocsin.testing import make_config

    with pytest.raises(ConfigError) as err:
        make_config(config())
    [problem] = err.value.problems
    assert problem.path.endswith("slack_configs[0].api_url")
    assert "no Slack webhook URL" in problem.message
    # A global URL satisfies it.
    make_config(config(global_="  slack_api_url: 'http://127.0.0.1:1/hook'"))


async def test_unreadable_api_url_file_is_not_retried(tmp_path):
    events = EventRecorder()
    async with running(config(f"api_url_file: {tmp_path / 'missing'}"), tmp_path, plugins=[events]) as rt:
        instant_retries(rt, move_clock=False)
        await post(rt, {"labels": {"alertname": "A"}})
        await advance(rt, 30)
    (failed,) = events.of(NotificationFailed)
    assert failed.attempts == 1
    assert "api_url_file" in failed.error


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "path", "message"), [
    ("api_url: http://a/b\napi_url_file: /x", "slack_configs[0].api_url_file", "not both"),
    ("api_url: hooks.slack.com/x", "slack_configs[0].api_url", "invalid URL"),
    ("mention: '@alice'", "slack_configs[0].mention", "cannot mention '@alice'"),
    ("mention: ''", "slack_configs[0].mention", "cannot mention"),
    ("icon_emoji: ghost", "slack_configs[0].icon_emoji", "emoji code"),
    ("title: '{{ oops'", "slack_configs[0].title", "template syntax error"),
    ("webhook_url: http://a/b", "slack_configs[0].webhook_url", "unknown field"),
    ("send_resolved: maybe", "slack_configs[0].send_resolved", "Expected `bool`"),
    ("actions: buttons", "slack_configs[0].actions", "Invalid enum value 'buttons'"),
])
def test_config_errors_name_their_path(entry, path, message):
    with pytest.raises(ConfigError) as err:
        make_config(config(entry))
    problems = [(p.path, p.message) for p in err.value.problems]
    assert any(p == f"receivers[0].{path}" and message in m for p, m in problems), problems
    assert all(p.line for p in err.value.problems)


def test_defaults():
    cfg = make_config(config(api_url="http://127.0.0.1:1/x"))
    (spec,) = cfg.receivers["chat"].integrations
    assert spec.name == "slack[0]"
    assert spec.config.send_resolved is False
    assert float(spec.config.timeout) == 10
    assert spec.config.actions == "links"


def test_render_is_the_message_for_dry_runs():
    alert = Alert(fingerprint="f1", labels={"alertname": "A"}, starts_at=NOW, ends_at=0.0)
    out = _channel(EXTERNAL).render(_notification([alert]))
    assert isinstance(out, bytes)
    assert check_message(json.loads(out)) == []


def test_recommended_actions_and_the_threshold_message_are_shown():
    alert = Alert(fingerprint="f1", labels={"alertname": "DiskFull", "instance": "db1"}, starts_at=NOW - 5,
                  ends_at=0.0, annotations={
                      "summary": "disk almost full", "value": "92", "threshold_message":
                      "92 (threshold 80, exceeded by 15.0%)",
                      "recommendations": "Extend the volume\n\nRotate <logs> & retry"})
    body = json.loads(_channel(EXTERNAL).render(_notification([alert])))
    assert check_message(body) == []
    text = body["blocks"][1]["text"]["text"]
    assert text.endswith("*Recommended actions*\n• Extend the volume\n• Rotate &lt;logs&gt; &amp; retry")
    fields = body["attachments"][0]["blocks"][0]["fields"]
    assert {"type": "mrkdwn", "text": "*Value*\n92 (threshold 80, exceeded by 15.0%)"} in fields
