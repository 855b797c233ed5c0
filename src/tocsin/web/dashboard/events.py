"""``/events``: server-sent events telling an open page that the alerts changed.

Each stream takes the in-process bus's events through a subscription of its own, which
a task drains at once (the bus waits for a full queue, so a slow browser must never hold
its publishers), and sends at most one ``changed`` event per :data:`COALESCE` seconds
however many alerts changed meanwhile: a storm costs each page one refresh a second.
The page then fetches the list it shows (its ``partial=1`` URL). A comment line every
:data:`KEEPALIVE` seconds keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from tocsin.core.bus import Subscription
from tocsin.core.routes import HTTPRoute
from tocsin.web.keys import RUNTIME, STREAMS

__all__ = ["COALESCE", "KEEPALIVE", "close_streams", "routes"]

COALESCE = 1.0
KEEPALIVE = 15.0


async def _drain(sub: Subscription, changed: asyncio.Event) -> None:
    async for _ in sub:
        changed.set()


async def _wait(changed: asyncio.Event, stop: asyncio.Event, timeout: float) -> None:
    waits = [asyncio.ensure_future(changed.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def _send(resp: web.StreamResponse, changed: asyncio.Event, stop: asyncio.Event) -> None:
    seq = 0
    await resp.write(b"retry: 2000\n: connected\n\n")
    while not stop.is_set():
        await _wait(changed, stop, KEEPALIVE)
        if stop.is_set():
            return
        if not changed.is_set():
            await resp.write(b": keepalive\n\n")
            continue
        changed.clear()
        seq += 1
        await resp.write(f"event: changed\ndata: {seq}\n\n".encode())
        await _wait(stop, stop, COALESCE)  # what changes meanwhile goes in the next one


async def stream(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    if request.method == "HEAD":
        return resp
    changed, stop = asyncio.Event(), asyncio.Event()
    streams = request.app[STREAMS]
    streams.add(stop)
    sub = rt.bus.subscribe("dashboard-events", maxsize=256)
    drain = asyncio.create_task(_drain(sub, changed), name="dashboard-events")
    try:
        await _send(resp, changed, stop)
    except ConnectionResetError:  # the browser went away
        pass
    finally:
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drain
        sub.close()
        streams.discard(stop)
    return resp


async def close_streams(app: web.Application) -> None:
    """The app's ``on_shutdown``: end every stream, so stopping waits for none of them."""
    streams: set[asyncio.Event] = app[STREAMS]
    for stop in list(streams):
        stop.set()


def routes() -> list[HTTPRoute]:
    return [HTTPRoute("GET", "/events", stream, access="read",
                      summary="Server-sent events: the alerts changed")]
