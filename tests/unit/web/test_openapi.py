"""The OpenAPI document is valid and describes exactly the routes tocsin serves under /api/tocsin/v1."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from tocsin.core.clock import FakeClock
from tocsin.runtime import Runtime
from tocsin.testing import api_client, make_config, make_plugins
from tocsin.web.app import create_app
from tocsin.web.keys import ROUTES
from tocsin.web.openapi import PREFIX, document

CONFIG = "route: {receiver: a}\nreceivers: [{name: a}]\n"


def test_the_document_is_valid_openapi():
    pm = make_plugins()
    app = create_app(Runtime(make_config(CONFIG, pm), pm, clock=FakeClock()))
    validate(document(app[ROUTES]))


async def test_every_route_is_documented_and_nothing_else(tmp_path):
    async with api_client(CONFIG, tmp_path) as (client, _):
        served = set()
        for route in client.app.router.routes():
            info = route.resource.get_info() if route.resource else {}
            path = info.get("path") or info.get("formatter")
            if path and path.startswith(PREFIX) and route.method != "HEAD":
                served.add((route.method.lower(), path))
        documented = {(m, p) for p, ops in document(client.app[ROUTES])["paths"].items() for m in ops}
        assert served == documented
        resp = await client.get(f"{PREFIX}/openapi.json")
        assert resp.status == 200
        body = await resp.json()
        assert body["openapi"] == "3.1.0"
        assert body == document(client.app[ROUTES])
        # Every path parameter is declared.
        for path, ops in body["paths"].items():
            for op in ops.values():
                names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
                assert names == set(re.findall(r"{(\w+)}", path)), path
