"""The remediation API: the audit record of every run, and approval."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tocsin.core.routes import HTTPRoute, error_answers, id_param, json_answer, query_param
from tocsin.core.timefmt import format_ts
from tocsin.remediation.engine import FINAL, PENDING, RUNNING, RemediationRun, RunConflict, RunNotFound
from tocsin.store import StorageError
from tocsin.web import json_error, json_response
from tocsin.web.keys import RUNTIME
from tocsin.web.params import CHANGE_BODY, PAGE_PARAMS, BadParam, actor, change_body, int_param, multi_param
from tocsin.web.v1.incidents import PREFIX

__all__ = ["routes", "run_item"]

STATES = (PENDING, RUNNING, *FINAL)


def _ts(value: float) -> str | None:
    return format_ts(value) if value > 0 else None


def run_item(run: RemediationRun) -> dict[str, Any]:
    o = run.outcome
    return {
        "id": run.id, "remediation": run.remediation, "kind": run.kind, "state": run.state,
        "verdict": run.verdict or None, "verify_by": _ts(run.verify_by), "after": run.after or None,
        "reason": run.reason or None, "trigger": run.trigger, "confidence": run.confidence,
        "description": run.description or None,
        "dry_run": run.dry_run, "alert_id": run.alert_id or None, "fingerprint": run.fingerprint,
        "alertname": run.alertname, "labels": run.labels, "route": run.route_id, "receiver": run.receiver,
        "created_at": format_ts(run.created_at), "started_at": _ts(run.started_at),
        "finished_at": _ts(run.finished_at),
        "duration_seconds": run.duration if run.finished_at and run.started_at else None,
        "summary": run.rendered.summary if run.rendered else None,
        "rendered": run.rendered.detail if run.rendered else None,
        "exit_code": o.exit_code if o else None, "http_status": o.http_status if o else None,
        "output": o.output if o else None, "error": (o.error or None) if o else None,
        "decided_by": run.decided_by or None, "decided_at": _ts(run.decided_at), "note": run.note or None,
    }


async def list_runs(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    states = multi_param(request, "state")
    for i, s in enumerate(states):
        if s not in STATES:
            return json_error(400, f"state must be one of {', '.join(STATES)} (got {s!r})",
                              field=f"state[{i}]" if len(states) > 1 else "state")
    try:
        limit = int_param(request, "limit", 100, 1, 1000)
        offset = int_param(request, "offset", 0, 0, 10**9)
    except BadParam as exc:
        return json_error(400, str(exc), field=exc.name)
    runs = await rt.store.query_runs(states=states, limit=limit, offset=offset)
    # The in-memory record is the latest (a run finishing now is written as it finishes).
    return json_response([run_item(rt.remediator.runs.get(r.id, r)) for r in runs])


async def get_run(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    try:
        run = await rt.remediator.get(request.match_info["id"])
    except RunNotFound:
        return json_error(404, "no such remediation run", field="id")
    return json_response(run_item(run))


def _decider(action: str):
    async def handler(request: web.Request) -> web.Response:
        rt = request.app[RUNTIME]
        body = await change_body(request)
        if isinstance(body, web.Response):
            return body
        method = rt.remediator.approve if action == "approve" else rt.remediator.reject
        try:
            run = await method(request.match_info["id"], by=actor(request, body.who), note=body.note)
        except RunNotFound:
            return json_error(404, "no such remediation run", field="id")
        except RunConflict as exc:
            extra = {"run": run_item(exc.run)} if exc.run is not None else {}
            return json_error(409, str(exc), field="id", **extra)
        except StorageError as exc:
            return json_error(503, f"not stored: {exc}")
        return json_response(run_item(run), 202 if action == "approve" else 200)

    handler.__name__ = f"{action}_run"
    return handler


_RUN = {"$ref": "#/components/schemas/RemediationRun"}


def routes() -> list[HTTPRoute]:
    decide = [
        HTTPRoute(
            "POST", f"{PREFIX}/remediations/{{id}}/{action}", _decider(action), access="admin",
            summary=f"{action.capitalize()} a run waiting for approval",
            openapi={
                "parameters": [id_param("run id")], "requestBody": CHANGE_BODY,
                "responses": {code: json_answer(_RUN), **error_answers(400, 401, 403, 404, 409, 503)},
            },
        )
        for action, code in (("approve", "202"), ("reject", "200"))
    ]
    return [
        HTTPRoute(
            "GET", f"{PREFIX}/remediations", list_runs, access="read",
            summary="Remediation runs, newest first",
            openapi={
                "parameters": [query_param("state", {"type": "string"}, "run states, comma separated"),
                               *PAGE_PARAMS],
                "responses": {"200": json_answer({"type": "array", "items": _RUN}),
                              **error_answers(400, 401, 403)},
            },
        ),
        HTTPRoute(
            "GET", f"{PREFIX}/remediations/{{id}}", get_run, access="read", summary="One remediation run",
            openapi={"parameters": [id_param("run id")],
                     "responses": {"200": json_answer(_RUN), **error_answers(401, 403, 404)}},
        ),
        *decide,
    ]
