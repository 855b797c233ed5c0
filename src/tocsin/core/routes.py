"""HTTP routes as declarations: each route says once its method, path, handler, who may
call it and its OpenAPI entry.

The app serves the declared routes, the auth middleware takes each route's access
from its declaration and the OpenAPI document is written from the same
declarations, so the three cannot disagree. The built-in API modules declare theirs
in their ``routes()``; a plugin (a channel's signed callback, say) returns its own
from :func:`tocsin.hookspecs.tocsin_register_routes`. Handlers answer in the API's
JSON shape with :func:`json_response` and :func:`json_error`, and read a JSON body
with :func:`json_body`.

This module is in core, below every stage, so the hookspecs and a channel can
name it without importing the web app or the runtime; it depends on aiohttp,
msgspec and :mod:`tocsin.core.jsondecode` alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args

import msgspec
from aiohttp import web

from tocsin.core.jsondecode import decode, split_error
from tocsin.core.pacing import Pacer, encode_list_paced

__all__ = [
    "ERROR", "Access", "HTTPRoute", "Handler", "RouteTable", "error_answers", "id_param", "json_answer",
    "json_body", "json_error", "json_list_response", "json_response", "query_param",
]

#: Who may call a route once ``server.auth`` is set: ``open`` needs no credentials (health
#: checks, and callbacks that carry their own signature), ``ingest`` the ingest or admin
#: role, ``read`` the read or admin role, ``admin`` the admin role.
Access = Literal["open", "ingest", "read", "admin"]
ACCESS_LEVELS: tuple[str, ...] = get_args(Access)
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class HTTPRoute:
    """One route. ``GET`` routes answer ``HEAD`` too, with the same access."""

    method: str
    #: As aiohttp writes it, ``{name}`` for a path parameter: ``/api/tocsin/v1/alerts/{id}``.
    path: str
    handler: Handler
    access: Access
    #: One line saying what it is for; the OpenAPI operation's ``summary``.
    summary: str
    #: The rest of its OpenAPI operation (``responses``, and ``parameters``, ``requestBody``
    #: where it has them). None keeps it out of tocsin's OpenAPI document: Alertmanager's API
    #: v2 is described by Alertmanager's, and the operational endpoints are no API.
    openapi: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"route {self.path!r}: method {self.method!r} is not one of {sorted(METHODS)}")
        if not self.path.startswith("/"):
            raise ValueError(f"route {self.method} {self.path!r}: the path must start with '/'")
        if self.access not in ACCESS_LEVELS:
            raise ValueError(f"route {self.method} {self.path}: access {self.access!r} is not one of "
                             f"{', '.join(ACCESS_LEVELS)}")
        if not callable(self.handler):
            raise ValueError(f"route {self.method} {self.path}: the handler is not callable")
        if self.openapi is not None and "responses" not in self.openapi:
            raise ValueError(f"route {self.method} {self.path}: its OpenAPI entry has no responses")

    def operation(self) -> dict[str, Any] | None:
        """Its OpenAPI operation object, or None when it is left out of the document."""
        return None if self.openapi is None else {"summary": self.summary, **self.openapi}


class RouteTable:
    """The routes one app serves, by method and path."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], HTTPRoute] = {}

    def add(self, route: HTTPRoute) -> None:
        """Add ``route``; ValueError when its method and path are declared already."""
        if (route.method, route.path) in self._routes:
            raise ValueError(f"{route.method} {route.path} is declared already")
        self._routes[route.method, route.path] = route

    def get(self, method: str, path: str) -> HTTPRoute | None:
        """The declaration of ``method`` on the registered route ``path`` (HEAD is GET's)."""
        return self._routes.get(("GET" if method == "HEAD" else method, path))

    def access(self, method: str, path: str) -> Access | None:
        """What ``method`` on the registered route ``path`` needs; None for an undeclared route."""
        route = self.get(method, path)
        return None if route is None else route.access

    def __iter__(self) -> Iterator[HTTPRoute]:
        return iter(self._routes.values())

    def __len__(self) -> int:
        return len(self._routes)


# -- answers in the API's shape ---------------------------------------------------------------------

_enc = msgspec.json.Encoder()


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=_enc.encode(data), status=status, content_type="application/json")


async def json_list_response(items: list[Any], pacer: Pacer, status: int = 200) -> web.Response:
    """:func:`json_response` of a list that may be long: encoded a slice at a time, handing
    the event loop back between slices. The same bytes, in one answer."""
    body = await encode_list_paced(items, pacer, _enc)
    return web.Response(body=body, status=status, content_type="application/json")


def json_error(status: int, error: str, field: str | None = None, **extra: Any) -> web.Response:
    """``{"error": ..., "field": ...}``, every error's shape (``field`` names the offending input)."""
    body: dict[str, Any] = {"error": error}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return json_response(body, status)


T = TypeVar("T")


def json_body(decoder: msgspec.json.Decoder[T], body: bytes, what: str) -> T | web.Response:
    """``body`` decoded, or the 400 answer: ``invalid JSON: ...``, or ``<what>: <msgspec's
    message>`` with ``field`` naming the offending field."""
    try:
        return decode(decoder, body)
    except msgspec.ValidationError as exc:
        field, message = split_error(exc)
        return json_error(400, f"{what}: {message}", field=field or None)
    except msgspec.DecodeError as exc:
        return json_error(400, f"invalid JSON: {exc}")


# -- OpenAPI building blocks, shared by every declaration ------------------------------------------

#: The error answer's schema (``{"error": ..., "field": ...}``), a component of the document.
ERROR = {"$ref": "#/components/schemas/Error"}

_ERROR_TEXT = {
    400: "Invalid input; `field` names the offending one", 401: "Authentication required",
    403: "Forbidden for this role", 404: "Not found", 409: "Not applicable in the current state",
    413: "Too large", 429: "Rate limited", 503: "Not stored (the database is unavailable)",
}


def json_answer(schema: Mapping[str, Any], description: str = "OK") -> dict[str, Any]:
    """A response with a JSON body of ``schema``."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_answers(*codes: int) -> dict[str, Any]:
    """The error responses ``codes`` (from 400, 401, 403, 404, 409, 413, 429, 503), by status."""
    return {str(c): json_answer(ERROR, _ERROR_TEXT[c]) for c in codes}


def id_param(description: str) -> dict[str, Any]:
    """The ``{id}`` path parameter."""
    return {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
            "description": description}


def query_param(name: str, schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    """An optional query parameter."""
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}
