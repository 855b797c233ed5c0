"""The aiohttp application: routes, error shape, and the runtime's lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from tocsin.core.hooks import call_impls
from tocsin.core.routes import HTTPRoute, RouteTable
from tocsin.runtime import Runtime
from tocsin.store import StorageError
from tocsin.web import amwebhook, auth, json_error, limits, openapi, ops
from tocsin.web.amv2 import alerts as v2
from tocsin.web.amv2 import errors as amv2_errors
from tocsin.web.amv2 import silences, status
from tocsin.web.connections import ConnectionGuard
from tocsin.web.dashboard import events as dashboard_events
from tocsin.web.dashboard import pages as dashboard
from tocsin.web.dashboard.session import Sessions
from tocsin.web.keys import MAX_REQUEST_BYTES, RELOADER, ROUTES, RUNTIME, SESSIONS, STREAMS
from tocsin.web.metrics import StateCollector
from tocsin.web.v1 import delivery, heartbeats, incidents, remediations, replay, silence_form

__all__ = ["BUILTIN_ROUTES", "create_app"]

log = structlog.get_logger("tocsin.web")

#: The modules of the built-in API, each declaring its routes in ``routes()``.
BUILTIN_ROUTES: tuple[Callable[[], list[HTTPRoute]], ...] = (
    v2.routes, silences.routes, status.routes, delivery.routes, incidents.routes, amwebhook.routes,
    openapi.routes, remediations.routes, ops.routes, silence_form.routes, heartbeats.routes, replay.routes,
    dashboard.routes,
)


@web.middleware
async def json_errors(request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]):
    """Errors raised by aiohttp itself (404, 405, 413) answer in the API's JSON shape; so
    does a read the database could not answer (503, with the reason: it cannot be reached),
    and a body that is not text in its charset (400)."""
    try:
        return await handler(request)
    except UnicodeDecodeError:  # a body read as text (a form, a config) that is not in its charset
        return json_error(400, "the request body is not text in its charset")
    except StorageError as exc:
        if request.path.startswith(amv2_errors.PREFIX):
            return amv2_errors.coded_error(503, str(exc))
        return json_error(503, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        if exc.status == 413:
            limit = request.app[MAX_REQUEST_BYTES]
            return json_error(413, f"request body larger than the limit of {limit} bytes")
        if request.path.startswith(amv2_errors.PREFIX):
            return _alertmanager_shape(request, exc)
        return json_error(exc.status, exc.reason)


def _alertmanager_shape(request: web.Request, exc: web.HTTPException) -> web.Response:
    """aiohttp's own 404 and 405 on the Alertmanager API, worded as Alertmanager words them."""
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = sorted(m for m in exc.allowed_methods if m != "HEAD")
        return amv2_errors.coded_error(
            405, f"method {request.method} is not allowed, but [{','.join(allowed)}] are")
    if exc.status == 404:
        return amv2_errors.coded_error(404, f"path {request.path} was not found")
    return amv2_errors.coded_error(exc.status, exc.reason)


def _plugin_routes(runtime: Runtime) -> Iterator[tuple[str, HTTPRoute]]:
    """``(plugin, route)`` for each route a plugin declares; a plugin that fails is logged."""
    for plugin, answer in call_impls(runtime.hooks.hook.tocsin_register_routes,
                                     runtime=runtime.facade):
        if isinstance(answer, BaseException):
            log.error("plugin's routes failed; none of them is served", plugin=plugin,
                      error=f"{type(answer).__name__}: {answer}")
        elif not isinstance(answer, list | tuple) or not all(isinstance(r, HTTPRoute) for r in answer):
            log.error("plugin's routes are not a list of HTTPRoute; none of them is served",
                      plugin=plugin, answer=type(answer).__name__)
        else:
            for route in answer:
                yield plugin, route


def _serve(app: web.Application, table: RouteTable, route: HTTPRoute) -> None:
    """Register ``route`` with the router and in the table; ValueError if it cannot be."""
    if table.get(route.method, route.path) is not None:
        raise ValueError(f"{route.method} {route.path} is declared already")
    try:
        if route.method == "GET":
            app.router.add_get(route.path, route.handler)  # and HEAD, which the table treats as GET
        else:
            app.router.add_route(route.method, route.path, route.handler)
    except (ValueError, RuntimeError) as exc:  # e.g. a malformed path
        raise ValueError(f"{route.method} {route.path}: {exc}") from None
    table.add(route)


def create_app(runtime: Runtime, reloader: Callable[[], Awaitable[None]] | None = None,
               connections: ConnectionGuard | None = None) -> web.Application:
    """The app serving ``runtime``; ``connections``, the guard of the listener it is served
    on (the daemon's), learns from it when a connection is busy with a request."""
    max_bytes = runtime.config.server.body_limit
    # Outermost first: the rate limit (and declared body size), then who may call what,
    # then errors in the API's JSON shape.
    middlewares: list[Middleware] = [limits.limits_middleware(), auth.auth_middleware(), json_errors]
    if connections is not None:
        middlewares.insert(0, connections.middleware())
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
    app[STREAMS] = set()
    app[SESSIONS] = Sessions()
    app.on_shutdown.append(dashboard_events.close_streams)
    table = RouteTable()
    for declared in BUILTIN_ROUTES:
        for route in declared():
            _serve(app, table, route)
    for plugin, route in _plugin_routes(runtime):
        try:
            _serve(app, table, route)
        except ValueError as exc:
            log.error("plugin's route not served", plugin=plugin, error=str(exc))
    app[ROUTES] = table
    return app
