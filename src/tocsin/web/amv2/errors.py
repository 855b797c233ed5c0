"""Errors of the Alertmanager API v2 in Alertmanager's shapes, which its clients decode.

Alertmanager (go-swagger) answers a refusal of its handlers with a JSON string (``"silence
not found"``), a body it cannot parse with 400 ``{"code": 400, "message": ...}``, a body
that breaks the schema (a required field missing, no matchers) with 422 ``{"code": 602,
"message": "comment in body is required"}``, and an unknown path or method with
``{"code": 404|405, "message": ...}``. amtool reads these and nothing else: given
tocsin's own ``{"error": ...}`` it prints ``cannot unmarshal object into Go value of type
string``, and ``amtool silence import`` recreates a silence without its id only after a
404 whose body is a string. tocsin's own API keeps its richer ``{"error", "field"}``.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from tocsin.core.jsondecode import decode, split_error

__all__ = ["PREFIX", "am_error", "am_json_body", "coded_error", "schema_error"]

#: The paths whose errors take these shapes.
PREFIX = "/api/v2/"

_enc = msgspec.json.Encoder()
T = TypeVar("T")

#: go-swagger's codes: 601 a value of the wrong type or format, 602 a required value
#: missing, 612 too few items.
_MISSING = re.compile(r"^Object missing required field `[^`]+`$")
_TOO_SHORT = re.compile(r"^Expected `array` of length >= (?P<n>\d+)$")


def am_error(status: int, message: str) -> web.Response:
    """A refusal by a handler: ``message`` as a JSON string."""
    return web.Response(body=_enc.encode(message), status=status, content_type="application/json")


def coded_error(status: int, message: str, code: int | None = None) -> web.Response:
    """``{"code": ..., "message": ...}``, the shape of go-swagger's own errors."""
    body: dict[str, Any] = {"code": status if code is None else code, "message": message}
    return web.Response(body=_enc.encode(body), status=status, content_type="application/json")


def _swagger_path(path: str) -> str:
    """``alerts[0].labels`` as go-swagger writes it: ``alerts.0.labels``."""
    return re.sub(r"\[(\d+)\]", r".\1", path).lstrip(".")


def schema_error(error: msgspec.ValidationError, prefix: str = "") -> web.Response:
    """A body that breaks the schema, as go-swagger answers it (422), naming the field."""
    path, message = split_error(error)
    where = _swagger_path(f"{prefix}.{path}" if prefix and path else prefix or path)
    if _MISSING.match(message):
        return coded_error(422, f"{where} in body is required", 602)
    short = _TOO_SHORT.match(message)
    if short is not None:
        return coded_error(422, f"{where} in body should have at least {short['n']} items", 612)
    return coded_error(422, f"{where or 'body'} in body: {message}", 601)


def am_json_body(decoder: msgspec.json.Decoder[T], body: bytes, what: str) -> T | web.Response:
    """``body`` decoded, or the answer Alertmanager gives: 400 for JSON it cannot parse,
    422 for a body that breaks the schema."""
    try:
        return decode(decoder, body)
    except msgspec.ValidationError as exc:
        return schema_error(exc)
    except msgspec.DecodeError as exc:
        return coded_error(400, f'parsing {what} body from "" failed, because {exc}')
