"""The msteams channel, installed as a plugin, against a local Teams Workflows webhook
that checks every request as Microsoft documents it (the message envelope, the Adaptive
Card schema: element and action types, required properties, enum values, the features
of the declared version, and Teams' 28 KB message limit) and answers as a test tells it.

No ``__init__.py`` next to this file, and a name no other test file has: the repo
root's ``tests`` package must not be shadowed.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec
import pytest
import structlog
from aiohttp import web
from tocsin.core.models import Alert, Notification
from tocsin.core.timefmt import format_ts
from tocsin.testing import (
    ConfigError,
    EventRecorder,
    advance,
    channel_config,
    channel_kind,
    dead_letters,
    installed_plugin,
    instant_retries,
    make_config,
    no_jitter,
    post,
    running,
    serving,
)

import tocsin_msteams
from tocsin_msteams import MAX_BYTES, MSTeamsConfig, cut, render_card

FLOW_PATH = "/workflows/0d3a5c1e9f7b4e2a8c6d/triggers/manual/paths/invoke"
SIG = "S3CR3TsignatureXYZ"
FLOW_QUERY = f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}"

# -- a Teams Workflows webhook that validates what it gets -------------------------------------

#: Teams refuses messages over 28 KB.
TEAMS_LIMIT = 28 * 1024
#: Adaptive Card versions Teams renders.
TEAMS_VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5")

SPACING = {"none", "small", "default", "medium", "large", "extralarge", "padding"}
COLORS = {"default", "dark", "light", "accent", "good", "warning", "attention"}
SIZES = {"default", "small", "medium", "large", "extralarge"}
WEIGHTS = {"default", "lighter", "bolder"}
ALIGN = {"left", "center", "right"}
FONT_TYPES = {"default", "monospace"}
TEXT_STYLES = {"default", "heading"}
ACTION_STYLES = {"default", "positive", "destructive"}


def _v(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def _enum(values: set[str]):
    def check(v: Any) -> str | None:
        if not isinstance(v, str) or v.lower() not in values:
            return f"must be one of {sorted(values)} (any case), got {v!r}"
        return None
    return check


def _type(t: type):
    def check(v: Any) -> str | None:
        if not isinstance(v, t) or (t is int and isinstance(v, bool)):
            return f"must be a {t.__name__}, got {type(v).__name__}"
        return None
    return check


def _url(v: Any) -> str | None:
    if not isinstance(v, str):
        return "must be a URL string"
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"\s", v):
        return f"not an absolute http(s) URI: {v!r}"
    return None


def _anything(v: Any) -> str | None:
    return None


#: property -> (check, version that introduced it)
COMMON_ELEMENT = {
    "type": (_type(str), "1.0"), "id": (_type(str), "1.0"), "spacing": (_enum(SPACING), "1.0"),
    "separator": (_type(bool), "1.0"), "isVisible": (_type(bool), "1.2"), "height": (
        _enum({"auto", "stretch"}), "1.1"), "fallback": (_anything, "1.2"), "requires": (_anything, "1.2"),
}
ELEMENTS = {
    "TextBlock": {
        "text": (_type(str), "1.0"), "color": (_enum(COLORS), "1.0"), "fontType": (_enum(FONT_TYPES), "1.2"),
        "horizontalAlignment": (_enum(ALIGN), "1.0"), "isSubtle": (_type(bool), "1.0"),
        "maxLines": (_type(int), "1.0"), "size": (_enum(SIZES), "1.0"), "weight": (_enum(WEIGHTS), "1.0"),
        "wrap": (_type(bool), "1.0"), "style": (_enum(TEXT_STYLES), "1.5"),
    },
    "FactSet": {"facts": (_type(list), "1.0")},
}
REQUIRED = {"TextBlock": ("text",), "FactSet": ("facts",)}
ACTIONS = {
    "Action.OpenUrl": {
        "type": (_type(str), "1.0"), "url": (_url, "1.0"), "title": (_type(str), "1.0"),
        "iconUrl": (_url, "1.1"), "id": (_type(str), "1.0"), "style": (_enum(ACTION_STYLES), "1.2"),
        "fallback": (_anything, "1.2"), "requires": (_anything, "1.2"), "tooltip": (_type(str), "1.5"),
        "isEnabled": (_type(bool), "1.5"), "mode": (_enum({"primary", "secondary"}), "1.5"),
    },
}
CARD = {
    "type": (_type(str), "1.0"), "version": (_type(str), "1.0"), "$schema": (_type(str), "1.0"),
    "body": (_type(list), "1.0"), "actions": (_type(list), "1.0"), "fallbackText": (_type(str), "1.0"),
    "speak": (_type(str), "1.0"), "lang": (_type(str), "1.0"), "msteams": (_type(dict), "1.0"),
    "minHeight": (_type(str), "1.2"), "verticalContentAlignment": (_enum({"top", "center", "bottom"}), "1.1"),
    "selectAction": (_anything, "1.1"), "backgroundImage": (_anything, "1.0"), "rtl": (_type(bool), "1.5"),
    "refresh": (_anything, "1.4"), "authentication": (_anything, "1.4"),
}


def _props(obj: dict, spec: dict, version: str, where: str, problems: list[str]) -> None:
    for key, value in obj.items():
        if key not in spec:
            problems.append(f"{where}.{key}: not a property of this type")
            continue
        check, since = spec[key]
        if _v(since) > _v(version):
            problems.append(f"{where}.{key}: needs card version {since}, the card declares {version}")
        err = check(value)
        if err:
            problems.append(f"{where}.{key}: {err}")


def validate_card(card: Any, where: str, problems: list[str]) -> None:
    if not isinstance(card, dict):
        problems.append(f"{where}: the card must be an object")
        return
    if card.get("type") != "AdaptiveCard":
        problems.append(f"{where}.type: must be 'AdaptiveCard'")
    version = card.get("version")
    if not isinstance(version, str) or not re.fullmatch(r"\d+\.\d+", version):
        problems.append(f"{where}.version: required, such as '1.4'")
        return
    if version not in TEAMS_VERSIONS:
        problems.append(f"{where}.version: Teams renders versions up to 1.5, not {version}")
        return
    _props(card, CARD, version, where, problems)
    if "msteams" in card and card["msteams"] not in ({"width": "Full"}, {}):
        problems.append(f"{where}.msteams: only width 'Full' is known")
    for i, el in enumerate(card.get("body") or []):
        _validate_element(el, version, f"{where}.body[{i}]", problems)
    for i, act in enumerate(card.get("actions") or []):
        aw = f"{where}.actions[{i}]"
        if not isinstance(act, dict) or act.get("type") not in ACTIONS:
            problems.append(f"{aw}: unknown action type")
            continue
        _props(act, ACTIONS[act["type"]], version, aw, problems)
        if "url" not in act:
            problems.append(f"{aw}.url: required")


def _validate_element(el: Any, version: str, ew: str, problems: list[str]) -> None:
    if not isinstance(el, dict) or el.get("type") not in ELEMENTS:
        problems.append(f"{ew}: unknown element type {el.get('type') if isinstance(el, dict) else el!r}")
        return
    kind = el["type"]
    _props(el, {**COMMON_ELEMENT, **ELEMENTS[kind]}, version, ew, problems)
    for req in REQUIRED[kind]:
        if req not in el:
            problems.append(f"{ew}.{req}: required")
    if kind == "TextBlock" and isinstance(el.get("text"), str) and not el["text"].strip():
        problems.append(f"{ew}.text: empty: Teams shows nothing")
    if kind == "FactSet":
        facts = el.get("facts")
        if not facts:
            problems.append(f"{ew}.facts: at least one fact")
        for j, fact in enumerate(facts or []):
            if not isinstance(fact, dict) or set(fact) != {"title", "value"} or not all(
                    isinstance(fact[k], str) for k in fact):
                problems.append(f"{ew}.facts[{j}]: exactly title and value, both strings")


def validate_message(body: Any) -> list[str]:
    """What a Workflows flow posting to Teams would refuse (an empty list: nothing)."""
    problems: list[str] = []
    if not isinstance(body, dict):
        return ["the body must be a JSON object"]
    if body.get("type") != "message":
        problems.append("type: must be 'message'")
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return [*problems, "attachments: required, a non-empty array"]
    for i, att in enumerate(attachments):
        w = f"attachments[{i}]"
        if not isinstance(att, dict):
            problems.append(f"{w}: must be an object")
            continue
        if att.get("contentType") != "application/vnd.microsoft.card.adaptive":
            problems.append(f"{w}.contentType: must be application/vnd.microsoft.card.adaptive")
        if att.get("contentUrl") is not None and not isinstance(att.get("contentUrl"), str):
            problems.append(f"{w}.contentUrl: null or a string")
        validate_card(att.get("content"), f"{w}.content", problems)
    return problems


@dataclass
class Request:
    path: str
    query: dict[str, str]
    body: Any
    size: int


@dataclass
class FakeWorkflow:
    """Records requests. Refuses an unsigned call with 401, an oversized message with
    413 and an invalid one with 400; otherwise answers from ``script`` (status, headers,
    JSON body), else 202 Accepted as a flow's HTTP trigger does."""

    requests: list[Request] = field(default_factory=list)
    problems: list[list[str]] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)
    base: str = ""
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[Request]:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.requests) >= count), timeout)
        return list(self.requests)

    @property
    def bodies(self) -> list[Any]:
        return [r.body for r in self.requests]

    def url(self, path: str = FLOW_PATH, query: str = FLOW_QUERY) -> str:
        return self.base + path + query

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            body = None
        # Waiters run only after this handler has answered (no await below this block),
        # so they see the validation's verdict too.
        async with self.arrived:
            self.requests.append(Request(request.path, dict(request.query), body, len(raw)))
            self.arrived.notify_all()
        if request.query.get("sig") != SIG:
            self.problems.append(["bad signature"])
            return web.json_response({"error": {"code": "DirectApiAuthorizationRequired"}}, status=401)
        if len(raw) > TEAMS_LIMIT:
            self.problems.append([f"message of {len(raw)} bytes, over Teams' 28 KB"])
            return web.json_response({"error": {"code": "RequestEntityTooLarge"}}, status=413)
        problems = validate_message(body) if request.content_type == "application/json" else [
            "Content-Type must be application/json"]
        self.problems.append(problems)
        if problems:
            return web.json_response(
                {"error": {"code": "InvalidRequestContent", "message": "; ".join(problems)}}, status=400)
        if self.script:
            status, headers, answer = self.script.pop(0)
            return web.json_response(answer, status=status, headers=headers)
        return web.Response(status=202)


@asynccontextmanager
async def fake_workflow() -> AsyncIterator[FakeWorkflow]:
    w = FakeWorkflow()
    app = web.Application(client_max_size=10 * 1024 * 1024)
    app.router.add_post("/workflows/{id}/triggers/manual/paths/invoke", w.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    w.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield w
    finally:
        await runner.cleanup()


# -- helpers -----------------------------------------------------------------------------------


def config(*entry_lines: str) -> str:
    first, *rest = entry_lines
    more = "".join(f"        {line}\n" for line in rest)
    return f"""
global:
  resolve_timeout: 1h
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: team
    msteams_configs:
      - {first}
{more}"""


def url_entry(w: FakeWorkflow) -> str:
    return f"webhook_url: '{w.url()}'"


def alert(name: str, **kw: Any) -> dict[str, Any]:
    return {"labels": {"alertname": name, **kw.pop("labels", {})}, **kw}


def card(body: dict) -> dict:
    [attachment] = body["attachments"]
    return attachment["content"]


def texts(body: dict) -> list[str]:
    return [b["text"] for b in card(body)["body"] if b["type"] == "TextBlock"]


def facts(body: dict, index: int = 0) -> dict[str, str]:
    sets = [b for b in card(body)["body"] if b["type"] == "FactSet"]
    return {f["title"]: f["value"] for f in sets[index]["facts"]}


# -- the plugin is found through its entry point -----------------------------------------------


def test_found_through_its_entry_point():
    info = installed_plugin("msteams")
    assert info.loaded, info.error
    assert info.module == "tocsin_msteams"
    assert info.distribution == "tocsin-msteams"
    assert info.version == importlib.metadata.version("tocsin-msteams") == tocsin_msteams.__version__
    assert channel_kind("msteams").config is MSTeamsConfig
    assert channel_kind("msteams").factory is tocsin_msteams.MSTeamsChannel


def test_tocsin_plugins_list_shows_the_distribution():
    out = subprocess.run([sys.executable, "-m", "tocsin", "plugins", "list"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    [line] = [ln for ln in out.splitlines() if ln.startswith("msteams ")]
    assert "tocsin_msteams" in line
    assert f"tocsin-msteams {tocsin_msteams.__version__}" in line
    assert "loaded" in line
    assert "channels: msteams" in line


# -- delivery through a full runtime -----------------------------------------------------------


async def test_grouped_notification_then_resolved(tmp_path):
    async with fake_workflow() as w:
        async with running(config(url_entry(w)), tmp_path) as rt:
            starts = format_ts(rt.clock.now() - 600)
            group = [
                alert("DiskFull", labels={"severity": "warning", "instance": "db-1", "job": "node"},
                      annotations={"summary": "/var is 97% full", "description": "Grows 2 GB an hour.",
                                   "runbook_url": "https://runbooks.example/DiskFull",
                                   "dashboard_url": "https://grafana.example/d/disk", "value": "97%"},
                      startsAt=starts, generatorURL="http://prometheus.example:9090/graph?g0.expr=disk"),
                alert("DiskFull", labels={"severity": "critical", "instance": "db-2", "job": "node"},
                      annotations={"summary": "/var is 99% full",
                                   "runbook_url": "https://runbooks.example/DiskFull"},
                      startsAt=starts, generatorURL="not a url"),
            ]
            await post(rt, *group)
            await advance(rt, 30)
            assert len(w.requests) == 1  # one message for the group

            ends = format_ts(rt.clock.now())
            await post(rt, *({**a, "endsAt": ends} for a in group))
            await advance(rt, 300)
            assert len(w.requests) == 2

        assert w.problems == [[], []]
        assert all(r.path == FLOW_PATH and r.query["sig"] == SIG for r in w.requests)
        first, second = w.bodies
        assert first["type"] == "message"
        [attachment] = first["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert attachment["contentUrl"] is None
        c = card(first)
        assert (c["$schema"], c["type"], c["version"]) == (
            "http://adaptivecards.io/schemas/adaptive-card.json", "AdaptiveCard", "1.4")
        assert {b["type"] for b in c["body"]} == {"TextBlock", "FactSet"}
        assert texts(first) == [
            "[FIRING:2] DiskFull (node)",
            "2 firing · receiver team",
            "🔥 FIRING · DiskFull · db-1", "/var is 97% full", "Grows 2 GB an hour.",
            "🔥 FIRING · DiskFull · db-2", "/var is 99% full",
        ]
        heading = c["body"][0]
        assert (heading["size"], heading["weight"], heading["color"]) == ("Large", "Bolder", "Attention")
        colors = [b["color"] for b in c["body"] if b.get("text", "").startswith("🔥")]
        assert colors == ["Warning", "Attention"]
        assert facts(first, 0) == {"Severity": "warning", "Started": "2023-11-14 22:03 UTC (10m 30s ago)",
                                   "job": "node", "value": "97%"}
        # Distinct links only, and no button for a generatorURL that is not a URL.
        assert [(a["type"], a["title"], a["url"]) for a in c["actions"]] == [
            ("Action.OpenUrl", "Runbook", "https://runbooks.example/DiskFull"),
            ("Action.OpenUrl", "Dashboard", "https://grafana.example/d/disk"),
            ("Action.OpenUrl", "Source", "http://prometheus.example:9090/graph?g0.expr=disk"),
        ]

        assert texts(second)[:3] == ["[RESOLVED] DiskFull (node)", "2 resolved · receiver team",
                                     "✅ RESOLVED · DiskFull · db-1"]
        assert card(second)["body"][0]["color"] == "Good"
        resolved_facts = facts(second, 1)
        assert resolved_facts["Lasted"] == "10m 30s"
        assert resolved_facts["Resolved"] == "2023-11-14 22:13 UTC (5m ago)"


async def test_send_resolved_false_sends_no_resolution(tmp_path):
    async with fake_workflow() as w:
        async with running(config(url_entry(w), "send_resolved: false"), tmp_path) as rt:
            await post(rt, alert("A"))
            await advance(rt, 30)
            await post(rt, alert("A", endsAt=format_ts(rt.clock.now())))
            await advance(rt, 300)
        assert len(w.requests) == 1
        # No severity: attention, as Alertmanager colours every firing message red.
        assert card(w.bodies[0])["body"][0]["color"] == "Attention"
        assert card(w.bodies[0])["actions"] == []


async def test_title_template_and_its_fallback(tmp_path):
    title = "title: '{{ commonLabels.alertname }} on {{ firing|length }} hosts ({{ receiver }})'"
    async with fake_workflow() as w:
        async with running(config(url_entry(w), title), tmp_path) as rt:
            await post(rt, alert("A", labels={"instance": "x"}), alert("A", labels={"instance": "y"}))
            await advance(rt, 30)
        with structlog.testing.capture_logs() as logs:
            async with running(config(url_entry(w), "title: '{{ 1 / 0 }}'"), tmp_path, db_name="b.db") as rt:
                await post(rt, alert("B"))
                await advance(rt, 30)
        assert w.problems == [[], []]
        assert texts(w.bodies[0])[0] == "A on 2 hosts (team)"
        assert texts(w.bodies[1])[0] == "[FIRING:1] B (team)"
        assert card(w.bodies[1])["fallbackText"] == "[FIRING:1] B (team)"
        assert [e["template"] for e in logs if e["event"].startswith("template failed")] == [
            "team/msteams[0].title"]


# -- Teams' limits -----------------------------------------------------------------------------


async def test_oversized_annotations_are_cut(tmp_path):
    async with fake_workflow() as w:
        async with running(config(url_entry(w)), tmp_path) as rt:
            await post(rt, alert(
                "Huge", labels={"severity": "critical", "blob": "b" * 50_000},
                annotations={"summary": "s" * 10_000, "description": "d" * 200_000, "detail": "x" * 50_000,
                             **{f"note_{i:02d}": f"n{i}" for i in range(40)}},
            ))
            await advance(rt, 30)
        assert w.problems == [[]], w.problems
        [request] = w.requests
        assert request.size <= MAX_BYTES
        body = texts(w.bodies[0])
        assert body[2] == "🔥 FIRING · Huge"
        summary, description = body[3], body[4]
        assert summary.endswith("…")
        assert len(summary) <= 2000
        assert description.endswith("…")
        assert description.startswith("ddd")
        assert len(description) <= 2000
        f = facts(w.bodies[0])
        # Severity, Started, blob, detail and 40 notes: 29 shown, the 30th counts the others.
        assert len(f) == 30
        assert f["…"] == "15 more not shown"
        assert f["blob"].endswith("…")
        assert len(f["blob"]) <= 500


async def test_alerts_that_do_not_fit_are_counted(tmp_path):
    async with fake_workflow() as w:
        async with running(config(url_entry(w)), tmp_path) as rt:
            await post(rt, *(alert("Many" if i % 3 else "Other", labels={"instance": f"h{i:02d}"},
                                   annotations={"description": "d" * 3000}) for i in range(40)))
            # Two groups (by alertname); the big one is the one to look at.
            await advance(rt, 30)
        assert all(p == [] for p in w.problems), w.problems
        assert all(r.size <= MAX_BYTES for r in w.requests)
        [body] = [b for b in w.bodies if texts(b)[0].startswith("[FIRING:26] Many")]
        blocks = texts(body)
        shown = [t for t in blocks if t.startswith("🔥 FIRING")]
        last = blocks[-1]
        m = re.fullmatch(r"…and (\d+) more alerts \((\d+) firing\): Many \((\d+)\)", last)
        assert m, last
        assert len(shown) + int(m.group(1)) == 26
        assert m.group(1) == m.group(2) == m.group(3)
        assert 1 < len(shown) < 26


def test_twenty_alerts_at_most_are_shown():
    now = 1_700_000_000.0
    alerts = [Alert(fingerprint=f"{i:016x}", labels={"alertname": "A", "instance": f"h{i}"},
                    starts_at=now - 10, ends_at=now - 1 if i % 2 else 0) for i in range(50)]
    n = Notification(receiver="team", group_key="k", group_labels={"alertname": "A"}, alerts=alerts, now=now)
    body = render_card(n, "t", "team")
    assert validate_message(body) == []
    blocks = texts(body)
    assert len([t for t in blocks if t.startswith(("🔥", "✅"))]) == 20
    # Firing alerts come first.
    assert all(t.startswith("🔥") for t in blocks if t.startswith(("🔥", "✅")))
    assert blocks[-1] == "…and 30 more alerts (5 firing, 25 resolved): A (30)"


def test_cut():
    assert cut("abc", 3) == "abc"
    assert cut("abcdef", 4) == "abc…"
    assert cut("abc", 0) == ""


def test_random_notifications_always_fit():
    """Whatever the alerts hold, the message is a valid card within Teams' size."""
    import random

    rng = random.Random(20240502)
    alphabet = 'ab *_"\\\n\x01🔥é<>&'
    now = 1_700_000_000.0

    def text(max_len: int) -> str:
        return "".join(rng.choices(alphabet, k=rng.randint(0, max_len)))

    for _ in range(30):
        alerts = []
        for i in range(rng.choice([1, 2, 5, 25])):
            labels = {"alertname": text(300) or "x", "severity": rng.choice(["critical", "warning", "x"])}
            labels.update({f"l{j}": text(rng.choice([5, 2000])) for j in range(rng.randint(0, 40))})
            annotations = {f"a{j}": text(rng.choice([5, 3000])) for j in range(rng.randint(0, 20))}
            annotations["summary"] = text(rng.choice([10, 5000]))
            annotations["description"] = text(rng.choice([10, 9000]))
            annotations["runbook_url"] = "https://r.example/" + "".join(rng.choices("abc/%", k=2000))
            alerts.append(Alert(fingerprint=f"{i:016x}", labels=labels, annotations=annotations,
                                starts_at=now - 600, ends_at=now - 1 if rng.random() < 0.3 else 0,
                                generator_url=rng.choice(["", "http://p/" + "q" * 1500])))
        n = Notification(receiver=text(100) or "r", group_key="k", group_labels={}, alerts=alerts, now=now)
        body = render_card(n, text(1000), n.receiver)
        assert validate_message(body) == []
        assert len(msgspec.json.encode(body)) <= MAX_BYTES
        assert any(t.startswith(("🔥", "✅")) for t in texts(body))  # at least one alert shown


# -- failures and retries ----------------------------------------------------------------------


async def test_400_is_not_retried_and_the_signature_stays_secret(tmp_path):
    events = EventRecorder()
    async with fake_workflow() as w:
        w.script = [(400, {}, {"error": {"code": "InvalidTemplate", "message": "bad"}})]
        async with running(config(url_entry(w)), tmp_path, plugins=[events]) as rt:
            waits = instant_retries(rt)
            await post(rt, alert("A"))
            await advance(rt, 30)
            assert waits.delays == []
            assert len(w.requests) == 1
            (failed,) = events.failed
            assert failed.attempts == 1
            assert "HTTP 400" in failed.error
            assert SIG not in failed.error
            assert "<redacted>" in failed.error
            (dead,) = dead_letters(rt)
            assert SIG not in dead.error
            # The group's next flush tries again.
            await advance(rt, 300)
            assert len(w.requests) == 2
            assert len(events.sent) == 1


async def test_500_is_retried(tmp_path):
    events = EventRecorder()
    async with fake_workflow() as w:
        w.script = [(502, {}, {"error": {"code": "BadGateway"}}), (500, {}, {})]
        async with running(config(url_entry(w)), tmp_path, plugins=[events]) as rt:
            waits = instant_retries(rt)
            await post(rt, alert("A"))
            with no_jitter():
                await advance(rt, 30)
            assert waits.delays == [0.5, 0.75]
        assert len(w.requests) == 3
        assert w.bodies[0] == w.bodies[2]
        (sent,) = events.sent
        assert (sent.integration, sent.attempts) == ("msteams[0]", 3)
        assert events.failed == []


async def test_429_waits_as_long_as_the_flow_says(tmp_path):
    events = EventRecorder()
    async with fake_workflow() as w:
        w.script = [(429, {"Retry-After": "20"}, {"error": {"code": "WorkflowTriggerIsThrottled"}})]
        async with running(config(url_entry(w)), tmp_path, plugins=[events]) as rt:
            waits = instant_retries(rt)
            await post(rt, alert("A"))
            await advance(rt, 30)
            assert waits.delays == [20.0]
        assert len(w.requests) == 2
        assert [e.attempts for e in events.sent] == [2]


async def test_webhook_url_file_is_read_at_each_send(tmp_path):
    async with fake_workflow() as w:
        secret = tmp_path / "teams-url"
        secret.write_text(w.url("/workflows/one/triggers/manual/paths/invoke") + "\n")
        async with running(config(f"webhook_url_file: {secret}"), tmp_path) as rt:
            await post(rt, alert("A"))
            await advance(rt, 30)
            secret.write_text(w.url("/workflows/two/triggers/manual/paths/invoke"))
            await post(rt, alert("B"))
            await advance(rt, 30)
        assert [r.path.split("/")[2] for r in w.requests] == ["one", "two"]
        assert w.problems == [[], []]


async def test_unreadable_webhook_url_file_is_not_retried(tmp_path):
    events = EventRecorder()
    async with running(config(f"webhook_url_file: {tmp_path / 'missing'}"), tmp_path,
                       plugins=[events]) as rt:
        instant_retries(rt)
        await post(rt, alert("A"))
        await advance(rt, 30)
    (failed,) = events.failed
    assert failed.attempts == 1
    assert "webhook_url_file" in failed.error


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "path", "message"), [
    (("send_resolved: true",), "msteams_configs[0].webhook_url", "set webhook_url or webhook_url_file"),
    (("webhook_url: http://a/b", "webhook_url_file: /x"), "msteams_configs[0].webhook_url_file", "not both"),
    (("webhook_url: example.com/hook",), "msteams_configs[0].webhook_url", "invalid URL"),
    (("webhook_url: http://a/b", "title: '{% if %}'"), "msteams_configs[0].title", "template syntax"),
    (("webhook_url: http://a/b", "text: hi"), "msteams_configs[0].text", ""),
])
def test_config_errors_point_at_the_field(entry, path, message):
    with pytest.raises(ConfigError) as err:
        make_config(config(*entry))
    [problem] = err.value.problems
    assert problem.path.endswith(path), problem
    assert message in problem.message


# -- the daemon as a user runs it --------------------------------------------------------------


@pytest.mark.e2e
async def test_tocsin_serve_loads_the_plugin_and_delivers(tmp_path):
    async with fake_workflow() as w:
        text = config(url_entry(w)).replace("group_wait: 30s", "group_wait: 0s")
        async with serving(text, tmp_path) as url, aiohttp.ClientSession() as s:
            alerts = [{"labels": {"alertname": "Down", "instance": f"h{i}", "severity": "critical"},
                       "annotations": {"summary": f"h{i} is down"}} for i in range(2)]
            async with s.post(f"{url}/api/v2/alerts", json=alerts) as r:
                assert r.status == 200, await r.text()
            [req] = await w.wait_for(1)
    assert w.problems == [[]]
    assert texts(req.body)[:2] == ["[FIRING:2] Down (critical)", "2 firing · receiver team"]


# -- the README --------------------------------------------------------------------------------


def test_readme_example_loads_and_its_sample_is_accepted():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    [example] = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    make_config(example)
    sample = re.findall(r"```json\n(.*?)```", readme, re.S)[-1]
    assert validate_message(msgspec.json.decode(sample)) == []


def test_a_lifecycle_notice_says_so_first_in_the_title():
    from tocsin.channels import ChannelContext

    ctx = ChannelContext(session=None, external_url="http://x", global_config=None,
                         receiver="r", integration="msteams[0]")
    config = channel_config(MSTeamsConfig, {"webhook_url": "http://127.0.0.1:1/h"})
    channel = tocsin_msteams.MSTeamsChannel(config, ctx)
    alert = Alert(fingerprint="f", labels={"alertname": "DiskFull"}, starts_at=1.0, ends_at=0.0)
    n = Notification(receiver="r", group_key="g", group_labels={"alertname": "DiskFull"}, alerts=[alert],
                     now=2.0, event="escalated", actor="tocsin", note="escalation level 2 of policy p")
    assert channel.title(n).startswith("Escalated: escalation level 2 of policy p · ")
