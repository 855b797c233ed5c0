"""One alert: ``/alerts/{id}`` (an incident id, a fingerprint or a short reference), and the
actions on it: ``POST /alerts/{id}/ack``, ``/unack``, ``/resolve`` with a ``note``.

The page shows the labels, the annotations (a ``runbook_url``, ``dashboard_url`` or any
other annotation that is an http(s) URL as a link), the occurrences, and the history as a
timeline: fired, notified (receiver, integration, result), acknowledged (by whom, the
note), escalated, muted (why), remediation runs (with their output), resolved. The
actions need the ``admin`` role, as their API calls do, and a form of this dashboard
(CSRF); each records ``source: dashboard`` in the history.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tocsin.core.records import HistoryEvent, RemediationRun
from tocsin.core.routes import Handler, HTTPRoute
from tocsin.incidents.plan import Incident, IncidentAmbiguous, IncidentConflict, IncidentNotFound
from tocsin.runtime import Runtime
from tocsin.store import StorageError
from tocsin.web.auth import PRINCIPAL
from tocsin.web.dashboard import alertview, csrf
from tocsin.web.dashboard.render import back, error_page, page, when
from tocsin.web.keys import RUNTIME
from tocsin.web.params import MAX_NOTE, actor

__all__ = ["routes"]

#: Remediation runs whose output the timeline shows (the newest).
MAX_RUNS = 20


async def _find(request: web.Request) -> Incident | web.Response:
    rt = request.app[RUNTIME]
    ref = request.match_info["id"]
    try:
        inc = await rt.lifecycle.find(ref)
    except IncidentAmbiguous as exc:
        return error_page(request, 409, "Which alert?",
                          f"{exc.count} alerts match {ref!r}: give more characters of its id.")
    except IncidentNotFound:
        return error_page(request, 404, "No such alert", f"No alert has the id or fingerprint {ref!r}.")
    current = rt.lifecycle.get(inc.fingerprint)
    return current if current is not None and current.id == inc.id else inc


async def _runs(rt: Runtime, history: list[HistoryEvent]) -> dict[str, RemediationRun]:
    ids = list(dict.fromkeys(str(h.detail.get("run")) for h in reversed(history)
                             if h.kind == "remediation" and h.detail.get("run")))[:MAX_RUNS]
    out = {}
    for run_id in ids:
        run = rt.remediator.runs.get(run_id)
        if run is None:
            run = await rt.store.get_run(run_id)
        if run is not None:
            out[run_id] = run
    return out


def _text(name: str, value: object) -> str:
    if isinstance(value, float | int) and not isinstance(value, bool) and name.endswith("_at"):
        return when(float(value))
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _detail(h: HistoryEvent) -> list[tuple[str, str]]:
    """The row's detail as (name, text) pairs, in a stable order."""
    return [(k, _text(k, v)) for k, v in sorted(h.detail.items()) if v not in ("", None, [], {})]


async def show(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    inc = await _find(request)
    if isinstance(inc, web.Response):
        return inc
    alert = rt.alerts.get(inc.fingerprint)
    held = alert is not None and (cur := rt.lifecycle.get(inc.fingerprint)) is not None and cur.id == inc.id
    now = rt.clock.now()
    row = alertview.row(rt, alert, now) if held and alert is not None else None
    try:
        history = await rt.store.load_history(inc.id)
    except StorageError as exc:
        return error_page(request, 503, "Storage unavailable", f"The history cannot be read: {exc}")
    runs = await _runs(rt, history)
    timeline: list[dict[str, Any]] = [
        {"kind": h.kind, "at": h.at, "actor": h.actor, "detail": _detail(h),
         "run": runs.get(str(h.detail.get("run", "")))} for h in history]
    return page(request, "alert.html", "alerts", inc=inc, row=row,
                state=row.state if row is not None else inc.state,
                annotations=alert.annotations if held and alert is not None else {},
                generator_url=alert.generator_url if held and alert is not None else "",
                receivers=rt.receivers_for(alert) if held and alert is not None else [],
                timeline=timeline, self_path=f"/alerts/{inc.id}")


def _changer(action: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        rt = request.app[RUNTIME]
        form = await request.post()
        refused = csrf.check(request, form)
        if refused is not None:
            return error_page(request, 403, "Not done", refused)
        note = str(form.get("note", "")).strip()
        if len(note) > MAX_NOTE:
            return error_page(request, 400, "Not done", f"note: at most {MAX_NOTE} characters")
        ref = request.match_info["id"]
        given = str(form.get("who", "")).strip()[:200]
        # Without auth, who the form names (else "dashboard"); with it, the principal.
        who = actor(request, given) if given or request.get(PRINCIPAL) is not None else "dashboard"
        try:
            if action == "ack":
                await rt.lifecycle.acknowledge(ref, by=who, note=note, source="dashboard")
            elif action == "unack":
                await rt.lifecycle.unacknowledge(ref, by=who, note=note, source="dashboard")
            else:
                await rt.lifecycle.resolve(ref, by=who, note=note, source="dashboard")
        except IncidentNotFound:
            return error_page(request, 404, "No such alert", f"No alert has the id {ref!r}.")
        except IncidentConflict as exc:
            return error_page(request, 409, "Not done", str(exc))
        except StorageError as exc:
            return error_page(request, 503, "Not done", f"not stored: {exc}")
        raise back(form.get("next"), f"/alerts/{ref}")

    handler.__name__ = f"dashboard_{action}"
    return handler


def routes() -> list[HTTPRoute]:
    return [
        HTTPRoute("GET", "/alerts/{id}", show, access="read", summary="One alert and its history"),
        *(HTTPRoute("POST", f"/alerts/{{id}}/{action}", _changer(action), access="admin", summary=summary)
          for action, summary in (("ack", "Acknowledge"), ("unack", "Withdraw an acknowledgement"),
                                  ("resolve", "Resolve now"))),
    ]
