"""tocsin's own alert API: alerts with their lifecycle, history, acknowledgement,
manual resolution, escalations.

An alert is addressed by its incident id, by its fingerprint (which names its
latest incident), or by a short reference: a few hex digits that start or end
its id, or start its fingerprint, and name no other (answers give each alert's
``ref``, the shortest end of its id that does). Answers use the incident's view:
``state`` (firing, acknowledged, resolved), ``occurrences``, ``acknowledged_by``
and so on.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from aiohttp import web

from tocsin.core.durations import Duration
from tocsin.core.matchers import matches_all
from tocsin.core.routes import ERROR, HTTPRoute, error_answers, id_param, json_answer, query_param
from tocsin.core.timefmt import format_ts
from tocsin.incidents.lifecycle import MIN_REF
from tocsin.incidents.plan import (
    STATES,
    HistoryEvent,
    Incident,
    IncidentAmbiguous,
    IncidentConflict,
    IncidentNotFound,
)
from tocsin.incidents.stats import compute_stats
from tocsin.ingest.native import NativeEventError, decode_events, event_field
from tocsin.runtime import Runtime
from tocsin.store import IncidentQuery, StorageError
from tocsin.web import json_error, json_response
from tocsin.web.keys import RUNTIME
from tocsin.web.limits import split_by_limits, too_many
from tocsin.web.params import (
    CHANGE_BODY,
    PAGE_PARAMS,
    BadParam,
    actor,
    change_body,
    filter_matchers,
    int_param,
    multi_param,
)

__all__ = ["history_item", "incident_item", "parse_time", "routes"]

PREFIX = "/api/tocsin/v1"
MAX_LIMIT = 1000


def _ts(value: float) -> str | None:
    return format_ts(value) if value > 0 else None


def incident_item(rt: Runtime, inc: Incident) -> dict[str, Any]:
    alert = rt.alerts.get(inc.fingerprint)
    current = rt.lifecycle.get(inc.fingerprint)
    held = alert is not None and current is not None and current.id == inc.id
    out: dict[str, Any] = {
        "id": inc.id,
        "fingerprint": inc.fingerprint,
        "state": inc.state,
        "labels": inc.labels,
        "annotations": alert.annotations if held and alert else {},
        "occurrences": inc.occurrences,
        "fired_at": format_ts(inc.fired_at),
        "last_seen": format_ts(inc.last_seen),
        "starts_at": format_ts(alert.starts_at) if held and alert else _ts(inc.starts_at),
        "ends_at": format_ts(alert.ends_at) if held and alert else None,
        "acknowledged_at": _ts(inc.acknowledged_at),
        "acknowledged_by": inc.acknowledged_by or None,
        "ack_note": inc.ack_note or None,
        "ack_until": _ts(inc.ack_until),
        "resolved_at": _ts(inc.resolved_at),
        "resolved_by": inc.resolved_by or None,
        "resolution": inc.resolution or None,
        "muted_by": inc.muted_by,
        "escalation": None,
    }
    if held and alert is not None:
        out["receivers"] = rt.receivers_for(alert)
        if alert.generator_url:
            out["generator_url"] = alert.generator_url
    esc = inc.escalation
    if esc is not None:
        policy = rt.config.escalation_policies.get(esc.policy)
        out["escalation"] = {
            "policy": esc.policy,
            "steps_taken": esc.step,
            "next_level": (min(esc.step, len(policy.levels) - 1) + 1) if policy and esc.next_at else None,
            "next_at": _ts(esc.next_at) if inc.open else None,
            "paused": inc.state == "acknowledged",
            "notified": esc.notified,
        }
    return out


def history_item(h: HistoryEvent) -> dict[str, Any]:
    return {"id": h.id, "at": format_ts(h.at), "kind": h.kind, "actor": h.actor, "detail": h.detail}


def parse_time(text: str, now: float) -> float:
    """RFC 3339, Unix seconds, or a duration meaning that long ago (``24h``)."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return now - float(Duration.parse(text))
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither an RFC 3339 time, Unix seconds nor a duration") from None
    if dt.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (add Z or an offset)")
    return dt.timestamp()


async def list_alerts(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    now = rt.clock.now()
    states = multi_param(request, "state")
    for i, s in enumerate(states):
        if s not in (*STATES, "open"):
            return json_error(400, f"state must be one of {', '.join(STATES)}, open (got {s!r})",
                              field=f"state[{i}]" if len(states) > 1 else "state")
    if "open" in states:
        states = [s for s in states if s != "open"] + ["firing", "acknowledged"]
    matchers = filter_matchers(request)
    if isinstance(matchers, web.Response):
        return matchers
    bounds: dict[str, float | None] = {"since": None, "until": None}
    for name in bounds:
        if name in request.query:
            try:
                bounds[name] = parse_time(request.query[name], now)
            except ValueError as exc:
                return json_error(400, f"{name}: {exc}", field=name)
    try:
        limit = int_param(request, "limit", 100, 1, MAX_LIMIT)
        offset = int_param(request, "offset", 0, 0, 10**9)
    except BadParam as exc:
        return json_error(400, str(exc), field=exc.name)
    severities = multi_param(request, "severity")
    query = IncidentQuery(states=tuple(dict.fromkeys(states)), severities=tuple(severities),
                          since=bounds["since"], until=bounds["until"])
    rows = await rt.store.query_incidents(query)
    # The in-memory incident is fresher (occurrences are written lazily).
    fresh = [_fresher(rt, inc) for inc in rows]
    if matchers:
        fresh = [inc for inc in fresh if matches_all(matchers, inc.labels)]
    page = fresh[offset:offset + limit]
    return json_response({"alerts": await _items(rt, page), "total": len(fresh),
                          "limit": limit, "offset": offset})


async def _items(rt: Runtime, incidents: list[Incident]) -> list[dict[str, Any]]:
    """The incidents' answers, each with its short reference (``ref``)."""
    refs = await rt.lifecycle.short_refs(inc.id for inc in incidents)
    return [{"ref": refs[inc.id], **incident_item(rt, inc)} for inc in incidents]


async def _not_found(rt: Runtime, exc: IncidentNotFound, ref: str) -> web.Response:
    """404 for a reference that names no alert; 409 with the candidates for one that names several."""
    if isinstance(exc, IncidentAmbiguous):
        shown = await _items(rt, [_fresher(rt, i) for i in exc.candidates])
        more = f" ({len(shown)} newest shown)" if exc.count > len(shown) else ""
        return json_error(409, f"ambiguous: {exc.count} alerts match {ref!r}{more}; give more characters",
                          field="id", count=exc.count, candidates=shown)
    hint = ""
    if len(ref) < MIN_REF and not ref.lower().strip("0123456789abcdef"):
        hint = f" (a short reference has at least {MIN_REF} characters)"
    return json_error(404, f"no alert with id or fingerprint {ref!r}{hint}", field="id")


def _fresher(rt: Runtime, inc: Incident) -> Incident:
    current = rt.lifecycle.get(inc.fingerprint)
    return current if current is not None and current.id == inc.id else inc


async def _incident(request: web.Request) -> Incident | web.Response:
    rt = request.app[RUNTIME]
    ref = request.match_info["id"]
    try:
        return _fresher(rt, await rt.lifecycle.find(ref))
    except IncidentNotFound as exc:
        return await _not_found(rt, exc, ref)


async def get_alert(request: web.Request) -> web.Response:
    inc = await _incident(request)
    if isinstance(inc, web.Response):
        return inc
    [item] = await _items(request.app[RUNTIME], [inc])
    return json_response(item)


async def get_history(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    inc = await _incident(request)
    if isinstance(inc, web.Response):
        return inc
    rows = await rt.store.load_history(inc.id)
    return json_response({"id": inc.id, "fingerprint": inc.fingerprint,
                          "history": [history_item(h) for h in rows]})


def _changer(action: str):
    async def handler(request: web.Request) -> web.Response:
        rt = request.app[RUNTIME]
        body = await change_body(request)
        if isinstance(body, web.Response):
            return body
        ref = request.match_info["id"]
        who = actor(request, body.who)
        try:
            lasting = body.lasting()
        except BadParam as exc:
            return json_error(400, str(exc), field=exc.name)
        if lasting is not None and action != "ack":
            return json_error(400, "for: only an acknowledgement lasts", field="for")
        try:
            if action == "ack":
                inc = await rt.lifecycle.acknowledge(ref, by=who, note=body.note, source="api",
                                                     lasting=lasting)
            else:
                method = rt.lifecycle.unacknowledge if action == "unack" else rt.lifecycle.resolve
                inc = await method(ref, by=who, note=body.note, source="api")
        except IncidentNotFound as exc:
            return await _not_found(rt, exc, ref)
        except IncidentConflict as exc:
            return json_error(409, str(exc), field="id")
        except StorageError as exc:
            return json_error(503, f"not stored: {exc}")
        return json_response(incident_item(rt, inc))

    handler.__name__ = f"{action}_alert"
    return handler


async def ack_page(request: web.Request) -> web.Response:
    """What a browser gets from a chat message's Acknowledge link: a form that POSTs,
    so that following a link (or a link preview bot) never acknowledges anything."""
    inc = await _incident(request)
    if isinstance(inc, web.Response):
        return inc
    name = html.escape(inc.labels.get("alertname", inc.fingerprint))
    labels = html.escape(", ".join(f"{k}={v}" for k, v in sorted(inc.labels.items())))
    state = html.escape(inc.state)
    action = html.escape(f"{PREFIX}/alerts/{inc.id}/ack")
    form = "" if inc.state != "firing" else (
        f'<form method="post" action="{action}">'
        '<label>Your name <input name="who" required maxlength="200"></label> '
        '<label>Note <input name="note" maxlength="2000"></label> '
        '<button type="submit">Acknowledge</button></form>'
    )
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>Acknowledge {name}</title>"
            f"</head><body><h1>{name}</h1><p>{labels}</p><p>State: <b>{state}</b>"
            f" &middot; {inc.occurrences} occurrence(s)</p>{form}</body></html>")
    return web.Response(text=page, content_type="text/html")


async def list_escalations(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    now = rt.clock.now()
    out = []
    pending = rt.lifecycle.pending()
    refs = await rt.lifecycle.short_refs(inc.id for inc, _ in pending)
    for inc, policy in pending:
        esc = inc.escalation
        assert esc is not None
        level = policy.level(esc.step) if policy else None
        out.append({
            "id": inc.id, "ref": refs[inc.id], "fingerprint": inc.fingerprint, "alertname": inc.alertname,
            "state": inc.state, "policy": esc.policy,
            "level": (min(esc.step, len(policy.levels) - 1) + 1) if policy else None,
            "repeat": policy is not None and esc.step >= len(policy.levels),
            "receivers": list(level.receivers) if level else [],
            "due_at": format_ts(esc.next_at),
            "due_in_seconds": round(esc.next_at - now, 3),
            "paused": inc.state == "acknowledged",
        })
    return json_response(out)


async def post_events(request: web.Request) -> web.Response:
    """Native events: one JSON object, or an array of them. Each becomes an alert in
    the same pipeline; the answer gives each one's alert id and fingerprint."""
    rt = request.app[RUNTIME]
    body = await request.read()
    single = body.lstrip()[:1] == b"{"
    try:
        good, bad = decode_events(body, now=rt.clock.now())
    except NativeEventError as exc:
        return json_error(400, str(exc), field=exc.field or None)
    limits = rt.config.server.limits
    refused = too_many(len(good) + len({e.index for e in bad}), limits, "events")
    if refused is not None:
        return refused
    good, over = split_by_limits(good, limits, rename=event_field)
    try:
        result = await rt.ingester.ingest(good, source="native")
    except StorageError as exc:
        return json_error(503, f"events not stored: {exc}")
    now = rt.clock.now()
    accepted = []
    for index, fp in sorted(result.fingerprints.items()):
        alert = rt.alerts.get(fp)
        inc = rt.lifecycle.get(fp)
        accepted.append({
            "index": index, "id": inc.id if inc else None, "fingerprint": fp,
            "status": alert.status(now) if alert else "resolved",
            "state": inc.state if inc else "resolved",
            "occurrences": inc.occurrences if inc else 0,
        })
    errors = sorted(
        [(e.index, e.field, e.message) for e in bad]
        + [(e.index, e.field, e.message) for e in over + result.errors]
    )
    if errors:
        first = errors[0]
        prefix = "" if single else f"events[{first[0]}]."
        return json_error(
            400,
            "; ".join((f"{'' if single else f'events[{i}].'}{f}: {m}" if f else m)
                      for i, f, m in errors[:20]),
            field=f"{prefix}{first[1]}" if first[1] else None,
            errors=[{"index": i, "field": f, "error": m} for i, f, m in errors],
            accepted=accepted,
        )
    if single and accepted:
        item = dict(accepted[0])
        del item["index"]
        return json_response(item, 201 if item["occurrences"] == 1 else 200)
    return json_response({"events": accepted}, 200)


async def get_stats(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    now = rt.clock.now()
    try:
        days = int_param(request, "days", 7, 1, 3660)
        flap = int_param(request, "flap_threshold", 3, 1, 10**6)
        top = int_param(request, "top", 10, 0, 1000)
    except BadParam as exc:
        return json_error(400, str(exc), field=exc.name)
    tz = request.query.get("tz", "UTC")
    since = now - days * 86400.0
    incidents = [_fresher(rt, i) for i in
                 await rt.store.query_incidents(IncidentQuery(since=since, until=now))]
    attempts = await rt.store.attempt_counts(since, now)
    runs = await rt.store.load_runs(since)
    try:
        stats = compute_stats(incidents, attempts, now=now, days=days, flap_threshold=flap, top=top, tz=tz,
                              runs=runs)
    except ValueError as exc:
        return json_error(400, str(exc), field="tz")
    return json_response(stats)


_ALERT = {"$ref": "#/components/schemas/Alert"}
_TIME = {"type": "string", "description": "RFC 3339, Unix seconds, or a duration ago such as 24h"}
_EVENT = {"$ref": "#/components/schemas/NativeEvent"}
_EVENT_ANSWER = {"$ref": "#/components/schemas/EventAnswer"}
_AMBIGUOUS = {"409": json_answer(ERROR, "The short reference names several alerts: `count`, and the "
                                        "newest ones as `candidates`")}
_ALERT_ID = id_param("alert id, fingerprint, or a short reference (4 or more hex digits that start "
                     "or end the id, or start the fingerprint, of this alert alone)")


def routes() -> list[HTTPRoute]:
    change = [
        HTTPRoute(
            "POST", f"{PREFIX}/alerts/{{id}}/{action}", _changer(action), access="admin", summary=summary,
            openapi={
                "parameters": [_ALERT_ID], "requestBody": CHANGE_BODY,
                "responses": {"200": json_answer(_ALERT), **error_answers(400, 401, 403, 404, 409, 503),
                              "409": json_answer(ERROR, "Not applicable in the current state, or the short "
                                                        "reference names several alerts (`candidates`)")},
            },
        )
        for action, summary in (("ack", "Acknowledge"), ("unack", "Withdraw an acknowledgement"),
                                ("resolve", "Resolve now"))
    ]
    return [
        HTTPRoute(
            "POST", f"{PREFIX}/events", post_events, access="ingest",
            summary="Raise (or resolve) alerts from native events",
            openapi={
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                    _EVENT, {"type": "array", "minItems": 1, "items": _EVENT}]}}}},
                "responses": {
                    "200": json_answer({"oneOf": [_EVENT_ANSWER, {"type": "object", "properties": {
                        "events": {"type": "array", "items": _EVENT_ANSWER}}}]}),
                    "201": json_answer(_EVENT_ANSWER, "A new alert"),
                    **error_answers(400, 401, 403, 413, 429, 503)},
            },
        ),
        HTTPRoute(
            "GET", f"{PREFIX}/stats", get_stats, access="read",
            summary="What fires most, when, and how fast it is handled",
            openapi={
                "parameters": [
                    query_param("days", {"type": "integer", "minimum": 1, "maximum": 3660}, "window"),
                    query_param("flap_threshold", {"type": "integer", "minimum": 1},
                                "flapping: more firings than this within an hour"),
                    query_param("top", {"type": "integer", "minimum": 0, "maximum": 1000}, "noisiest shown"),
                    query_param("tz", {"type": "string"}, "IANA time zone for hours and days")],
                "responses": {"200": json_answer({"$ref": "#/components/schemas/Stats"}),
                              **error_answers(400, 401, 403)},
            },
        ),
        HTTPRoute(
            "GET", f"{PREFIX}/alerts", list_alerts, access="read",
            summary="Alerts with their lifecycle, newest first",
            openapi={
                "parameters": [
                    query_param("state", {"type": "string"},
                                "firing, acknowledged, resolved or open; comma separated"),
                    query_param("severity", {"type": "string"}, "severity label values; comma separated"),
                    query_param("filter", {"type": "string"}, "a label matcher (repeatable)"),
                    query_param("since", _TIME, "fired at or after"),
                    query_param("until", _TIME, "fired before"), *PAGE_PARAMS],
                "responses": {"200": json_answer({"type": "object", "properties": {
                    "alerts": {"type": "array", "items": _ALERT}, "total": {"type": "integer"},
                    "limit": {"type": "integer"}, "offset": {"type": "integer"}}}),
                    **error_answers(400, 401, 403)},
            },
        ),
        HTTPRoute(
            "GET", f"{PREFIX}/alerts/{{id}}", get_alert, access="read", summary="One alert",
            openapi={"parameters": [_ALERT_ID],
                     "responses": {"200": json_answer(_ALERT), **error_answers(401, 403, 404), **_AMBIGUOUS}},
        ),
        HTTPRoute(
            "GET", f"{PREFIX}/alerts/{{id}}/history", get_history, access="read",
            summary="An alert's history rows",
            openapi={
                "parameters": [_ALERT_ID],
                "responses": {"200": json_answer({"type": "object", "properties": {
                    "id": {"type": "string"}, "fingerprint": {"type": "string"},
                    "history": {"type": "array", "items": {"$ref": "#/components/schemas/HistoryRow"}}}}),
                    **error_answers(401, 403, 404), **_AMBIGUOUS},
            },
        ),
        HTTPRoute(
            # read: it only shows the page; its form POSTs to the admin route below.
            "GET", f"{PREFIX}/alerts/{{id}}/ack", ack_page, access="read",
            summary="A confirmation page whose form acknowledges (for chat links)",
            openapi={
                "parameters": [_ALERT_ID],
                "responses": {"200": {"description": "HTML",
                                      "content": {"text/html": {"schema": {"type": "string"}}}},
                              **error_answers(401, 403, 404), **_AMBIGUOUS},
            },
        ),
        *change,
        HTTPRoute(
            "GET", f"{PREFIX}/escalations", list_escalations, access="read",
            summary="Escalation steps still to come",
            openapi={"responses": {"200": json_answer({"type": "array", "items": {"type": "object"}}),
                                   **error_answers(401, 403)}},
        ),
    ]
