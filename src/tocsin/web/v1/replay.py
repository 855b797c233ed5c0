"""``POST /api/tocsin/v1/replay``: ``tocsin replay`` from the API (admin role).

The body is the changed config (YAML), or JSON ``{"config": YAML, "against": YAML,
"since": "7d", "until": T}``; the answer is the report ``tocsin replay -o json`` prints.
The replay runs as that command, in a child process that reads this daemon's database:
a week of history is seconds of work, which must neither stall the event loop nor share
the daemon's memory; one replay at a time.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from tocsin.core.routes import HTTPRoute, error_answers, json_answer
from tocsin.web import json_error, json_response
from tocsin.web.keys import RUNTIME

__all__ = ["TIMEOUT", "routes"]

PREFIX = "/api/tocsin/v1"
#: Seconds a replay may take before it is stopped (answered 504).
TIMEOUT = 300.0
#: The apps (by id) running a replay now.
_busy: set[int] = set()


async def _request(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        text = (await request.read()).decode(request.charset or "utf-8")
    except (UnicodeDecodeError, LookupError):
        return json_error(400, "the body is not UTF-8 text", field="config")
    if request.content_type == "application/json":
        try:
            body = json.loads(text)
        except ValueError:
            return json_error(400, "the body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("config"), str):
            return json_error(400, "expected {\"config\": YAML text, ...}", field="config")
        for key in ("against", "since", "until"):
            if body.get(key) is not None and not isinstance(body[key], str):
                return json_error(400, f"{key} must be a string", field=key)
        for key in ("since", "until"):  # command-line arguments of the replay's process
            if "\0" in (body.get(key) or ""):
                return json_error(400, f"{key} holds a NUL character", field=key)
        return body
    if not text.strip():
        return json_error(400, "the body must hold the config to replay", field="config")
    return {"config": text}


def _storage(request: web.Request) -> tuple[list[str], dict[str, str]]:
    """Where the daemon's database is, as arguments (SQLite) or environment (a URL)."""
    store = request.app[RUNTIME].store
    env = dict(os.environ)
    url = getattr(store, "url", None)
    if isinstance(url, str):
        env["TOCSIN_REPLAY_URL"] = url  # not on a command line others may read
        return [], env
    return ["--storage", str(store.path)], env  # type: ignore[attr-defined]


async def replay(request: web.Request) -> web.Response:
    body = await _request(request)
    if isinstance(body, web.Response):
        return body
    if id(request.app) in _busy:
        return json_error(409, "a replay is running already; try again when it is done")
    _busy.add(id(request.app))
    try:
        return await _run(request, body)
    finally:
        _busy.discard(id(request.app))


async def _run(request: web.Request, body: dict[str, Any]) -> web.Response:
    where, env = _storage(request)
    with tempfile.TemporaryDirectory(prefix="tocsin-replay-") as tmp:
        new = Path(tmp) / "new.yml"
        new.write_text(body["config"], encoding="utf-8")
        args = ["--config", str(new), *where, "--since", body.get("since") or "7d", "-o", "json"]
        if body.get("against"):
            (Path(tmp) / "old.yml").write_text(body["against"], encoding="utf-8")
            args += ["--against", str(Path(tmp) / "old.yml")]
        if body.get("until"):
            args += ["--until", body["until"]]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tocsin", "replay", *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return json_error(504, f"the replay took longer than {TIMEOUT:g}s; replay a shorter window")
    if proc.returncode not in (0, 1):
        message = err.decode(errors="replace").strip().removeprefix("tocsin: error: ")
        return json_error(400, message.replace(str(new), "config") or "the replay failed", field="config")
    return json_response(json.loads(out))


def routes() -> list[HTTPRoute]:
    return [
        HTTPRoute(
            "POST", f"{PREFIX}/replay", replay, access="admin",
            summary="Replay stored history through a changed config (what tocsin replay reports)",
            openapi={
                "requestBody": {"content": {
                    "application/yaml": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"type": "object", "required": ["config"], "properties": {
                        "config": {"type": "string"}, "against": {"type": "string"},
                        "since": {"type": "string"}, "until": {"type": "string"}}}},
                }},
                "responses": {"200": json_answer({"type": "object"}), **error_answers(400, 401, 403, 409)},
            },
        ),
    ]
