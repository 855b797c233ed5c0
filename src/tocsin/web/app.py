"""The aiohttp application: routes, error shape, and the runtime's lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from tocsin.runtime import Runtime
from tocsin.web import amwebhook, auth, integrations, json_error, limits, openapi, ops
from tocsin.web.amv2 import alerts as v2
from tocsin.web.amv2 import silences, status
from tocsin.web.keys import MAX_REQUEST_BYTES, RELOADER, RUNTIME
from tocsin.web.metrics import StateCollector
from tocsin.web.v1 import delivery, incidents, remediations

__all__ = ["create_app"]


@web.middleware
async def json_errors(request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]):
    """Errors raised by aiohttp itself (404, 405, 413) answer in the API's JSON shape."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        if exc.status == 413:
            limit = request.app[MAX_REQUEST_BYTES]
            return json_error(413, f"request body larger than the limit of {limit} bytes")
        return json_error(exc.status, exc.reason)


def create_app(runtime: Runtime, reloader: Callable[[], Awaitable[None]] | None = None) -> web.Application:
    max_bytes = runtime.config.server.body_limit
    # Outermost first: the rate limit (and declared body size), then who may call what,
    # then errors in the API's JSON shape.
    middlewares = [limits.limits_middleware(), auth.auth_middleware(), json_errors]
    app = web.Application(client_max_size=max_bytes, middlewares=middlewares)
    app[MAX_REQUEST_BYTES] = max_bytes
    app[RUNTIME] = runtime
    runtime.metrics.register(StateCollector(runtime))
    if reloader is not None:
        app[RELOADER] = reloader

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await runtime.start()
        yield
        await runtime.stop()

    app.cleanup_ctx.append(lifecycle)
    app.add_routes(v2.routes())
    app.add_routes(silences.routes())
    app.add_routes(status.routes())
    app.add_routes(delivery.routes())
    app.add_routes(incidents.routes())
    app.add_routes(amwebhook.routes())
    app.add_routes(openapi.routes())
    app.add_routes(integrations.routes())
    app.add_routes(remediations.routes())
    app.add_routes(ops.routes())
    return app
