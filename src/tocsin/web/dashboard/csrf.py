"""Cross-site request forgery: a form that acts must come from a page of this site.

Two checks, both needed. The browser's own word on where the request comes from
(``Sec-Fetch-Site`` when sent, else ``Origin`` when sent) must be this site; and the
form's ``csrf`` field must equal the ``tocsin_csrf`` cookie (a random token the
dashboard sets, ``HttpOnly`` and ``SameSite=Strict``), which another site can neither
read nor set, so it cannot fill the field. The token is the same on every replica that
reads the same cookie: nothing is kept on the server.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

__all__ = ["COOKIE", "FIELD", "check", "remember", "token"]

COOKIE = "tocsin_csrf"
FIELD = "csrf"
#: The token a request minted, set as the cookie on its answer.
_MINTED: Any = (web.RequestKey("tocsin_csrf_minted", str) if hasattr(web, "RequestKey")
                else "tocsin_csrf_minted")


def token(request: web.Request) -> str:
    """The request's token: its cookie's, or a new one that :func:`remember` sets."""
    held = request.cookies.get(COOKIE, "")
    if len(held) >= 32:
        return held
    minted = request.get(_MINTED)
    if minted is None:
        minted = request[_MINTED] = secrets.token_urlsafe(32)
    return str(minted)


def remember(request: web.Request, response: web.StreamResponse) -> None:
    """Set the cookie when this request minted a token."""
    minted = request.get(_MINTED)
    if minted is not None:
        response.set_cookie(COOKIE, minted, httponly=True, samesite="Strict", path="/",
                            secure=request.secure)


def _same_site(request: web.Request) -> bool:
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None  # no header: an old browser or a script; the token decides
    return urlsplit(origin).netloc == request.host


def check(request: web.Request, form: Mapping[str, Any]) -> str | None:
    """None when the form may act, else why not (for the 403 page)."""
    if not _same_site(request):
        return "the form was sent from another site"
    held = request.cookies.get(COOKIE, "")
    sent = str(form.get(FIELD, ""))
    if len(held) < 32 or not hmac.compare_digest(held.encode(), sent.encode()):
        return "the form is stale or was not made by this dashboard; reload the page and try again"
    return None
