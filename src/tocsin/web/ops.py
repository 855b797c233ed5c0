"""Operational endpoints: health, readiness, reload."""

from __future__ import annotations

from aiohttp import web

from tocsin.core.routes import HTTPRoute
from tocsin.web import json_error, json_response
from tocsin.web.keys import RELOADER, RUNTIME

__all__ = ["routes"]


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="OK")


async def ready(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    if not rt.ready:
        return web.Response(status=503, text="Service Unavailable")
    failure = rt.store.failure
    if failure is not None:  # writes are refused (until a restart, or until the database answers)
        return web.Response(status=503, text=f"Service Unavailable: {failure}\n")
    return web.Response(text="OK")


async def reload(request: web.Request) -> web.Response:
    reloader = request.app.get(RELOADER)
    if reloader is None:
        return json_error(501, "this server has no config file to reload")
    try:
        await reloader()
    except ValueError as exc:
        return json_error(400, f"config not reloaded, the previous one stays: {exc}")
    return json_response({"status": "reloaded"})


def routes() -> list[HTTPRoute]:
    return [
        HTTPRoute("GET", "/-/healthy", healthy, access="open", summary="Liveness"),
        HTTPRoute("GET", "/-/ready", ready, access="open",
                  summary="Readiness: 503 until state is loaded, once the database file is gone, "
                  "and while the database cannot be reached"),
        HTTPRoute("POST", "/-/reload", reload, access="admin", summary="Read the config file again"),
    ]
