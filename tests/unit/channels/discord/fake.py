"""A local Discord webhook that checks every request as Discord documents "Execute
Webhook" (fields, types, enum values, and the length and count limits) and answers as a
test tells it to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import msgspec
from aiohttp import web

from tocsin.channels.discord.detailed import units

WEBHOOK_PATH = "/api/webhooks/112233445566778899/SECRETTOKEN-abc_DEF"

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
