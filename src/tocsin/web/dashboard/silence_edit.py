"""Creating and editing a silence: ``/silences/new`` (``filter`` prefills the matchers, as
the Alertmanager UI's ``/#/silences/new?filter=...`` links do; ``duration`` the length),
``POST /silences`` (create, or update the silence whose ``id`` the form carries), and
``/silences/preview``: every alert held that the matchers would mute, which the form shows
and redraws as the matchers change.

A form has ``matchers`` (the filter bar's syntax), ``starts_at`` (RFC 3339; empty: now),
``duration`` (``2h``, or a preset) or ``ends_at`` (RFC 3339; it wins when both are
given), ``created_by`` and ``comment``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tocsin.core.durations import Duration
from tocsin.core.matchers import Matcher, MatcherError, matches_all
from tocsin.core.routes import HTTPRoute
from tocsin.mute.silences import Silence, SilenceError, SilenceMatcher, SilenceNotFound
from tocsin.runtime import Runtime
from tocsin.store import StorageError
from tocsin.web.auth import PRINCIPAL
from tocsin.web.dashboard import alertview, csrf, filtertext
from tocsin.web.dashboard.render import fragment, page
from tocsin.web.keys import RUNTIME

__all__ = ["PRESETS", "form_values", "preview", "routes"]

#: The duration buttons of the form.
PRESETS = ("1h", "2h", "4h", "8h", "1d", "3d", "1w")
#: At most this many alerts are listed in a preview (all are counted).
MAX_PREVIEW = 200
MAX_COMMENT = 2000


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(name: str, text: str) -> float:
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not an RFC 3339 time such as 2024-05-01T12:00:00Z") from None
    if dt.tzinfo is None:
        raise ValueError(f"{name}: {text!r} has no time zone (add Z or an offset)")
    return dt.timestamp()


def form_values(request: web.Request, sil: Silence | None = None,
                given: Mapping[str, Any] | None = None) -> dict[str, str]:
    """What the form's fields hold: a silence's, the posted ones, or the defaults."""
    principal = request.get(PRINCIPAL)
    if given is not None:
        return {k: str(given.get(k, "")) for k in
                ("id", "matchers", "starts_at", "ends_at", "duration", "created_by", "comment")}
    if sil is not None:
        return {"id": sil.id, "matchers": ", ".join(str(m.to_matcher()) for m in sil.matchers),
                "starts_at": _rfc3339(sil.starts_at), "ends_at": _rfc3339(sil.ends_at), "duration": "",
                "created_by": sil.created_by, "comment": sil.comment}
    return {"id": "", "matchers": filtertext.join(request.query.getall("filter", [])), "starts_at": "",
            "ends_at": "", "duration": request.query.get("duration", "2h"),
            "created_by": principal.name if principal is not None else "", "comment": ""}


def preview(rt: Runtime, matchers: Sequence[Matcher], now: float) -> dict[str, Any]:
    """The alerts held, not resolved, that every matcher matches."""
    hit = [a for a in list(rt.alerts) if not a.resolved(now) and matches_all(matchers, a.labels)] \
        if matchers else []
    rows = alertview.sort_rows([alertview.row(rt, a, now) for a in hit[:MAX_PREVIEW]], "severity")
    return {"count": len(hit), "rows": rows, "error": "" if matchers else "Give at least one matcher."}


async def new(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    values = form_values(request)
    try:
        matchers = filtertext.parse(values["matchers"])
        error = ""
    except MatcherError as exc:
        matchers, error = [], f"matchers: {exc}"
    return page(request, "silence_new.html", "silences", form=values, error=error, presets=PRESETS,
                preview=preview(rt, matchers, rt.clock.now()))


async def preview_part(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    try:
        matchers = filtertext.parse(request.query.get("matchers", "")[:10000])
    except MatcherError as exc:
        failed = {"count": 0, "rows": [], "error": f"matchers: {exc}"}
        return fragment(request, "_preview.html", preview=failed)
    return fragment(request, "_preview.html", preview=preview(rt, matchers, rt.clock.now()))


def _silence(form: Mapping[str, Any], who: str, now: float) -> Silence:
    """The silence the form describes; ValueError naming the bad field."""
    try:
        matchers = filtertext.parse(str(form.get("matchers", "")))
    except MatcherError as exc:
        raise ValueError(f"matchers: {exc}") from None
    if not matchers:
        raise ValueError("matchers: give at least one")
    text = str(form.get("starts_at", "")).strip()
    starts = _parse_time("starts_at", text) if text else now
    ends_text, dur_text = str(form.get("ends_at", "")).strip(), str(form.get("duration", "")).strip()
    if ends_text:
        ends = _parse_time("ends_at", ends_text)
    elif dur_text:
        try:
            ends = max(starts, now) + float(Duration.parse(dur_text))
        except ValueError as exc:
            raise ValueError(f"duration: {exc}") from None
    else:
        raise ValueError("duration: give a duration (such as 2h) or an end time")
    comment = str(form.get("comment", "")).strip()
    if not comment:
        raise ValueError("comment: say why (it is shown to whoever the silence hides alerts from)")
    if len(comment) > MAX_COMMENT:
        raise ValueError(f"comment: at most {MAX_COMMENT} characters")
    return Silence(id=str(form.get("id", "")).strip(), starts_at=starts, ends_at=ends, created_by=who,
                   comment=comment, matchers=tuple(SilenceMatcher.from_matcher(m) for m in matchers))


async def save(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    form = await request.post()
    refused = csrf.check(request, form)
    if refused is not None:
        return page(request, "error.html", "silences", status=403, title="Not saved", message=refused)
    principal = request.get(PRINCIPAL)
    who = str(form.get("created_by", "")).strip()[:200] or (principal.name if principal else "")
    now = rt.clock.now()
    status, error = 400, ""
    try:
        if form.get("action") == "preview":  # the form's Preview button, without JavaScript
            status = 200
        elif not who:
            raise ValueError("created_by: say who you are")
        else:
            sid = await rt.silences.set(_silence(form, who, now), now)
            raise web.HTTPSeeOther(f"/silences/{sid}")
    except SilenceNotFound:
        error = "id: no such silence (it may have been forgotten since it expired)"
    except (ValueError, SilenceError) as exc:
        error = str(exc)
    except StorageError as exc:
        status, error = 503, f"not stored: {exc}"
    try:
        matchers = filtertext.parse(str(form.get("matchers", "")))
    except MatcherError:
        matchers = []
    return page(request, "silence_new.html", "silences", status=status, error=error, presets=PRESETS,
                form=form_values(request, given=form), preview=preview(rt, matchers, now))


def routes() -> list[HTTPRoute]:
    return [
        HTTPRoute("GET", "/silences/new", new, access="read", summary="The form of a new silence"),
        HTTPRoute("GET", "/silences/preview", preview_part, access="read",
                  summary="The alerts a silence would mute"),
        HTTPRoute("POST", "/silences", save, access="admin", summary="Create or update a silence"),
    ]
