"""Query parameters and small request bodies shared by tocsin's own API."""

from __future__ import annotations

import msgspec
from aiohttp import web

from tocsin.core.durations import Duration
from tocsin.core.matchers import Matcher, MatcherError, parse_matchers
from tocsin.core.routes import query_param
from tocsin.web import json_body, json_error

__all__ = [
    "CHANGE_BODY", "PAGE_PARAMS", "BadParam", "ChangeRequest", "actor", "change_body", "filter_matchers",
    "int_param", "multi_param",
]

#: ``limit`` and ``offset``, as the OpenAPI document declares them.
PAGE_PARAMS = [query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size"),
               query_param("offset", {"type": "integer", "minimum": 0}, "items to skip")]


def filter_matchers(request: web.Request) -> list[Matcher] | web.Response:
    """The ``filter=`` query parameters as matchers (each one matcher or a list, braces or
    not), or a 400 naming the bad one."""
    matchers: list[Matcher] = []
    for i, f in enumerate(request.query.getall("filter", [])):
        try:
            matchers.extend(parse_matchers(f))
        except MatcherError as exc:
            return json_error(400, str(exc), field=f"filter[{i}]")
    return matchers


def multi_param(request: web.Request, name: str) -> list[str]:
    return [v.strip() for item in request.query.getall(name, []) for v in item.split(",") if v.strip()]


class BadParam(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


def int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParam(name, f"must be a whole number (got {raw!r})") from None
    if not lo <= value <= hi:
        raise BadParam(name, f"must be between {lo} and {hi}")
    return value


class ChangeRequest(msgspec.Struct, forbid_unknown_fields=True):
    who: str = ""
    note: str = ""
    #: How long an acknowledgement lasts (``2h``); empty: the policy's ``ack_timeout``, or for good.
    for_: str = msgspec.field(default="", name="for")

    def lasting(self) -> float | None:
        """``for`` in seconds, or None; raises BadParam naming ``for``."""
        if not self.for_:
            return None
        try:
            value = Duration.parse(self.for_)
        except ValueError as exc:
            raise BadParam("for", str(exc)) from None
        if value <= 0:
            raise BadParam("for", "must be greater than zero")
        return float(value)


_change_dec = msgspec.json.Decoder(ChangeRequest)
#: A :class:`ChangeRequest` body, as the OpenAPI document declares it.
CHANGE_BODY = {"required": False, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/ChangeRequest"}},
    "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/ChangeRequest"}},
}}
MAX_NOTE = 2000


async def change_body(request: web.Request) -> ChangeRequest | web.Response:
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.post()
        except (ValueError, LookupError) as exc:  # a broken multipart body, a bad charset
            return json_error(400, f"invalid form body: {exc}")
        body = ChangeRequest(who=str(form.get("who", "")), note=str(form.get("note", "")),
                             for_=str(form.get("for", "")))
    else:
        raw = await request.read()
        if not raw.strip():
            body = ChangeRequest()
        else:
            decoded = json_body(_change_dec, raw, "invalid request")
            if isinstance(decoded, web.Response):
                return decoded
            body = decoded
    if len(body.who) > 200:
        return json_error(400, "who: at most 200 characters", field="who")
    if len(body.note) > MAX_NOTE:
        return json_error(400, f"note: at most {MAX_NOTE} characters", field="note")
    return body


def actor(request: web.Request, who: str) -> str:
    """Who did it, for history and audit: the authenticated principal, with the name the
    client gave when that differs (a shared token used by a named person)."""
    from tocsin.web.auth import PRINCIPAL

    principal = request.get(PRINCIPAL)
    who = who.strip()
    if principal is None:
        return who or "api"
    if who and who != principal.name:
        return f"{who} (via {principal.via} {principal.name})"
    return principal.name
