"""``/login`` and ``/logout``: a bearer token exchanged for a dashboard session cookie
(:mod:`tocsin.web.dashboard.session`), for browsers, which cannot send a token themselves.

A token with the ``read`` or ``admin`` role opens a session with that role; an ``ingest``
token, or one that is not configured, is refused with the same words (a wrong guess learns
nothing). Both forms carry the dashboard's CSRF token. With ``server.auth`` unset there is
nothing to log in to, and both go to ``/``.
"""

from __future__ import annotations

import hashlib

import structlog
from aiohttp import web

from tocsin.core.routes import HTTPRoute
from tocsin.web.auth import ALLOWED_ROLES, Authenticator
from tocsin.web.dashboard import csrf, session
from tocsin.web.dashboard.render import error_page, local_path, page
from tocsin.web.keys import RUNTIME, SESSIONS

__all__ = ["routes"]

log = structlog.get_logger("tocsin.auth")


def _next(value: object) -> str:
    target = local_path(value, "/")
    return "/" if target.startswith(("/login", "/logout")) else target


async def login_page(request: web.Request) -> web.StreamResponse:
    cfg = request.app[RUNTIME].config.server.auth
    if cfg is None:
        raise web.HTTPSeeOther("/")
    return page(request, "login.html", "", next_path=_next(request.query.get("next")), error="",
                basic=bool(cfg.basic_auth_users))


async def login(request: web.Request) -> web.StreamResponse:
    cfg = request.app[RUNTIME].config.server.auth
    form = await request.post()
    if cfg is None:
        raise web.HTTPSeeOther("/")
    refused = csrf.check(request, form)
    if refused is not None:
        return error_page(request, 403, "Not logged in", refused)
    token = str(form.get("token", "")).strip()
    principal = Authenticator().bearer(token, cfg, "session") if token else None
    if principal is None or principal.role not in ALLOWED_ROLES["read"]:
        log.info("dashboard login failed", remote=request.remote)
        return page(request, "login.html", "", status=401, next_path=_next(form.get("next")),
                    basic=bool(cfg.basic_auth_users),
                    error="No token with the read or admin role is that one.")
    sid = request.app[SESSIONS].open(hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest())
    log.info("dashboard login", remote=request.remote, principal=principal.name, role=principal.role)
    done = web.HTTPSeeOther(_next(form.get("next")))
    done.set_cookie(session.COOKIE, sid, httponly=True, samesite="Strict", path="/", secure=request.secure,
                    max_age=int(session.TTL))
    raise done


async def logout(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    refused = csrf.check(request, form)
    if refused is not None:
        return error_page(request, 403, "Not logged out", refused)
    sid = request.cookies.get(session.COOKIE)
    if sid:
        request.app[SESSIONS].close(sid)
    done = web.HTTPSeeOther("/login" if request.app[RUNTIME].config.server.auth is not None else "/")
    done.del_cookie(session.COOKIE, path="/")
    raise done


def routes() -> list[HTTPRoute]:
    # open: who is not logged in yet must reach them; each checks what it is given.
    return [
        HTTPRoute("GET", "/login", login_page, access="open", summary="The dashboard's login page"),
        HTTPRoute("POST", "/login", login, access="open", summary="Exchange a token for a session"),
        HTTPRoute("POST", "/logout", logout, access="open", summary="End the dashboard session"),
    ]
