"""A fake of a notification service on 127.0.0.1: every POST goes to the fake's ``handle``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@asynccontextmanager
async def serving(fake: Any) -> AsyncIterator[None]:
    """Serve ``fake.handle`` for any POST path; ``fake.server`` is the running server meanwhile."""
    app = web.Application()
    app.router.add_post("/{tail:.*}", fake.handle)
    fake.server = TestServer(app, host="127.0.0.1")
    await fake.server.start_server()
    try:
        yield
    finally:
        await fake.server.close()
