"""The discord channel, installed as a plugin, against a local Discord webhook that
checks every request as Discord documents "Execute Webhook" (fields, types, enum
values, and the length and count limits) and answers as a test tells it to.

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
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec
import pytest
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

import tocsin_discord
from tocsin_discord import MAX_EMBED_TOTAL, DiscordConfig, cut, render, units

WEBHOOK_PATH = "/api/webhooks/112233445566778899/SECRETTOKEN-abc_DEF"
RED, ORANGE, BLUE, GREEN = 0xD63232, 0xF2A33A, 0x3A87F2, 0x2EB67D

# -- a Discord webhook that validates what it gets ---------------------------------------------

TOP_KEYS = {"content", "username", "avatar_url", "tts", "embeds", "allowed_mentions", "components",
            "files", "payload_json", "attachments", "flags", "thread_name", "applied_tags", "poll"}
EMBED_KEYS = {"title", "type", "description", "url", "timestamp", "color", "footer", "image",
              "thumbnail", "video", "provider", "author", "fields"}
MENTION_TYPES = {"roles", "users", "everyone"}


def _is_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


def _text(obj: dict, key: str, where: str, problems: list[str], *, limit: int,
          required: bool = False) -> int:
    """Check one string field; return its length toward the embed total."""
    if key not in obj:
        if required:
            problems.append(f"{where}.{key}: required")
        return 0
    value = obj[key]
    if not isinstance(value, str):
        problems.append(f"{where}.{key}: must be a string, got {type(value).__name__}")
        return 0
    n = units(value)
    if n > limit:
        problems.append(f"{where}.{key}: Must be {limit} or fewer in length (got {n})")
    if required and not value.strip():
        problems.append(f"{where}.{key}: Must be 1 or more in length")
    return n


def validate_embed(e: Any, where: str, problems: list[str]) -> int:
    if not isinstance(e, dict):
        problems.append(f"{where}: an embed must be an object")
        return 0
    if set(e) - EMBED_KEYS:
        problems.append(f"{where}: unknown keys {sorted(set(e) - EMBED_KEYS)}")
    if e.get("type", "rich") != "rich":
        problems.append(f"{where}.type: webhooks only send rich embeds")
    total = _text(e, "title", where, problems, limit=256)
    total += _text(e, "description", where, problems, limit=4096)
    _validate_embed_values(e, where, problems)
    total += _validate_footer_and_author(e, where, problems)
    return total + _validate_fields(e, where, problems)


def _validate_embed_values(e: dict, where: str, problems: list[str]) -> None:
    if "url" in e and not _is_url(e["url"]):
        problems.append(f"{where}.url: Not a well formed URL")
    if "timestamp" in e:
        try:
            datetime.fromisoformat(str(e["timestamp"]).replace("Z", "+00:00"))
        except ValueError:
            problems.append(f"{where}.timestamp: Could not parse {e['timestamp']!r}: ISO8601 expected")
    if "color" in e:
        c = e["color"]
        if not isinstance(c, int) or isinstance(c, bool) or not 0 <= c <= 0xFFFFFF:
            problems.append(f"{where}.color: an integer from 0 to 16777215, got {c!r}")


def _validate_footer_and_author(e: dict, where: str, problems: list[str]) -> int:
    total = 0
    if "footer" in e:
        f = e["footer"]
        if not isinstance(f, dict) or set(f) - {"text", "icon_url"}:
            problems.append(f"{where}.footer: an object with text and icon_url")
        else:
            total += _text(f, "text", f"{where}.footer", problems, limit=2048, required=True)
    if "author" in e:
        a = e["author"]
        if isinstance(a, dict):
            total += _text(a, "name", f"{where}.author", problems, limit=256, required=True)
    return total


def _validate_fields(e: dict, where: str, problems: list[str]) -> int:
    total = 0
    fields = e.get("fields", [])
    if not isinstance(fields, list):
        problems.append(f"{where}.fields: must be an array")
        fields = []
    if len(fields) > 25:
        problems.append(f"{where}.fields: Must be 25 or fewer in length (got {len(fields)})")
    for i, f in enumerate(fields):
        fw = f"{where}.fields[{i}]"
        if not isinstance(f, dict) or set(f) - {"name", "value", "inline"}:
            problems.append(f"{fw}: an object with name, value and inline")
            continue
        total += _text(f, "name", fw, problems, limit=256, required=True)
        total += _text(f, "value", fw, problems, limit=1024, required=True)
        if "inline" in f and not isinstance(f["inline"], bool):
            problems.append(f"{fw}.inline: must be a boolean")
    return total


def validate_message(body: Any) -> list[str]:
    """What Discord would refuse in an Execute Webhook JSON body (an empty list: nothing)."""
    problems: list[str] = []
    if not isinstance(body, dict):
        return ["body: must be a JSON object"]
    if set(body) - TOP_KEYS:
        problems.append(f"unknown keys {sorted(set(body) - TOP_KEYS)}")
    if not body.get("content") and not body.get("embeds"):
        problems.append("Cannot send an empty message: content or embeds required")
    _text(body, "content", "", problems, limit=2000)
    if "username" in body:
        _validate_username(body["username"], problems)
    if "avatar_url" in body and not _is_url(body["avatar_url"]):
        problems.append("avatar_url: Not a well formed URL")
    if "tts" in body and not isinstance(body["tts"], bool):
        problems.append("tts: must be a boolean")
    embeds = body.get("embeds", [])
    if not isinstance(embeds, list):
        problems.append("embeds: must be an array")
        embeds = []
    if len(embeds) > 10:
        problems.append(f"embeds: Must be 10 or fewer in length (got {len(embeds)})")
    total = sum(validate_embed(e, f"embeds[{i}]", problems) for i, e in enumerate(embeds))
    if total > 6000:
        problems.append(f"embeds: Embed size exceeds maximum size of 6000 (got {total})")
    if "allowed_mentions" in body:
        _validate_allowed_mentions(body["allowed_mentions"], problems)
    return problems


def _validate_username(name: Any, problems: list[str]) -> None:
    if not isinstance(name, str) or not 1 <= len(name) <= 80:
        problems.append("username: 1 to 80 characters")
    elif "discord" in name.lower() or "clyde" in name.lower():
        problems.append("username: Username cannot contain 'discord' or 'clyde'")


def _validate_allowed_mentions(am: Any, problems: list[str]) -> None:
    if not isinstance(am, dict) or set(am) - {"parse", "roles", "users", "replied_user"}:
        problems.append("allowed_mentions: an object with parse, roles, users, replied_user")
        return
    parse = am.get("parse", [])
    if not isinstance(parse, list) or set(parse) - MENTION_TYPES:
        problems.append(f"allowed_mentions.parse: values must be in {sorted(MENTION_TYPES)}")
        parse = []
    for kind in ("users", "roles"):
        ids = am.get(kind, [])
        if not isinstance(ids, list) or len(ids) > 100 or not all(
                isinstance(i, str) and i.isdigit() for i in ids):
            problems.append(f"allowed_mentions.{kind}: at most 100 snowflake strings")
        if ids and kind in parse:
            problems.append(f"allowed_mentions: parse {kind!r} and {kind} are mutually exclusive")


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeDiscord:
    """Records requests; refuses invalid ones with 400 as Discord does; otherwise answers
    from ``script`` (status, headers, JSON body), else 204 No Content."""

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

    def url(self, path: str = WEBHOOK_PATH) -> str:
        return self.base + path

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            body = None
        # Waiters run only after this handler has answered (no await below this block),
        # so they see the validation's verdict too.
        async with self.arrived:
            self.requests.append(Request(request.path, dict(request.headers), body))
            self.arrived.notify_all()
        if request.content_type != "application/json":
            self.problems.append(["Content-Type must be application/json"])
            return web.json_response({"message": "Cannot send an empty message", "code": 50006}, status=400)
        problems = validate_message(body)
        self.problems.append(problems)
        if problems:
            return web.json_response(
                {"code": 50035, "message": "Invalid Form Body", "errors": problems}, status=400)
        if self.script:
            status, headers, answer = self.script.pop(0)
            return web.json_response(answer, status=status, headers=headers)
        return web.Response(status=204)


@asynccontextmanager
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    d = FakeDiscord()
    app = web.Application()
    app.router.add_post("/api/webhooks/{id}/{token}", d.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    d.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield d
    finally:
        await runner.cleanup()


# -- helpers -----------------------------------------------------------------------------------


def config(entry: str = "", *, url: str | None = None, send_resolved: bool | None = None) -> str:
    lines = [f"webhook_url: {url}"] if url else []
    if send_resolved is not None:
        lines.append(f"send_resolved: {str(send_resolved).lower()}")
    lines += entry.strip("\n").splitlines()
    body = "".join(f"        {line}\n" for line in lines[1:])
    return f"""
global:
  resolve_timeout: 1h
route:
  receiver: chat
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: chat
    discord_configs:
      - {lines[0]}
{body}"""


def alert(name: str, **kw: Any) -> dict[str, Any]:
    labels = {"alertname": name, **kw.pop("labels", {})}
    return {"labels": labels, **kw}


# -- the plugin is found through its entry point -----------------------------------------------


def test_found_through_its_entry_point():
    info = installed_plugin("discord")
    assert info.loaded, info.error
    assert info.module == "tocsin_discord"
    assert info.distribution == "tocsin-discord"
    assert info.version == importlib.metadata.version("tocsin-discord") == tocsin_discord.__version__
    assert channel_kind("discord").config is DiscordConfig
    assert channel_kind("discord").factory is tocsin_discord.DiscordChannel


def test_tocsin_plugins_list_shows_the_distribution():
    out = subprocess.run([sys.executable, "-m", "tocsin", "plugins", "list"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    [line] = [ln for ln in out.splitlines() if ln.startswith("discord ")]
    assert "tocsin_discord" in line
    assert f"tocsin-discord {tocsin_discord.__version__}" in line
    assert "loaded" in line
    assert "channels: discord" in line


# -- delivery through a full runtime -----------------------------------------------------------


async def test_grouped_notification_then_resolved(tmp_path):
    entry = "username: tocsin alerts\navatar_url: https://example.com/bell.png\nmention: '@here'"
    async with fake_discord() as d:
        async with running(config(entry, url=d.url()), tmp_path) as rt:
            starts = format_ts(rt.clock.now() - 120)
            group = [
                alert("HighLatency", labels={"severity": "critical", "instance": "api-1", "job": "api"},
                      annotations={"summary": "p99 is 2.3s", "description": "Above 1s for 10m.",
                                   "runbook_url": "https://runbooks.example/HighLatency"},
                      startsAt=starts, generatorURL="http://prometheus.example:9090/graph?g0.expr=up"),
                alert("HighLatency", labels={"severity": "warning", "instance": "api-2", "job": "api"},
                      annotations={"summary": "p99 is 1.2s"}, startsAt=starts),
                alert("HighLatency", labels={"severity": "warning", "instance": "api-3", "job": "api"},
                      startsAt=starts),
            ]
            await post(rt, *group)
            await advance(rt, 30)
            assert len(d.requests) == 1  # one message for the group

            ends = format_ts(rt.clock.now())
            await post(rt, *({**a, "endsAt": ends} for a in group))
            await advance(rt, 300)
            assert len(d.requests) == 2

        assert d.problems == [[], []]
        assert all(r.path == WEBHOOK_PATH for r in d.requests)
        first, second = d.bodies

        assert first["content"] == "@here **[FIRING:3] HighLatency (api)**"
        assert first["allowed_mentions"] == {"parse": ["everyone"]}
        assert first["username"] == "tocsin alerts"
        assert first["avatar_url"] == "https://example.com/bell.png"
        titles = [e["title"] for e in first["embeds"]]
        assert titles == ["🔥 [FIRING] HighLatency · api-1", "🔥 [FIRING] HighLatency · api-2",
                          "🔥 [FIRING] HighLatency · api-3"]
        assert [e["color"] for e in first["embeds"]] == [RED, ORANGE, ORANGE]
        e0 = first["embeds"][0]
        assert e0["description"] == "**p99 is 2.3s**\nAbove 1s for 10m."
        assert e0["url"] == "http://prometheus.example:9090/graph?g0.expr=up"
        fields = {f["name"]: f["value"] for f in e0["fields"]}
        assert fields["Severity"] == "critical"
        assert fields["Runbook"] == "[Open runbook](https://runbooks.example/HighLatency)"
        assert fields["Labels"] == "**job**: api"
        assert fields["Started"] == f"<t:{1_700_000_000 - 120}:f> (<t:{1_700_000_000 - 120}:R>)"
        assert e0["timestamp"] == starts
        assert e0["footer"]["text"].startswith("tocsin · chat · ")

        assert second["content"] == "**[RESOLVED] HighLatency (api)**"
        assert second["allowed_mentions"] == {"parse": []}  # nobody is pinged for a resolution
        assert [e["color"] for e in second["embeds"]] == [GREEN] * 3
        assert all(e["title"].startswith("✅ [RESOLVED] HighLatency") for e in second["embeds"])
        lasted = {f["name"]: f["value"] for f in second["embeds"][0]["fields"]}["Lasted"]
        assert lasted == "2m 30s"


async def test_send_resolved_false_sends_no_resolution(tmp_path):
    async with fake_discord() as d:
        async with running(config(url=d.url(), send_resolved=False), tmp_path) as rt:
            await post(rt, alert("A"))
            await advance(rt, 30)
            await post(rt, alert("A", endsAt=format_ts(rt.clock.now())))
            await advance(rt, 300)
        assert len(d.requests) == 1
        assert d.bodies[0]["content"] == "**[FIRING:1] A**"
        # No severity: red, as Alertmanager colours every firing message.
        assert d.bodies[0]["embeds"][0]["color"] == RED


async def test_mention_only_for_critical_and_alert_text_never_pings(tmp_path):
    entry = "mention: '<@123456789012345678> <@&876543210987654321>'"
    async with fake_discord() as d:
        async with running(config(entry, url=d.url()), tmp_path) as rt:
            await post(rt, alert("Warn", labels={"severity": "warning"},
                                 annotations={"summary": "@everyone look <@111111111111111111>"}))
            await advance(rt, 30)
            await post(rt, alert("Crit", labels={"severity": "CRIT"}))
            await advance(rt, 30)
        assert d.problems == [[], []]
        warn, crit = d.bodies
        assert warn["content"] == "**[FIRING:1] Warn (warning)**"
        assert warn["allowed_mentions"] == {"parse": []}
        assert warn["embeds"][0]["description"] == "@everyone look <@111111111111111111>"
        assert crit["content"] == "<@123456789012345678> <@&876543210987654321> **[FIRING:1] Crit (CRIT)**"
        assert crit["allowed_mentions"] == {"parse": [], "users": ["123456789012345678"],
                                            "roles": ["876543210987654321"]}


async def test_label_values_cannot_ping_when_the_mention_is_allowed_to(tmp_path):
    async with fake_discord() as d:
        async with running(config("mention: '@here'", url=d.url()), tmp_path) as rt:
            await post(rt, alert("A", labels={"severity": "critical", "team": "@everyone @here"}))
            await advance(rt, 30)
        body = d.bodies[0]
        assert body["allowed_mentions"] == {"parse": ["everyone"]}
        assert body["content"] == "@here **[FIRING:1] A (critical @\u200beveryone @\u200bhere)**"


async def test_label_values_cannot_inject_markdown_or_links(tmp_path):
    async with fake_discord() as d:
        async with running(config(url=d.url()), tmp_path) as rt:
            await post(rt, alert("A", labels={"instance": "**x** [click](https://evil.example)",
                                              "team": "<@&123456789012345678>"}))
            await advance(rt, 30)
        body = d.bodies[0]
        assert body["embeds"][0]["title"] == r"🔥 [FIRING] A · \*\*x\*\* \[click\](https://evil.example)"
        labels = {f["name"]: f["value"] for f in body["embeds"][0]["fields"]}["Labels"]
        assert labels == r"**team**: \<@&123456789012345678\>"


# -- Discord's limits --------------------------------------------------------------------------


async def test_oversized_annotations_and_labels_are_cut_to_the_limits(tmp_path):
    huge = "x" * 20_000
    many = {f"note_{i:02d}": f"note {i}" for i in range(40)}
    async with fake_discord() as d:
        async with running(config(url=d.url()), tmp_path) as rt:
            await post(rt, alert(
                "Big" + "N" * 400,
                labels={"severity": "warning", "instance": "i" * 500, "blob": "b" * 3000},
                annotations={"summary": "s" * 5000, "description": "🔥" * 5000, "detail": huge, **many},
                generatorURL="http://prometheus.example/" + "g" * 5000,
            ))
            await advance(rt, 30)
        assert d.problems == [[]], d.problems
        body = d.bodies[0]
        [e] = body["embeds"]
        assert units(e["title"]) <= 256
        assert e["title"].endswith("…")
        assert units(e["description"]) <= 4096
        assert e["description"].endswith("…")
        assert "url" not in e  # a link too long to be accepted is left out
        assert len(e["fields"]) <= 25
        assert all(units(f["value"]) <= 1024 for f in e["fields"])
        total = units(e["title"]) + units(e["description"]) + units(e["footer"]["text"]) + sum(
            units(f["name"]) + units(f["value"]) for f in e["fields"])
        assert total <= MAX_EMBED_TOTAL
        names = [f["name"] for f in e["fields"]]
        assert names[:2] == ["Severity", "Started"]
        assert units(body["content"]) <= 2000


async def test_more_than_ten_alerts_nine_embeds_and_a_summary(tmp_path):
    async with fake_discord() as d:
        async with running(config(url=d.url()), tmp_path) as rt:
            await post(rt, *(alert("Many", labels={"instance": f"host-{i:02d}", "severity": "warning"},
                                   annotations={"summary": f"disk {i} full", "description": "d" * 3000})
                             for i in range(15)))
            await advance(rt, 30)
        assert d.problems == [[]], d.problems
        body = d.bodies[0]
        assert body["content"] == "**[FIRING:15] Many (warning)**"
        embeds = body["embeds"]
        assert len(embeds) == 10
        assert [e["title"] for e in embeds[:9]] == [
            f"🔥 [FIRING] Many · host-{i:02d}" for i in range(9)]
        summary = embeds[9]
        assert summary["title"] == "…and 6 more alerts (6 firing)"
        assert summary["description"].splitlines() == [
            f"🔥 **Many** · host-{i:02d}: disk {i} full" for i in range(9, 15)]
        assert summary["color"] == ORANGE


def test_a_long_summary_list_counts_what_it_leaves_out():
    now = 1_700_000_000.0
    alerts = [Alert(fingerprint=f"{i:016x}", labels={"alertname": "A" * 150, "instance": f"h{i}"},
                    starts_at=now - 10, ends_at=0) for i in range(200)]
    n = Notification(receiver="chat", group_key="{}:{}", group_labels={}, alerts=alerts, now=now)
    cfg = channel_config(DiscordConfig, {"webhook_url": "http://127.0.0.1:1/x"})
    body = render(cfg, n)
    assert validate_message(body) == []
    lines = body["embeds"][9]["description"].splitlines()
    assert lines[-1].startswith("…and ")
    assert lines[-1].endswith(" more")
    assert len(lines) - 1 + int(lines[-1].split()[1]) == 191


def test_cut_counts_utf16_and_keeps_escapes_whole():
    assert cut("abc", 3) == "abc"
    assert cut("abcdef", 4) == "abc…"
    assert cut("🔥🔥🔥", 4) == "🔥…"  # never half a surrogate pair
    assert units(cut("🔥" * 100, 7)) <= 7
    assert cut("ab\\*cd", 4) == "ab…"  # no lone backslash escaping the ellipsis
    assert cut("abc", 0) == ""


# -- failures and retries ----------------------------------------------------------------------


async def test_400_is_not_retried_and_the_token_stays_secret(tmp_path):
    events = EventRecorder()
    async with fake_discord() as d:
        d.script = [(400, {}, {"code": 50006, "message": "Cannot send an empty message"})]
        async with running(config(url=d.url()), tmp_path, plugins=[events]) as rt:
            waits = instant_retries(rt)
            await post(rt, alert("A"))
            await advance(rt, 30)
            assert waits.delays == []
            assert len(d.requests) == 1
            (failed,) = events.failed
            assert failed.attempts == 1
            assert "HTTP 400" in failed.error
            assert "SECRETTOKEN" not in failed.error
            assert "<redacted>" in failed.error
            (dead,) = dead_letters(rt)
            assert "SECRETTOKEN" not in dead.error
            # The group's next flush tries again.
            await advance(rt, 300)
            assert len(d.requests) == 2
            assert len(events.sent) == 1


async def test_500_is_retried(tmp_path):
    events = EventRecorder()
    async with fake_discord() as d:
        d.script = [(500, {}, {"message": "500: Internal Server Error", "code": 0})]
        async with running(config(url=d.url()), tmp_path, plugins=[events]) as rt:
            waits = instant_retries(rt)
            await post(rt, alert("A"))
            with no_jitter():
                await advance(rt, 30)
            assert waits.delays == [0.5]
        assert len(d.requests) == 2
        assert d.bodies[0] == d.bodies[1]
        (sent,) = events.sent
        assert (sent.integration, sent.attempts) == ("discord[0]", 2)
        assert events.failed == []


async def test_429_waits_as_long_as_discord_says(tmp_path):
    events = EventRecorder()
    async with fake_discord() as d:
        d.script = [(429, {"Retry-After": "3"},
                     {"message": "You are being rate limited.", "retry_after": 2.5, "global": False})]
        async with running(config(url=d.url()), tmp_path, plugins=[events]) as rt:
            waits = instant_retries(rt)
            await post(rt, alert("A"))
            await advance(rt, 30)
            assert waits.delays == [3.0]
        assert len(d.requests) == 2
        assert [e.attempts for e in events.sent] == [2]


async def test_webhook_url_file_is_read_at_each_send(tmp_path):
    async with fake_discord() as d:
        secret = tmp_path / "discord-url"
        secret.write_text(d.url("/api/webhooks/1/one") + "\n")
        async with running(config(f"webhook_url_file: {secret}"), tmp_path) as rt:
            await post(rt, alert("A"))
            await advance(rt, 30)
            secret.write_text(d.url("/api/webhooks/2/two"))
            await post(rt, alert("B"))
            await advance(rt, 30)
        assert [r.path for r in d.requests] == ["/api/webhooks/1/one", "/api/webhooks/2/two"]


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
    ("send_resolved: true", "discord_configs[0].webhook_url", "set webhook_url or webhook_url_file"),
    ("webhook_url: http://a/b\nwebhook_url_file: /x", "discord_configs[0].webhook_url_file", "not both"),
    ("webhook_url: discord.com/api/webhooks/1/x", "discord_configs[0].webhook_url", "invalid URL"),
    ("webhook_url: http://a/b\nusername: My Discord Bot", "discord_configs[0].username", "'discord'"),
    ("webhook_url: http://a/b\nusername: '" + "u" * 81 + "'", "discord_configs[0].username", "1 to 80"),
    ("webhook_url: http://a/b\nmention: '@alice'", "discord_configs[0].mention", "cannot mention '@alice'"),
    ("webhook_url: http://a/b\navatar_url: bell.png", "discord_configs[0].avatar_url", "invalid URL"),
    ("webhook_url: http://a/b\ncolour: red", "discord_configs[0].colour", ""),
])
def test_config_errors_point_at_the_field(entry, path, message):
    with pytest.raises(ConfigError) as err:
        make_config(config(entry))
    [problem] = err.value.problems
    assert problem.path.endswith(path), problem
    assert message in problem.message


def test_random_notifications_always_fit():
    """Whatever the alerts hold, Discord accepts the message."""
    import random

    rng = random.Random(20240501)
    alphabet = "ab *_~`|<>[]#-\\\n🔥é\u200b@"
    now = 1_700_000_000.0

    def text(max_len: int) -> str:
        return "".join(rng.choices(alphabet, k=rng.randint(0, max_len)))

    cfg = channel_config(DiscordConfig, {"webhook_url": "http://127.0.0.1:1/x",
                                         "mention": "@here <@123456789012345678>"})
    for _ in range(30):
        alerts = []
        for i in range(rng.choice([1, 2, 5, 10, 11, 30])):
            labels = {"alertname": text(300) or "x", "severity": rng.choice(["critical", "warning", "x"])}
            labels.update({f"l{j}": text(rng.choice([5, 2000])) for j in range(rng.randint(0, 30))})
            annotations = {f"a{j}": text(rng.choice([5, 3000])) for j in range(rng.randint(0, 30))}
            annotations["summary"] = text(rng.choice([10, 5000]))
            annotations["description"] = text(rng.choice([10, 9000]))
            annotations["runbook_url"] = "https://r.example/" + text(50)
            resolved = rng.random() < 0.3
            alerts.append(Alert(fingerprint=f"{i:016x}", labels=labels, annotations=annotations,
                                starts_at=now - 600, ends_at=now - 1 if resolved else 0,
                                generator_url=rng.choice(["", "http://p/" + text(3000)])))
        group = {"alertname": alerts[0].labels["alertname"]}
        n = Notification(receiver=text(100) or "r", group_key="k", group_labels=group, alerts=alerts, now=now)
        body = render(cfg, n)
        assert validate_message(body) == [], body


# -- the daemon as a user runs it --------------------------------------------------------------


@pytest.mark.e2e
async def test_tocsin_serve_loads_the_plugin_and_delivers(tmp_path):
    async with fake_discord() as d:
        text = config("mention: '@here'", url=d.url()).replace("group_wait: 30s", "group_wait: 0s")
        async with serving(text, tmp_path) as url, aiohttp.ClientSession() as s:
            alerts = [{"labels": {"alertname": "Down", "instance": f"h{i}", "severity": "critical"},
                       "annotations": {"summary": f"h{i} is down"}} for i in range(2)]
            async with s.post(f"{url}/api/v2/alerts", json=alerts) as r:
                assert r.status == 200, await r.text()
            [req] = await d.wait_for(1)
    assert d.problems == [[]]
    assert req.body["content"] == "@here **[FIRING:2] Down (critical)**"
    assert [e["description"] for e in req.body["embeds"]] == ["h0 is down", "h1 is down"]


# -- the README --------------------------------------------------------------------------------


def test_readme_example_loads_and_its_sample_is_accepted():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    [example] = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    make_config(example)
    sample = re.findall(r"```json\n(.*?)```", readme, re.S)[-1]
    assert validate_message(msgspec.json.decode(sample)) == []


def test_a_lifecycle_notice_says_so_first():
    alert = Alert(fingerprint="f", labels={"alertname": "DiskFull"}, starts_at=1.0, ends_at=0.0)
    n = Notification(receiver="r", group_key="g", group_labels={"alertname": "DiskFull"}, alerts=[alert],
                     now=2.0, event="acknowledged", actor="alice", note="resizing")
    assert tocsin_discord.subject(n, n.alerts) == "Acknowledged by alice: resizing · [FIRING:1] DiskFull"
    plain = msgspec.structs.replace(n, event="", actor="", note="")
    assert tocsin_discord.subject(plain, plain.alerts) == "[FIRING:1] DiskFull"
