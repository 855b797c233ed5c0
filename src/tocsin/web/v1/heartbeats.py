"""tocsin's own API for heartbeats: list them, and post a beat (a cron job, a backup script)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from tocsin.core.routes import HTTPRoute, error_answers, json_answer
from tocsin.core.timefmt import format_ts
from tocsin.incidents.heartbeats import HeartbeatError
from tocsin.store import HeartbeatSeen
from tocsin.web import json_body, json_error, json_response
from tocsin.web.keys import RUNTIME

__all__ = ["routes"]

PREFIX = "/api/tocsin/v1"


class BeatBody(msgspec.Struct, forbid_unknown_fields=True):
    #: A value for each of the heartbeat's ``per`` labels.
    labels: dict[str, str] = {}


_beat_dec = msgspec.json.Decoder(BeatBody)


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    seen = row["lastSeen"]
    return {**row, "lastSeen": None if seen is None else format_ts(seen), "due": format_ts(row["due"])}


async def list_heartbeats(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    return json_response([_shown(row) for row in rt.heartbeats.listing()])


def _beaten(entry: HeartbeatSeen) -> dict[str, Any]:
    return {"name": entry.name, "labels": entry.labels,
            "lastSeen": None if entry.last_seen is None else format_ts(entry.last_seen)}


async def post_beat(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    raw = await request.read()
    body: BeatBody | web.Response = BeatBody()
    if raw.strip():
        body = json_body(_beat_dec, raw, "invalid beat")
    if isinstance(body, web.Response):
        return body
    try:
        entry = rt.heartbeats.beat(request.match_info["name"], body.labels)
    except HeartbeatError as exc:
        return json_error(404 if exc.field == "name" else 400, str(exc), field=exc.field)
    return json_response(_beaten(entry))


_ROW = {"type": "object", "properties": {
    "name": {"type": "string"}, "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "lastSeen": {"type": ["string", "null"], "format": "date-time"},
    "due": {"type": "string", "format": "date-time"},
    "state": {"type": "string", "enum": ["ok", "waiting", "missing"]},
}}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
         "description": "the heartbeat's name"}
_BODY = {"required": False, "content": {"application/json": {"schema": {"type": "object", "properties": {
    "labels": {"type": "object", "additionalProperties": {"type": "string"},
               "description": "a value for each of the heartbeat's per labels"}}}}}}


def routes() -> list[HTTPRoute]:
    return [
        HTTPRoute(
            "GET", f"{PREFIX}/heartbeats", list_heartbeats, access="read",
            summary="Heartbeats: when each was last seen, and whether it is missing",
            openapi={"responses": {"200": json_answer({"type": "array", "items": _ROW}),
                                   **error_answers(401, 403)}},
        ),
        HTTPRoute(
            "POST", f"{PREFIX}/heartbeats/{{name}}", post_beat, access="ingest",
            summary="A beat of a heartbeat",
            openapi={"parameters": [_NAME], "requestBody": _BODY,
                     "responses": {"200": json_answer(_ROW), **error_answers(400, 401, 403, 404)}},
        ),
    ]
