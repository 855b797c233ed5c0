"""The on-call page, ``/oncall``: what waits on a person.

* pending escalations: each incident with an escalation step still to come, its policy,
  the next level and its receivers, and when (as ``GET /api/tocsin/v1/escalations``);
* remediation runs awaiting approval, with approve and reject (the same engine calls and
  the same ``admin`` role as ``POST /api/tocsin/v1/remediations/{id}/approve|reject``);
* dead letters, with replay and drop (as ``POST /api/tocsin/v1/dead-letters/{id}/replay``
  and ``DELETE /api/tocsin/v1/dead-letters/{id}``, role ``admin``).

Every action is a CSRF-checked form (:mod:`tocsin.web.dashboard.csrf`) that redirects
back here with ``done`` naming what happened (one of :data:`OUTCOMES`: fixed words, so
no text of the request is shown back).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tocsin.core.routes import HTTPRoute
from tocsin.notify.delivery import Superseded
from tocsin.remediation.engine import PENDING, RunConflict, RunNotFound
from tocsin.store import StorageError
from tocsin.web.dashboard import csrf
from tocsin.web.dashboard.render import error_page, page
from tocsin.web.keys import RUNTIME
from tocsin.web.params import actor

__all__ = ["OUTCOMES", "routes"]

#: What an action's redirect may say, by the word in its ``done`` parameter.
OUTCOMES = {
    "approved": "Remediation approved: it runs now.",
    "rejected": "Remediation rejected.",
    "run-gone": "That remediation run no longer waits for approval.",
    "replayed": "Dead letter delivered and removed.",
    "superseded": "Not replayed: a newer notification of that group was sent since; the dead letter is gone.",
    "replay-failed": "Replay failed again; the dead letter stays.",
    "dropped": "Dead letter dropped.",
    "letter-gone": "That dead letter is gone already.",
    "not-stored": "Not stored: the database refused the write. Try again.",
}
#: Longest name or note taken from a form.
MAX_TEXT = 2000


def escalations(rt: Any) -> list[dict[str, Any]]:
    """Incidents with an escalation step to come, soonest first."""
    now = rt.clock.now()
    out = []
    for inc, policy in rt.lifecycle.pending():
        esc = inc.escalation
        if esc is None:
            continue
        level = policy.level(esc.step) if policy else None
        out.append({
            "id": inc.id, "alertname": inc.alertname, "labels": inc.labels, "state": inc.state,
            "policy": esc.policy, "due_at": esc.next_at, "due_in": esc.next_at - now,
            "level": (min(esc.step, len(policy.levels) - 1) + 1) if policy else None,
            "repeat": policy is not None and esc.step >= len(policy.levels),
            "receivers": list(level.receivers) if level else [],
            "paused": inc.state == "acknowledged",
        })
    out.sort(key=lambda e: (e["due_at"], e["id"]))
    return out


async def awaiting_approval(rt: Any) -> list[Any]:
    """Remediation runs waiting for a person's approval, oldest first (the engine's record
    of each when it holds one: it is the latest)."""
    runs = await rt.store.query_runs(states=[PENDING], limit=200)
    found = [rt.remediator.runs.get(r.id, r) for r in runs]
    return sorted((r for r in found if r.state == PENDING), key=lambda r: (r.created_at, r.id))


async def oncall_page(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    done = request.query.get("done", "")
    return page(request, "oncall.html", "oncall", done=OUTCOMES.get(done, ""),
                escalations=escalations(rt), runs=await awaiting_approval(rt),
                dead_letters=rt.dead_letters.list())


async def _form(request: web.Request) -> dict[str, str] | web.Response:
    form = await request.post()
    refused = csrf.check(request, form)
    if refused is not None:
        return error_page(request, 403, "Refused", refused)
    return {k: str(v)[:MAX_TEXT] for k, v in form.items() if isinstance(v, str)}


def _back(outcome: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/oncall?done={outcome}")


def _decider(action: str):
    async def handler(request: web.Request) -> web.Response:
        form = await _form(request)
        if isinstance(form, web.Response):
            return form
        rt = request.app[RUNTIME]
        method = rt.remediator.approve if action == "approve" else rt.remediator.reject
        try:
            await method(request.match_info["id"], by=actor(request, form.get("who", "")),
                         note=form.get("note", "").strip())
        except (RunNotFound, RunConflict):
            raise _back("run-gone") from None
        except StorageError:
            raise _back("not-stored") from None
        raise _back("approved" if action == "approve" else "rejected")

    handler.__name__ = f"{action}_run_page"
    return handler


def _letter_id(request: web.Request) -> int | None:
    try:
        return int(request.match_info["id"])
    except ValueError:
        return None


async def replay_letter(request: web.Request) -> web.Response:
    form = await _form(request)
    if isinstance(form, web.Response):
        return form
    rt = request.app[RUNTIME]
    dl_id = _letter_id(request)
    if dl_id is None or rt.dead_letters.get(dl_id) is None:
        raise _back("letter-gone")
    try:
        failed = await rt.delivery.replay(dl_id)
    except LookupError:
        raise _back("letter-gone") from None
    except Superseded:
        raise _back("superseded") from None
    raise _back("replay-failed" if failed is not None else "replayed")


async def drop_letter(request: web.Request) -> web.Response:
    form = await _form(request)
    if isinstance(form, web.Response):
        return form
    rt = request.app[RUNTIME]
    dl_id = _letter_id(request)
    if dl_id is None or not await rt.dead_letters.drop(dl_id):
        raise _back("letter-gone")
    rt.metrics.dead_letters.set(len(rt.dead_letters))
    raise _back("dropped")


def routes() -> list[HTTPRoute]:
    return [
        HTTPRoute("GET", "/oncall", oncall_page, access="read",
                  summary="Dashboard: escalations to come, remediations awaiting approval, dead letters"),
        *(HTTPRoute("POST", f"/oncall/remediations/{{id}}/{action}", _decider(action), access="admin",
                    summary=f"Dashboard: {action} a remediation run") for action in ("approve", "reject")),
        HTTPRoute("POST", "/oncall/dead-letters/{id}/replay", replay_letter, access="admin",
                  summary="Dashboard: send a dead letter again"),
        HTTPRoute("POST", "/oncall/dead-letters/{id}/drop", drop_letter, access="admin",
                  summary="Dashboard: forget a dead letter"),
    ]
