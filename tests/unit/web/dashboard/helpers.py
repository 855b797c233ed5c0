"""What the dashboard's tests share: a served app with a few alerts, and reading forms."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp.test_utils import TestClient

from tests.unit.web.test_api import CONFIG, api
from tocsin.runtime import Runtime

HOSTILE = '<script>alert("x")</script>'
HOSTILE_ATTR = '" onmouseover="alert(1)" x="'


async def post_alerts(client: TestClient, rt: Runtime, *alerts: dict) -> None:
    resp = await client.post("/api/v2/alerts", json=list(alerts))
    assert resp.status == 200, await resp.text()
    await rt.settle()


@asynccontextmanager
async def dashboard(tmp_path, config: str = CONFIG) -> AsyncIterator[tuple[TestClient, Runtime]]:
    async with api(tmp_path, config) as (client, rt):
        yield client, rt


def csrf_of(page: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def open_page(client: TestClient, path: str, **kw) -> tuple[int, str]:
    resp = await client.get(path, **kw)
    return resp.status, await resp.text()
