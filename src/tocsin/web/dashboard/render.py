"""Rendering the dashboard's pages: the Jinja2 environment, the headers every page
carries, and the helpers a page module uses (see the package's docstring)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web

from tocsin import __version__
from tocsin.core.matchers import Matcher, MatchType
from tocsin.web.auth import PRINCIPAL
from tocsin.web.dashboard import csrf
from tocsin.web.dashboard.assets import Assets, load_assets
from tocsin.web.dashboard.nav import NAV
from tocsin.web.keys import ROUTES, RUNTIME

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "CSP", "as_matchers", "assets", "back", "can_act", "error_page", "fragment", "iso", "local_path", "page",
    "safe_url", "when",
]

#: No inline script or style, nothing from another origin; forms post here only.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin", "Cache-Control": "no-store", "X-Frame-Options": "DENY"}


@functools.cache
def assets() -> Assets:
    return load_assets()


def safe_url(value: object) -> str | None:
    """``value`` when it is an http(s) URL, else None: alert text never becomes a
    ``javascript:`` or ``data:`` link."""
    text = str(value or "").strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    return text if parts.scheme in ("http", "https") and parts.netloc else None


def iso(ts: float | None) -> str:
    """RFC 3339, for ``<time datetime>``."""
    if not ts or ts <= 0:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_matchers(labels: dict[str, str]) -> str:
    """A label set as the matchers of exactly it: ``alertname="DiskFull", instance="db\\"1"``."""
    return ", ".join(str(Matcher.create(k, MatchType.EQUAL, v)) for k, v in sorted(labels.items()))


def when(ts: float | None) -> str:
    if not ts or ts <= 0:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(ts: float | None, now: float) -> str:
    if not ts or ts <= 0:
        return ""
    secs = int(now - ts)
    sign, secs = ("in ", -secs) if secs < 0 else ("", secs)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            text = f"{secs // size}{unit}"
            break
    else:
        text = f"{secs}s"
    return f"{sign}{text}" if sign else f"{text} ago"


@functools.cache
def _env() -> jinja2.Environment:
    """The pages' environment, made (and Jinja2 imported) when a page is first rendered."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("tocsin.web.dashboard", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["safe_url"] = safe_url
    env.filters["when"] = when
    env.filters["as_matchers"] = as_matchers
    env.filters["iso"] = iso
    env.globals["asset"] = lambda name: assets().url(name)
    env.globals["version"] = __version__
    return env


def can_act(request: web.Request) -> bool:
    """Whether the caller may change state: auth off, or the admin role."""
    principal = request.get(PRINCIPAL)
    return principal is None or principal.role == "admin"


def _context(request: web.Request, nav_key: str) -> dict[str, Any]:
    rt = request.app[RUNTIME]
    table = request.app[ROUTES]
    principal = request.get(PRINCIPAL)
    now = rt.clock.now()
    return {
        "nav": [item for item in NAV if table.get("GET", item.path) is not None],
        "current": nav_key,
        "csrf": csrf.token(request),
        "can_act": can_act(request),
        "principal": principal,
        "auth_off": rt.config.server.auth is None,
        "now": now,
        "ago": lambda ts: _ago(ts, now),
        "path_qs": request.path_qs,
    }


def _answer(request: web.Request, text: str, status: int) -> web.Response:
    resp = web.Response(text=text, status=status, content_type="text/html", headers=_HEADERS)
    csrf.remember(request, resp)
    return resp


def page(request: web.Request, template: str, nav_key: str, status: int = 200,
         **context: Any) -> web.Response:
    """A whole page: ``template`` (extending ``base.html``) rendered with ``context``."""
    text = _env().get_template(template).render(**_context(request, nav_key), **context)
    return _answer(request, text, status)


def fragment(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """Part of a page (what htmx or the live update swaps in), with the same context."""
    text = _env().get_template(template).render(**_context(request, ""), **context)
    return _answer(request, text, status)


def error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    return page(request, "error.html", "", status=status, title=title, message=message)


def local_path(target: object, default: str = "/alerts") -> str:
    """``target`` when it is a path of this site, else ``default``."""
    text = str(target or "")
    ok = text.startswith("/") and not text.startswith("//") and "\\" not in text \
        and not any(ord(c) < 32 for c in text)
    return text if ok else default


def back(target: object, default: str = "/alerts") -> web.HTTPSeeOther:
    """A 303 to ``target`` when it is a path of this site, else to ``default``."""
    return web.HTTPSeeOther(local_path(target, default))
