"""The OpenAPI 3.1 document of tocsin's own API, served at ``/api/tocsin/v1/openapi.json``.

Each operation is the OpenAPI entry of a route's declaration (:mod:`tocsin.core.routes`),
written next to its handler, so the document describes exactly the routes the app
serves, a plugin's among them. Request bodies that are msgspec Structs (native events,
stats) take their schemas from the Structs themselves, so the document cannot drift
from what the server decodes. Alertmanager's API v2 is described by Alertmanager's own
document; only the endpoints tocsin adds are here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from aiohttp import web

from tocsin import __version__
from tocsin.core.routes import HTTPRoute, json_answer
from tocsin.incidents.stats import Stats
from tocsin.ingest.native import NativeEvent
from tocsin.web.keys import ROUTES
from tocsin.web.params import ChangeRequest

__all__ = ["PREFIX", "document", "routes"]

PREFIX = "/api/tocsin/v1"


def _components() -> dict[str, Any]:
    _, structs = msgspec.json.schema_components([NativeEvent, Stats, ChangeRequest],
                                                ref_template="#/components/schemas/{name}")
    nullable_str = {"type": ["string", "null"]}
    structs.update({
        "Error": {"type": "object", "required": ["error"], "properties": {
            "error": {"type": "string"}, "field": {"type": "string"}}},
        "EventAnswer": {"type": "object", "properties": {
            "id": nullable_str, "fingerprint": {"type": "string"}, "state": {"type": "string"},
            "status": {"type": "string"}, "occurrences": {"type": "integer"}}},
        "Alert": {"type": "object", "required": ["id", "fingerprint", "state", "labels"], "properties": {
            "id": {"type": "string"}, "fingerprint": {"type": "string"},
            "ref": {"type": "string", "description": "the shortest end of the id (8 or more characters) "
                                                      "that names this alert alone"},
            "state": {"enum": ["firing", "acknowledged", "resolved"]},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "occurrences": {"type": "integer"},
            "fired_at": {"type": "string", "description": "when tocsin received it"},
            "starts_at": {"type": ["string", "null"], "description": "its startsAt, as its sender gave it"},
            "ends_at": nullable_str,
            "last_seen": {"type": "string"}, "acknowledged_at": nullable_str,
            "acknowledged_by": nullable_str, "ack_note": nullable_str, "resolved_at": nullable_str,
            "resolved_by": nullable_str, "resolution": nullable_str,
            "muted_by": {"type": "array", "items": {"type": "string"}},
            "escalation": {"type": ["object", "null"]}}},
        "HistoryRow": {"type": "object", "properties": {
            "id": {"type": "integer"}, "at": {"type": "string"}, "kind": {"type": "string"},
            "actor": {"type": "string"}, "detail": {"type": "object"}}},
        "RemediationRun": {"type": "object", "required": ["id", "remediation", "state"], "properties": {
            "id": {"type": "string"}, "remediation": {"type": "string"}, "kind": {"type": "string"},
            "state": {"type": "string"}, "trigger": {"type": "string"}, "summary": nullable_str,
            "rendered": {"type": ["object", "null"]}, "exit_code": {"type": ["integer", "null"]},
            "http_status": {"type": ["integer", "null"]}, "output": nullable_str,
            "confidence": nullable_str, "description": nullable_str, "decided_by": nullable_str}},
    })
    return {"schemas": structs, "securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer"}, "basic": {"type": "http", "scheme": "basic"}}}


def document(routes: Iterable[HTTPRoute]) -> dict[str, Any]:
    """The document describing ``routes`` (those with an OpenAPI entry), in their order."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation = route.operation()
        if operation is not None:
            paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "tocsin", "version": __version__,
                 "description": "tocsin's own API. Alertmanager's API v2 is served under /api/v2."},
        "paths": paths,
        "components": _components(),
        "security": [{}, {"bearer": []}, {"basic": []}],
    }


def routes() -> list[HTTPRoute]:
    made: list[bytes] = []  # an app's routes do not change once it serves: made once, when first asked

    async def get_document(request: web.Request) -> web.Response:
        if not made:
            table = request.app[ROUTES]
            made.append(msgspec.json.encode(document(table)))
        return web.Response(body=made[0], content_type="application/json")

    return [HTTPRoute("GET", f"{PREFIX}/openapi.json", get_document, access="read", summary="This document",
                      openapi={"responses": {"200": json_answer({"type": "object"})}})]
