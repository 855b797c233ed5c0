"""A bare form that creates a silence from Alertmanager matchers, for links made before the
dashboard.

The Slack "Silence 1h" button links to ``<external_url>/#/silences/new?filter=...``, as
for Alertmanager; the dashboard at ``/`` (:mod:`tocsin.web.dashboard`) sends such links
to its own new-silence page. This older form, at ``/api/tocsin/v1/silences/new``, stays
for links and scripts that name it. It POSTs, so following a link (or a chat preview
bot) never silences anything; posting it needs the ``admin`` role, like
``POST /api/v2/silences``.
"""

from __future__ import annotations

import html
from urllib.parse import quote

from aiohttp import web

from tocsin.core.durations import Duration
from tocsin.core.matchers import Matcher, MatcherError, parse_matchers
from tocsin.core.routes import HTTPRoute, error_answers, query_param
from tocsin.mute.silences import Silence, SilenceError, SilenceMatcher
from tocsin.store import StorageError
from tocsin.web.keys import RUNTIME
from tocsin.web.params import actor

__all__ = ["routes"]

PREFIX = "/api/tocsin/v1"
FORM_PATH = f"{PREFIX}/silences/new"
MAX_COMMENT = 2000

def _matchers(request: web.Request) -> list[Matcher] | str:
    try:
        return [m for f in request.query.getall("filter", []) for m in parse_matchers(f)]
    except MatcherError as exc:
        return str(exc)


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
              f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"),
        content_type="text/html", status=status)


async def form_page(request: web.Request) -> web.Response:
    """The new silence, its matchers taken from ``filter`` as the Alertmanager UI takes
    them, and a form to create it."""
    matchers = _matchers(request)
    if isinstance(matchers, str):
        return _page("Cannot silence", f"<p>{html.escape(matchers)}</p>", 400)
    if not matchers:
        return _page("Cannot silence", "<p>The link names no matchers.</p>", 400)
    duration = request.query.get("duration", "1h")
    items = "".join(f"<li><code>{html.escape(str(m))}</code></li>" for m in matchers)
    hidden = "".join(f'<input type="hidden" name="filter" value="{html.escape(str(m), quote=True)}">'
                     for m in matchers)
    return _page("New silence", (
        f"<p>Mutes every alert these match:</p><ul>{items}</ul>"
        f'<form method="post" action="{html.escape(FORM_PATH)}">{hidden}'
        f'<label>For <input name="duration" value="{html.escape(duration, quote=True)}" required></label> '
        '<label>Your name <input name="who" required maxlength="200"></label> '
        f'<label>Comment <input name="comment" required maxlength="{MAX_COMMENT}"></label> '
        '<button type="submit">Silence</button></form>'))


async def create(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    try:
        form = await request.post()
    except (ValueError, LookupError) as exc:
        return _page("Cannot silence", f"<p>invalid form: {html.escape(str(exc))}</p>", 400)
    try:
        matchers = [m for f in form.getall("filter", []) for m in parse_matchers(str(f))]
        duration = Duration.parse(str(form.get("duration", "")).strip())
    except (MatcherError, ValueError) as exc:
        return _page("Cannot silence", f"<p>{html.escape(str(exc))}</p>", 400)
    comment = str(form.get("comment", "")).strip()[:MAX_COMMENT]
    who = actor(request, str(form.get("who", ""))[:200])
    now = rt.clock.now()
    sil = Silence(matchers=tuple(SilenceMatcher.from_matcher(m) for m in matchers), starts_at=now,
                  ends_at=now + duration, created_by=who, comment=comment or "silenced from a link")
    try:
        sid = await rt.silences.set(sil, now)
    except SilenceError as exc:
        return _page("Cannot silence", f"<p>{html.escape(str(exc))}</p>", 400)
    except StorageError as exc:
        return _page("Not silenced", f"<p>not stored: {html.escape(str(exc))}</p>", 503)
    link = f"/api/v2/silence/{quote(sid)}"
    return _page("Silenced", f'<p>Silence <a href="{html.escape(link)}"><code>{html.escape(sid)}</code></a>'
                             f" mutes them for {html.escape(str(duration))}.</p>")


def routes() -> list[HTTPRoute]:
    html_answer = {"description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
    return [
        HTTPRoute("GET", FORM_PATH, form_page, access="read", summary="A form to create a silence", openapi={
            "parameters": [
                query_param("filter", {"type": "string"}, "matchers, as the Alertmanager UI's link has them"),
                query_param("duration", {"type": "string"}, "how long, such as 1h (the form's default)")],
            "responses": {"200": html_answer, **error_answers(400, 401, 403)},
        }),
        HTTPRoute("POST", FORM_PATH, create, access="admin", summary="Create the silence the form shows",
                  openapi={"responses": {"200": html_answer, **error_answers(400, 401, 403, 503)}}),
    ]
