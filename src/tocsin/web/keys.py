"""The typed keys of the aiohttp application's state, all in one place.

Web modules read the app's state through these keys and define none of their
own, so no module imports another only to reach a key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from tocsin.core.routes import RouteTable
from tocsin.runtime import Runtime
from tocsin.web.dashboard.session import Sessions

__all__ = ["MAX_REQUEST_BYTES", "RELOADER", "ROUTES", "RUNTIME", "SESSIONS", "STREAMS"]

#: The daemon whose state the handlers read and change.
RUNTIME = web.AppKey("runtime", Runtime)
#: Loads, validates and applies the config file; raises ConfigError (a ValueError) when invalid.
RELOADER: web.AppKey[Callable[[], Awaitable[None]]] = web.AppKey("reloader")
#: The body limit the app was created with (``client_max_size``; a reload does not change it).
MAX_REQUEST_BYTES = web.AppKey("max_request_bytes", int)
#: The routes the app serves, as declared: what each needs (auth) and says (OpenAPI).
ROUTES = web.AppKey("routes", RouteTable)
#: The dashboard's open event streams: each one's stop signal, set when the app shuts down.
STREAMS: web.AppKey[set[asyncio.Event]] = web.AppKey("streams")
#: The dashboard's login sessions (a token exchanged for a cookie).
SESSIONS = web.AppKey("sessions", Sessions)
