"""Alertmanager API v2: silences."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from aiohttp import web

from tocsin.core.routes import HTTPRoute
from tocsin.core.timefmt import format_ts, from_datetime, past_max
from tocsin.mute.silences import Silence, SilenceError, SilenceMatcher, SilenceNotFound
from tocsin.store import StorageError
from tocsin.web import json_response
from tocsin.web.amv2.alerts import filter_matchers
from tocsin.web.amv2.errors import am_error, am_json_body, coded_error
from tocsin.web.keys import RUNTIME

__all__ = ["routes"]


class PostableSilence(msgspec.Struct, kw_only=True, rename="camel"):
    id: str = ""
    matchers: Annotated[list[SilenceMatcher], msgspec.Meta(min_length=1)]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str


_post_dec = msgspec.json.Decoder(PostableSilence)


def gettable(sil: Silence, now: float) -> dict[str, object]:
    return {
        "id": sil.id,
        "status": {"state": sil.state(now)},
        "updatedAt": format_ts(sil.updated_at),
        "matchers": [
            {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
            for m in sil.matchers
        ],
        "startsAt": format_ts(sil.starts_at),
        "endsAt": format_ts(sil.ends_at),
        "createdBy": sil.created_by,
        "comment": sil.comment,
    }


async def list_silences(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    filters = filter_matchers(request)
    if isinstance(filters, web.Response):
        return filters
    now = rt.clock.now()
    return json_response([gettable(s, now) for s in rt.silences.query(filters, now)])


async def post_silence(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    posted = am_json_body(_post_dec, await request.read(), "silence")
    if isinstance(posted, web.Response):
        return posted
    for name, value in (("startsAt", posted.starts_at), ("endsAt", posted.ends_at)):
        if past_max(from_datetime(value)):
            return am_error(400, f"Failed to create silence: {name} is after the year 9999 (in UTC)")
    sil = Silence(
        id=posted.id,
        matchers=tuple(posted.matchers),
        starts_at=from_datetime(posted.starts_at),
        ends_at=from_datetime(posted.ends_at),
        created_by=posted.created_by,
        comment=posted.comment,
    )
    try:
        sid = await rt.silences.set(sil, rt.clock.now())
    except SilenceNotFound:
        return am_error(404, "silence not found")
    except SilenceError as exc:
        return am_error(400, str(exc))
    except StorageError as exc:
        return am_error(503, f"silence not stored: {exc}")
    return json_response({"silenceID": sid})


def _bad_id(request: web.Request) -> web.Response | None:
    """The 422 Alertmanager answers for a silence id that is no UUID, or None."""
    sid = request.match_info["id"]
    try:
        uuid.UUID(sid)
    except ValueError:
        return coded_error(422, f'silenceID in path must be of type uuid: "{sid}"', 601)
    return None


async def get_silence(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    if (bad := _bad_id(request)) is not None:
        return bad
    try:
        sil = rt.silences.get(request.match_info["id"])
    except SilenceNotFound:
        return am_error(404, "silence not found")
    return json_response(gettable(sil, rt.clock.now()))


async def delete_silence(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    if (bad := _bad_id(request)) is not None:
        return bad
    try:
        await rt.silences.expire(request.match_info["id"], rt.clock.now())
    except SilenceNotFound:
        return am_error(404, "silence not found")
    except StorageError as exc:
        return am_error(503, f"silence not expired: {exc}")
    return web.Response(status=200)


def routes() -> list[HTTPRoute]:
    return [
        HTTPRoute("GET", "/api/v2/silences", list_silences, access="read", summary="Silences"),
        HTTPRoute("POST", "/api/v2/silences", post_silence, access="admin", summary="Create or update one"),
        HTTPRoute("GET", "/api/v2/silence/{id}", get_silence, access="read", summary="One silence"),
        HTTPRoute("DELETE", "/api/v2/silence/{id}", delete_silence, access="admin", summary="Expire one"),
    ]
