"""The OpenAPI 3.1 document of tocsin's own API, served at ``/api/tocsin/v1/openapi.json``.

Request bodies that are msgspec Structs (native events, stats) take their
schemas from the Structs themselves, so the document cannot drift from what
the server decodes. Alertmanager's API v2 is described by Alertmanager's own
document; only the endpoints tocsin adds are here.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from tocsin import __version__
from tocsin.incidents.stats import Stats
from tocsin.ingest.native import NativeEvent
from tocsin.web import json_response
from tocsin.web.params import ChangeRequest

__all__ = ["document", "routes"]

PREFIX = "/api/tocsin/v1"

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Invalid input; `field` names the offending one", 401: "Authentication required",
            403: "Forbidden for this role", 404: "Not found", 409: "Not applicable in the current state",
            413: "Too large", 429: "Rate limited", 503: "Not stored (the database is unavailable)"}
    return {str(c): _json(_ERROR, text[c]) for c in codes}


def _id_param(description: str) -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
            "description": description}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_STRING_LIST = {"type": "array", "items": {"type": "string"}}
_TIME = {"type": "string", "description": "RFC 3339, Unix seconds, or a duration ago such as 24h"}
_PAGE = [_query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size"),
         _query("offset", {"type": "integer", "minimum": 0}, "items to skip")]
_CHANGE = {"required": False, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/ChangeRequest"}},
    "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/ChangeRequest"}},
}}


def _paths() -> dict[str, Any]:
    alert = {"$ref": "#/components/schemas/Alert"}
    run = {"$ref": "#/components/schemas/RemediationRun"}
    p: dict[str, Any] = {}
    p[f"{PREFIX}/events"] = {"post": {
        "summary": "Raise (or resolve) alerts from native events",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
            {"$ref": "#/components/schemas/NativeEvent"},
            {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/NativeEvent"}},
        ]}}}},
        "responses": {"200": _json({"oneOf": [{"$ref": "#/components/schemas/EventAnswer"},
                                              {"type": "object", "properties": {"events": {
                                                  "type": "array",
                                                  "items": {"$ref": "#/components/schemas/EventAnswer"}}}}]}),
                      "201": _json({"$ref": "#/components/schemas/EventAnswer"}, "A new alert"),
                      **_errors(400, 401, 403, 413, 429, 503)},
    }}
    p[f"{PREFIX}/alerts"] = {"get": {
        "summary": "Alerts with their lifecycle, newest first",
        "parameters": [
            _query("state", {"type": "string"}, "firing, acknowledged, resolved or open; comma separated"),
            _query("severity", {"type": "string"}, "severity label values; comma separated"),
            _query("filter", {"type": "string"}, "a label matcher (repeatable)"),
            _query("since", _TIME, "fired at or after"), _query("until", _TIME, "fired before"), *_PAGE],
        "responses": {"200": _json({"type": "object", "properties": {
            "alerts": {"type": "array", "items": alert}, "total": {"type": "integer"},
            "limit": {"type": "integer"}, "offset": {"type": "integer"}}}), **_errors(400, 401, 403)},
    }}
    p[f"{PREFIX}/alerts/{{id}}"] = {"get": {
        "summary": "One alert", "parameters": [_id_param("alert id or fingerprint")],
        "responses": {"200": _json(alert), **_errors(401, 403, 404)}}}
    p[f"{PREFIX}/alerts/{{id}}/history"] = {"get": {
        "summary": "An alert's history rows", "parameters": [_id_param("alert id or fingerprint")],
        "responses": {"200": _json({"type": "object", "properties": {
            "id": {"type": "string"}, "fingerprint": {"type": "string"},
            "history": {"type": "array", "items": {"$ref": "#/components/schemas/HistoryRow"}}}}),
            **_errors(401, 403, 404)}}}
    for action, text in (("ack", "Acknowledge"), ("unack", "Withdraw an acknowledgement"),
                         ("resolve", "Resolve now")):
        p[f"{PREFIX}/alerts/{{id}}/{action}"] = {"post": {
            "summary": text, "parameters": [_id_param("alert id or fingerprint")], "requestBody": _CHANGE,
            "responses": {"200": _json(alert), **_errors(400, 401, 403, 404, 409, 503)}}}
    p[f"{PREFIX}/alerts/{{id}}/ack"]["get"] = {
        "summary": "A confirmation page whose form acknowledges (for chat links)",
        "parameters": [_id_param("alert id or fingerprint")],
        "responses": {"200": {"description": "HTML",
                              "content": {"text/html": {"schema": {"type": "string"}}}},
                      **_errors(401, 403, 404)}}
    p[f"{PREFIX}/escalations"] = {"get": {
        "summary": "Escalation steps still to come",
        "responses": {"200": _json({"type": "array", "items": {"type": "object"}}), **_errors(401, 403)}}}
    p[f"{PREFIX}/stats"] = {"get": {
        "summary": "What fires most, when, and how fast it is handled",
        "parameters": [_query("days", {"type": "integer", "minimum": 1, "maximum": 3660}, "window"),
                       _query("flap_threshold", {"type": "integer", "minimum": 1}, "flapping: more firings "
                              "than this within an hour"),
                       _query("top", {"type": "integer", "minimum": 0, "maximum": 1000}, "noisiest shown"),
                       _query("tz", {"type": "string"}, "IANA time zone for hours and days")],
        "responses": {"200": _json({"$ref": "#/components/schemas/Stats"}), **_errors(400, 401, 403)}}}
    p[f"{PREFIX}/remediations"] = {"get": {
        "summary": "Remediation runs, newest first",
        "parameters": [_query("state", {"type": "string"}, "run states, comma separated"), *_PAGE],
        "responses": {"200": _json({"type": "array", "items": run}), **_errors(400, 401, 403)}}}
    p[f"{PREFIX}/remediations/{{id}}"] = {"get": {
        "summary": "One remediation run", "parameters": [_id_param("run id")],
        "responses": {"200": _json(run), **_errors(401, 403, 404)}}}
    for action, code in (("approve", "202"), ("reject", "200")):
        p[f"{PREFIX}/remediations/{{id}}/{action}"] = {"post": {
            "summary": f"{action.capitalize()} a run waiting for approval",
            "parameters": [_id_param("run id")], "requestBody": _CHANGE,
            "responses": {code: _json(run), **_errors(400, 401, 403, 404, 409, 503)}}}
    p[f"{PREFIX}/dead-letters"] = {"get": {
        "summary": "Notifications that exhausted their retries",
        "responses": {"200": _json({"type": "array", "items": {"type": "object"}}), **_errors(401, 403)}}}
    p[f"{PREFIX}/dead-letters/{{id}}/replay"] = {"post": {
        "summary": "Send a dead letter again", "parameters": [_id_param("dead letter id")],
        "responses": {"200": _json({"type": "object"}), "502": _json(_ERROR, "Delivery failed again"),
                      **_errors(401, 403, 404, 409)}}}
    p[f"{PREFIX}/dead-letters/{{id}}"] = {"delete": {
        "summary": "Forget a dead letter", "parameters": [_id_param("dead letter id")],
        "responses": {"200": _json({"type": "object"}), **_errors(401, 403, 404)}}}
    p[f"{PREFIX}/notifications/attempts"] = {"get": {
        "summary": "The latest delivery attempts",
        "parameters": [_query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "how many")],
        "responses": {"200": _json({"type": "array", "items": {"type": "object"}}),
                      **_errors(400, 401, 403)}}}
    p[f"{PREFIX}/alertmanager/webhook"] = {"post": {
        "summary": "Alertmanager's webhook message (version 4) as a source",
        "parameters": [_query("ttl", {"type": "string"}, "how long a firing alert lasts without a repeat")],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {"200": _json({"type": "object", "properties": {"accepted": {"type": "integer"}}}),
                      **_errors(400, 401, 403, 413, 503)}}}
    p[f"{PREFIX}/integrations/slack/actions"] = {"post": {
        "summary": "Slack interactivity callbacks (signed with the app's signing secret)",
        "responses": {"200": {"description": "Accepted"}, **_errors(401, 403)}}}
    p[f"{PREFIX}/integrations/pagerduty/webhook"] = {"post": {
        "summary": "PagerDuty v3 webhooks (signed)",
        "responses": {"200": _json({"type": "object"}), **_errors(400, 401, 403)}}}
    p[f"{PREFIX}/openapi.json"] = {"get": {
        "summary": "This document", "responses": {"200": _json({"type": "object"})}}}
    return p


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
            "state": {"enum": ["firing", "acknowledged", "resolved"]},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "occurrences": {"type": "integer"}, "fired_at": {"type": "string"},
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


_DOCUMENT: dict[str, Any] | None = None


def document() -> dict[str, Any]:
    global _DOCUMENT
    if _DOCUMENT is None:
        _DOCUMENT = {
            "openapi": "3.1.0",
            "info": {"title": "tocsin", "version": __version__,
                     "description": "tocsin's own API. Alertmanager's API v2 is served under /api/v2."},
            "paths": _paths(),
            "components": _components(),
            "security": [{}, {"bearer": []}, {"basic": []}],
        }
    return _DOCUMENT


async def get_document(request: web.Request) -> web.Response:
    return json_response(document())


def routes() -> list[web.RouteDef]:
    return [web.get(f"{PREFIX}/openapi.json", get_document)]
