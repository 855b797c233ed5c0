"""tocsin's own API for delivery: attempts and dead letters; and /metrics."""

from __future__ import annotations

from aiohttp import web

from tocsin.core.routes import ERROR, HTTPRoute, error_answers, id_param, json_answer, query_param
from tocsin.core.timefmt import format_ts
from tocsin.notify.delivery import Superseded
from tocsin.store import DeadLetter
from tocsin.web import json_error, json_response
from tocsin.web.keys import RUNTIME

__all__ = ["routes"]

PREFIX = "/api/tocsin/v1"


def dead_letter(d: DeadLetter) -> dict[str, object]:
    return {
        "id": d.id, "at": format_ts(d.at), "receiver": d.receiver, "integration": d.integration,
        "groupKey": d.group_key, "attempts": d.attempts, "error": d.error,
        "alerts": len(d.notification.alerts),
        "fingerprints": [a.fingerprint for a in d.notification.alerts],
    }


def _id(request: web.Request) -> int | None:
    try:
        return int(request.match_info["id"])
    except ValueError:
        return None


async def list_dead_letters(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    return json_response([dead_letter(d) for d in rt.dead_letters.list()])


async def replay_dead_letter(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    dl_id = _id(request)
    if dl_id is None or rt.dead_letters.get(dl_id) is None:
        return json_error(404, "dead letter not found", field="id")
    try:
        failed = await rt.delivery.replay(dl_id)
    except LookupError as exc:
        return json_error(409, str(exc))
    except Superseded as exc:
        return json_response({"status": "superseded", "id": dl_id, "detail": str(exc)})
    if failed is not None:
        return json_error(502, f"replay failed: {failed.error}", deadLetter=dead_letter(failed))
    return json_response({"status": "delivered", "id": dl_id})


async def drop_dead_letter(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    dl_id = _id(request)
    if dl_id is None or not await rt.dead_letters.drop(dl_id):
        return json_error(404, "dead letter not found", field="id")
    rt.metrics.dead_letters.set(len(rt.dead_letters))
    return json_response({"status": "dropped", "id": dl_id})


async def list_attempts(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    try:
        limit = max(1, min(int(request.query.get("limit", "100")), 10_000))
    except ValueError:
        return json_error(400, "limit must be a number", field="limit")
    return json_response([
        {"at": format_ts(a.at), "receiver": a.receiver, "integration": a.integration,
         "groupKey": a.group_key, "attempt": a.attempt, "status": a.status,
         "latencyMs": round(a.latency * 1000, 2), "error": a.error}
        for a in await rt.store.load_attempts(limit)
    ])


async def metrics(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    return web.Response(body=rt.metrics.render(), content_type="text/plain",
                        headers={"X-Content-Type-Options": "nosniff"}, charset="utf-8")


def routes() -> list[HTTPRoute]:
    objects = json_answer({"type": "array", "items": {"type": "object"}})
    return [
        HTTPRoute(
            "GET", f"{PREFIX}/dead-letters", list_dead_letters, access="read",
            summary="Notifications that exhausted their retries",
            openapi={"responses": {"200": objects, **error_answers(401, 403)}},
        ),
        HTTPRoute(
            "POST", f"{PREFIX}/dead-letters/{{id}}/replay", replay_dead_letter, access="admin",
            summary="Send a dead letter again",
            openapi={
                "parameters": [id_param("dead letter id")],
                "responses": {"200": json_answer({"type": "object"}),
                              "502": json_answer(ERROR, "Delivery failed again"),
                              **error_answers(401, 403, 404, 409)},
            },
        ),
        HTTPRoute(
            "DELETE", f"{PREFIX}/dead-letters/{{id}}", drop_dead_letter, access="admin",
            summary="Forget a dead letter",
            openapi={"parameters": [id_param("dead letter id")],
                     "responses": {"200": json_answer({"type": "object"}), **error_answers(401, 403, 404)}},
        ),
        HTTPRoute(
            "GET", f"{PREFIX}/notifications/attempts", list_attempts, access="read",
            summary="The latest delivery attempts",
            openapi={
                "parameters": [query_param("limit", {"type": "integer", "minimum": 1, "maximum": 10000},
                                           "how many")],
                "responses": {"200": objects, **error_answers(400, 401, 403)},
            },
        ),
        HTTPRoute("GET", "/metrics", metrics, access="read", summary="Prometheus metrics"),
    ]
