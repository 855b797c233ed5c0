"""What the chat and messaging channels' tests share: a local provider API on 127.0.0.1
that records every request (method, path, query, headers, body) and answers from a
queue or a default, a channel context around a real aiohttp session, and notifications."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from tocsin.channels import ChannelContext
from tocsin.config.document import GlobalConfig
from tocsin.core.models import Alert, Notification
from tocsin.notify.templates import Templates
from tocsin.testing import channel_config

NOW = 1_700_000_000.0


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


#: ``check(request) -> problems``: what the provider's documented API would refuse.
Check = Callable[[Recorded], list[str]]


@dataclass
class Provider:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    #: Problems found in each request by ``check``, in order.
    problems: list[list[str]] = field(default_factory=list)
    #: One-off answers (status, JSON or text body), used first; then ``answer``.
    queue: list[tuple[int, Any]] = field(default_factory=list)
    answer: tuple[int, Any] = (200, {})
    check: Check | None = None
    #: ``respond(request) -> (status, body)``, when the answer depends on the request.
    respond: Callable[[Recorded], tuple[int, Any]] | None = None

    async def handle(self, request: web.Request) -> web.Response:
        rec = Recorded(request.method, request.path, dict(request.query), dict(request.headers),
                       await request.read())
        self.requests.append(rec)
        problems = self.check(rec) if self.check else []
        self.problems.append(problems)
        if problems:
            return web.json_response({"error": problems}, status=400)
        if self.queue:
            status, body = self.queue.pop(0)
        else:
            status, body = self.respond(rec) if self.respond else self.answer
        if isinstance(body, str):
            return web.Response(status=status, text=body, content_type="text/xml")
        return web.json_response(body, status=status)


@asynccontextmanager
async def provider(check: Check | None = None,
                   respond: Callable[[Recorded], tuple[int, Any]] | None = None) -> AsyncIterator[Provider]:
    p = Provider(check=check, respond=respond)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", p.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    p.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield p
    finally:
        await runner.cleanup()


@asynccontextmanager
async def context(global_config: dict[str, Any] | None = None, *, receiver: str = "ops",
                  external_url: str = "http://tocsin.example:9095") -> AsyncIterator[ChannelContext]:
    g = channel_config(GlobalConfig, global_config or {})
    async with aiohttp.ClientSession() as session:
        yield ChannelContext(session=session, external_url=external_url, global_config=g,
                             receiver=receiver, integration="x[0]", templates=Templates())


def alert(name: str = "DiskFull", *, resolved: bool = False, labels: dict[str, str] | None = None,
          annotations: dict[str, str] | None = None, fp: str = "f1") -> Alert:
    return Alert(fingerprint=fp, labels={"alertname": name, **(labels or {})},
                 annotations=annotations or {}, starts_at=NOW - 600, ends_at=NOW - 60 if resolved else 0.0,
                 generator_url="http://prometheus:9090/graph?g0.expr=up")


def notification(*alerts: Alert, receiver: str = "ops", group: dict[str, str] | None = None,
                 **kw: Any) -> Notification:
    chosen = list(alerts) or [alert()]
    return Notification(receiver=receiver, group_key='{}:{alertname="DiskFull"}',
                        group_labels=group if group is not None
                        else {"alertname": chosen[0].labels["alertname"]},
                        alerts=chosen, now=NOW, **kw)
