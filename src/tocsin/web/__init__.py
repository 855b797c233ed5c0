"""HTTP API: Alertmanager's API v2 and tocsin's own endpoints."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

__all__ = ["json_error", "json_response"]

_enc = msgspec.json.Encoder()


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=_enc.encode(data), status=status, content_type="application/json")


def json_error(status: int, error: str, field: str | None = None, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"error": error}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return json_response(body, status)
