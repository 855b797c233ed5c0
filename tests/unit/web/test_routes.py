"""Routes as declarations: a plugin's own routes through ``tocsin_register_routes``, served,
authorised and documented from the one declaration, as the built-in ones are."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from tests.unit.web.tokens import BASE, TOKEN_AUTH, TOKENS
from tocsin import hookimpl
from tocsin.core.routes import HTTPRoute, RouteTable, error_answers, json_answer
from tocsin.web import json_response
from tocsin.web.keys import ROUTES
from tocsin.web.openapi import document

AUTH = TOKEN_AUTH

NOTES = "/api/notes/v1/notes"
PING = "/api/notes/v1/ping"


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


class Notes:
    """A third party's plugin with routes of its own: notes anyone with ``read`` may list and
    only ``admin`` may add, stamped with the daemon's clock, and an open ping."""

    def __init__(self) -> None:
        self.notes: list[dict[str, Any]] = []
        self.runtime: Any = None

    @hookimpl
    def tocsin_register_routes(self, runtime: Any) -> list[HTTPRoute]:
        self.runtime = runtime
        return [
            HTTPRoute("POST", NOTES, self.add, access="admin", summary="Add a note",
                      openapi={"responses": {"201": json_answer({"type": "object"}),
                                             **error_answers(401, 403)}}),
            HTTPRoute("GET", NOTES, self.list, access="read", summary="The notes",
                      openapi={"responses": {"200": json_answer({"type": "array"})}}),
            HTTPRoute("GET", PING, self.ping, access="open", summary="Is the notes plugin there"),
        ]

    async def add(self, request: web.Request) -> web.Response:
        note = {"text": (await request.json())["text"], "at": self.runtime.clock.now()}
        self.notes.append(note)
        return json_response(note, 201)

    async def list(self, request: web.Request) -> web.Response:
        return json_response(self.notes)

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="pong")


async def test_a_plugin_route_needs_the_role_it_declares(tocsin_daemon, tocsin_clock):
    notes = Notes()
    d = await tocsin_daemon(AUTH, plugins=[notes])
    resp = await d.client.post(NOTES, json={"text": "disk swapped"})
    assert (resp.status, await resp.json()) == (401, {"error": "authentication required"})
    for role in ("ingest", "read"):
        resp = await d.client.post(NOTES, json={"text": "disk swapped"}, headers=bearer(role))
        assert (resp.status, await resp.json()) == (403, {"error": "forbidden"})
    assert notes.notes == []

    resp = await d.client.post(NOTES, json={"text": "disk swapped"}, headers=bearer("admin"))
    assert resp.status == 201
    assert await resp.json() == {"text": "disk swapped", "at": tocsin_clock.now()}

    assert (await d.client.get(NOTES)).status == 401
    assert (await d.client.get(NOTES, headers=bearer("ingest"))).status == 403
    for role in ("read", "admin"):
        resp = await d.client.get(NOTES, headers=bearer(role))
        assert (resp.status, await resp.json()) == (200, [{"text": "disk swapped", "at": tocsin_clock.now()}])
    assert (await d.client.head(NOTES, headers=bearer("read"))).status == 200  # HEAD is GET's

    resp = await d.client.get(PING)  # open: no credentials needed
    assert (resp.status, await resp.text()) == (200, "pong")


async def test_without_auth_a_plugin_route_is_open(tocsin_daemon):
    d = await tocsin_daemon(BASE, plugins=[Notes()])
    assert (await d.client.post(NOTES, json={"text": "x"})).status == 201
    assert (await d.client.get(NOTES)).status == 200


async def test_a_plugin_route_is_in_the_table_and_the_openapi_document(tocsin_daemon):
    d = await tocsin_daemon(AUTH, plugins=[Notes()])
    table = d.client.app[ROUTES]
    assert (table.access("POST", NOTES), table.access("GET", NOTES), table.access("HEAD", NOTES)) == (
        "admin", "read", "read")
    resp = await d.client.get("/api/tocsin/v1/openapi.json", headers=bearer("read"))
    served = await resp.json()
    assert served == document(table)
    assert served["paths"][NOTES]["post"] == {
        "summary": "Add a note",
        "responses": {"201": json_answer({"type": "object"}), **error_answers(401, 403)}}
    assert served["paths"][NOTES]["get"]["summary"] == "The notes"
    assert PING not in served["paths"]  # declared without an OpenAPI entry


class Usurper:
    """Claims a built-in route (to open it up) and a route of its own."""

    @hookimpl
    def tocsin_register_routes(self) -> list[HTTPRoute]:
        async def take(request: web.Request) -> web.Response:
            return web.Response(text="taken")

        return [HTTPRoute("POST", "/api/v2/alerts", take, access="open", summary="Open ingest"),
                HTTPRoute("GET", "/api/usurper/v1/mine", take, access="read", summary="Its own")]


class Broken:
    @hookimpl
    def tocsin_register_routes(self) -> list[HTTPRoute]:
        raise RuntimeError("no routes today")


class Confused:
    @hookimpl
    def tocsin_register_routes(self) -> Any:
        return [("GET", "/api/confused", None)]


async def test_a_plugin_cannot_replace_a_built_in_route_and_a_failing_one_stops_nothing(tocsin_daemon):
    with capture_logs() as logs:
        d = await tocsin_daemon(AUTH, plugins=[Broken(), Usurper(), Confused(), Notes()])
    errors = {(e["event"], e.get("error", e.get("answer"))) for e in logs if e["log_level"] == "error"}
    assert ("plugin's route not served", "POST /api/v2/alerts is declared already") in errors
    assert ("plugin's routes failed; none of them is served", "RuntimeError: no routes today") in errors
    assert ("plugin's routes are not a list of HTTPRoute; none of them is served", "list") in errors
    # The built-in route keeps its handler and its role.
    resp = await d.client.post("/api/v2/alerts", json=[])
    assert resp.status == 401
    resp = await d.client.post("/api/v2/alerts", json=[], headers=bearer("ingest"))
    assert (resp.status, await resp.text()) == (200, "")
    # The others' routes are served.
    assert (await d.client.get("/api/usurper/v1/mine", headers=bearer("read"))).status == 200
    assert (await d.client.get(NOTES, headers=bearer("read"))).status == 200


@pytest.mark.parametrize(("field", "value", "message"), [
    ("method", "get", "method 'get' is not one of"),
    ("path", "api/x", "the path must start with '/'"),
    ("access", "public", "access 'public' is not one of open, ingest, read, admin"),
    ("openapi", {"summary": "no responses"}, "its OpenAPI entry has no responses"),
])
def test_a_declaration_is_checked_when_made(field, value, message):
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    given: dict[str, Any] = {"method": "GET", "path": "/api/x", "handler": handler, "access": "read",
                             "summary": "x", field: value}
    with pytest.raises(ValueError, match=message):
        HTTPRoute(**given)


def test_the_table_holds_one_declaration_per_method_and_path():
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    table = RouteTable()
    table.add(HTTPRoute("GET", "/x", handler, access="read", summary="x"))
    table.add(HTTPRoute("POST", "/x", handler, access="admin", summary="x"))
    with pytest.raises(ValueError, match="POST /x is declared already"):
        table.add(HTTPRoute("POST", "/x", handler, access="open", summary="x"))
    access = [table.access(m, "/x") for m in ("GET", "HEAD", "POST", "DELETE")]
    assert access == ["read", "read", "admin", None]
    assert table.access("GET", "/y") is None
    assert len(table) == 2
