"""Silences: ``/silences`` (active, pending, expired; ``filter`` finds the silences that
have those very matchers, as Alertmanager does), ``/silences/{id}`` (one silence, the
alerts it mutes now, and its edit form), ``POST /silences/{id}/expire``.

Creating and editing are in :mod:`tocsin.web.dashboard.silence_edit`.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from tocsin.core.matchers import MatcherError
from tocsin.core.routes import HTTPRoute
from tocsin.mute.silences import Silence, SilenceNotFound
from tocsin.store import StorageError
from tocsin.web.dashboard import csrf, filtertext
from tocsin.web.dashboard.render import back, error_page, page
from tocsin.web.dashboard.silence_edit import PRESETS, form_values, preview
from tocsin.web.keys import RUNTIME

__all__ = ["matchers_text", "routes"]

SECTIONS = ("active", "pending", "expired")


def matchers_text(sil: Silence) -> str:
    return ", ".join(str(m.to_matcher()) for m in sil.matchers)


def _item(sil: Silence, now: float) -> dict[str, Any]:
    return {"id": sil.id, "state": sil.state(now), "matchers": matchers_text(sil), "starts_at": sil.starts_at,
            "ends_at": sil.ends_at, "created_by": sil.created_by, "comment": sil.comment}


async def list_silences(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    text = filtertext.join(request.query.getall("filter", []))
    try:
        filters = filtertext.parse(text)
    except MatcherError as exc:
        return page(request, "silences.html", "silences", status=400, error=str(exc), filter_text=text,
                    sections={s: [] for s in SECTIONS})
    now = rt.clock.now()
    sections: dict[str, list[dict[str, Any]]] = {s: [] for s in SECTIONS}
    for sil in rt.silences.query(filters, now):
        sections[sil.state(now)].append(_item(sil, now))
    return page(request, "silences.html", "silences", error="", filter_text=text, sections=sections)


def _silence(request: web.Request) -> Silence | web.Response:
    rt = request.app[RUNTIME]
    sid = request.match_info["id"]
    try:
        uuid.UUID(sid)
        return rt.silences.get(sid)
    except (ValueError, SilenceNotFound):
        return error_page(request, 404, "No such silence", f"No silence has the id {sid!r}.")


async def show(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    sil = _silence(request)
    if isinstance(sil, web.Response):
        return sil
    now = rt.clock.now()
    item = _item(sil, now)
    return page(request, "silence.html", "silences", silence=item, error="", presets=PRESETS,
                form=form_values(request, sil), preview=preview(rt, sil.compiled(), now))


async def expire(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    form = await request.post()
    refused = csrf.check(request, form)
    if refused is not None:
        return error_page(request, 403, "Not expired", refused)
    sil = _silence(request)
    if isinstance(sil, web.Response):
        return sil
    try:
        await rt.silences.expire(sil.id, rt.clock.now())
    except StorageError as exc:
        return error_page(request, 503, "Not expired", f"not stored: {exc}")
    raise back(form.get("next"), f"/silences/{sil.id}")


def routes() -> list[HTTPRoute]:
    return [
        HTTPRoute("GET", "/silences", list_silences, access="read", summary="Silences"),
        HTTPRoute("GET", "/silences/{id}", show, access="read", summary="One silence"),
        HTTPRoute("POST", "/silences/{id}/expire", expire, access="admin", summary="Expire a silence"),
    ]
