"""Alertmanager's webhook message as a source, so tocsin can sit behind an
existing Alertmanager: point a ``webhook_configs`` entry (with
``send_resolved: true``) at ``POST /api/tocsin/v1/alertmanager/webhook``.

Each alert of the message is ingested like one posted to the API v2, with
its fingerprint recomputed from its labels. A firing alert carries no end
time in Alertmanager's message, and Alertmanager repeats it only every
``repeat_interval``, so it stays firing until Alertmanager sends it resolved
or ``ttl`` (a query parameter, default 24h; keep it above the route's
``repeat_interval``) passes without a repeat.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import msgspec
from aiohttp import web

from tocsin.core.durations import Duration
from tocsin.core.models import PostableAlert
from tocsin.core.routes import HTTPRoute, error_answers, json_answer, query_param
from tocsin.core.timefmt import from_datetime
from tocsin.store import StorageError
from tocsin.web import json_body, json_error, json_response
from tocsin.web.keys import RUNTIME
from tocsin.web.limits import split_by_limits, too_many

__all__ = ["routes", "to_postable"]

DEFAULT_TTL = 24 * 3600.0


class WebhookAlert(msgspec.Struct, rename="camel"):
    labels: dict[str, str]
    status: Literal["firing", "resolved"] = "firing"
    annotations: dict[str, str] = {}
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = msgspec.field(default="", name="generatorURL")
    fingerprint: str = ""


class WebhookMessage(msgspec.Struct, rename="camel"):
    alerts: list[WebhookAlert]
    version: str = "4"
    receiver: str = ""
    status: str = ""
    group_key: str = ""


_dec = msgspec.json.Decoder(WebhookMessage)


def to_postable(a: WebhookAlert, now: float, ttl: float) -> PostableAlert:
    ends = from_datetime(a.ends_at)
    if a.status == "firing":
        # Go's zero time (or nothing): firing until resolved, or until ttl without a repeat.
        end = datetime.fromtimestamp(now + ttl, UTC)
    else:
        end = datetime.fromtimestamp(min(ends, now) if ends else now, UTC)
    return PostableAlert(labels=a.labels, annotations=a.annotations,
                         starts_at=a.starts_at if from_datetime(a.starts_at) else None,
                         ends_at=end, generator_url=a.generator_url)


async def post_webhook(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    try:
        ttl = float(Duration.parse(request.query.get("ttl", "24h")))
    except ValueError as exc:
        return json_error(400, f"ttl: {exc}", field="ttl")
    if ttl <= 0:
        return json_error(400, "ttl: must be greater than zero", field="ttl")
    message = json_body(_dec, await request.read(), "not an Alertmanager webhook message")
    if isinstance(message, web.Response):
        return message
    if message.version != "4":
        return json_error(400, f"unsupported webhook message version {message.version!r} (want \"4\")",
                          field="version")
    limits = rt.config.server.limits
    refused = too_many(len(message.alerts), limits)
    if refused is not None:
        return refused
    now = rt.clock.now()
    posted = [(i, to_postable(a, now, ttl)) for i, a in enumerate(message.alerts)]
    posted, over = split_by_limits(posted, limits)
    try:
        result = await rt.ingester.ingest(posted, source="alertmanager_webhook")
    except StorageError as exc:
        return json_error(503, f"alerts not stored: {exc}")
    errors = sorted(over + result.errors, key=lambda e: e.index)
    if errors:
        first = errors[0]
        return json_error(400, "; ".join(str(e) for e in errors[:20]),
                          field=f"alerts[{first.index}].{first.field}", accepted=result.accepted)
    return json_response({"accepted": result.accepted})


def routes() -> list[HTTPRoute]:
    return [HTTPRoute(
        "POST", "/api/tocsin/v1/alertmanager/webhook", post_webhook, access="ingest",
        summary="Alertmanager's webhook message (version 4) as a source",
        openapi={
            "parameters": [query_param("ttl", {"type": "string"},
                                       "how long a firing alert lasts without a repeat")],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"200": json_answer({"type": "object",
                                              "properties": {"accepted": {"type": "integer"}}}),
                          **error_answers(400, 401, 403, 413, 503)},
        },
    )]
