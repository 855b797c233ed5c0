"""Authentication and authorisation of the HTTP API.

Without ``server.auth`` every endpoint is open, as in Alertmanager. With it,
every route needs what its declaration (:class:`tocsin.core.routes.HTTPRoute`) says,
read from the app's :data:`~tocsin.web.keys.ROUTES`; a route added to the router
without a declaration needs ``admin``:

* ``open``   -- no credentials: health checks, and signed callbacks (Slack's,
  PagerDuty's), which authenticate by their own signatures;
* ``ingest`` -- the ``ingest`` and ``admin`` roles: posting alerts and events;
* ``read``   -- the ``read`` and ``admin`` roles: everything that only reads;
* ``admin``  -- the ``admin`` role only: everything that changes state.

Credentials are a bearer token (``Authorization: Bearer ...``, from
``server.auth.tokens``) or HTTP basic auth (``Authorization: Basic ...``,
checked against the bcrypt hashes of ``server.auth.basic_auth_users``). For the
dashboard's pages alone (not ``/api/``, ``/-/`` nor ``/metrics``), a request without
an ``Authorization`` header may instead carry the session cookie that ``/login`` gives
for a token (:mod:`tocsin.web.dashboard.session`); it counts as that token while the
token is configured. A page asked for without credentials is sent to ``/login`` when
only tokens are configured, and otherwise answered a 401 whose Basic challenge makes
the browser ask for a password.
The configuration is read from the runtime at each request, so a reload
takes effect at once. A ``token_file`` is read when first needed and again
whenever its modification time, size or inode changes (one ``stat`` per
request), so a token can be rotated by replacing the file, without a reload.

Answers: 401 ``{"error": "authentication required"}`` (with a
``WWW-Authenticate`` header for each scheme) for missing or wrong credentials, 403
``{"error": "forbidden"}`` for a role that may not call the route. Neither
tells which part failed. Failures are logged at info with the client's
address; credentials are never logged.

The authenticated :class:`Principal` is ``request[PRINCIPAL]`` (``None``
when auth is off or the route is open). ``PRINCIPAL`` is an aiohttp
``RequestKey`` named ``"principal"`` (plain string keys draw a warning from
aiohttp 3.13 on; with an older aiohttp it is the string ``"principal"``).
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import hmac
import html
import os
import time
from base64 import b64decode
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from tocsin.config.document import AuthConfig
from tocsin.config.secrets import SecretFileError, read_secret_file
from tocsin.core.routes import Access
from tocsin.web import json_error
from tocsin.web.dashboard import session
from tocsin.web.keys import ROUTES, RUNTIME, SESSIONS

__all__ = ["ALLOWED_ROLES", "PRINCIPAL", "Authenticator", "Principal", "auth_middleware"]

log = structlog.get_logger("tocsin.auth")

#: The roles each access level lets in (``open``: anyone, no credentials needed).
ALLOWED_ROLES: dict[Access, frozenset[str]] = {
    "open": frozenset({"ingest", "read", "admin"}),
    "ingest": frozenset({"ingest", "admin"}),
    "read": frozenset({"read", "admin"}),
    "admin": frozenset({"admin"}),
}

#: How long a successful basic-auth check is remembered (bcrypt is slow on purpose).
BASIC_CACHE_SECONDS = 60.0
#: At most this many bcrypt checks at once, so failed logins cannot take every thread.
BCRYPT_CONCURRENCY = 2
#: Checked for unknown users, so they take as long as known ones (a random password's hash).
_DUMMY_HASH = b"$2b$10$IQVOCTo0NRDhhJOf3Hxyfe5WgbN4HwsOxXgu2fsr0bqiGgy6ynwEu"
_NO_TOKEN = hashlib.sha256(b"\0no token\0").digest()  # compared when a token is unavailable
MIN_TOKEN_LENGTH = 16

#: One challenge per header: a browser reads only the first challenge of a header, so with
#: both in one (``Bearer ..., Basic ...``) Chromium never asked for a password.
_CHALLENGES = ('Bearer realm="tocsin"', 'Basic realm="tocsin"')


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made the request: a token's ``name`` or a basic-auth user, and its role."""

    name: str
    role: str
    #: ``"token"``, ``"basic"`` or ``"session"`` (the dashboard's login cookie).
    via: str


#: Where the middleware puts the :class:`Principal` of a request (or ``None``).
PRINCIPAL: Any = (web.RequestKey("principal", Principal) if hasattr(web, "RequestKey")
                  else "principal")


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


@dataclass(slots=True)
class _TokenFile:
    key: tuple[int, int, int] | None  # (mtime_ns, size, inode); None: could not stat
    digest: bytes | None


@dataclass(slots=True)
class _BasicOk:
    password: bytes  # sha256 of the password
    hashed: str  # the configured hash it was checked against
    until: float


class Authenticator:
    """Checks credentials against an :class:`AuthConfig`; keeps the caches."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._files: dict[str, _TokenFile] = {}
        self._inline: tuple[AuthConfig | None, list[bytes | None]] = (None, [])
        self._basic: dict[str, _BasicOk] = {}
        self._bcrypt_slots: asyncio.Semaphore | None = None

    # -- bearer tokens ----------------------------------------------------------------------

    def _file_digest(self, path: str) -> bytes | None:
        cached = self._files.get(path)
        try:
            st = os.stat(path)
        except OSError as exc:
            if cached is None or cached.key is not None:
                log.error("token_file cannot be read; its token is refused", path=path,
                          error=exc.strerror)
            self._files[path] = _TokenFile(None, None)
            return None
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        if cached is not None and cached.key == key:
            return cached.digest
        digest: bytes | None = None
        try:
            token = read_secret_file(path, "token_file")
        except SecretFileError as exc:
            log.error("token_file cannot be read; its token is refused", path=path, error=str(exc))
        else:
            if len(token) < MIN_TOKEN_LENGTH:
                log.error(f"token_file holds no token of at least {MIN_TOKEN_LENGTH} characters; "
                          "its token is refused", path=path)
            else:
                digest = _digest(token)
        self._files[path] = _TokenFile(key, digest)
        return digest

    def _token_digests(self, cfg: AuthConfig) -> list[bytes | None]:
        held, digests = self._inline
        if held is not cfg:  # a reload: hash the inline tokens once
            digests = [_digest(t.token) if t.token is not None else None for t in cfg.tokens]
            self._inline = (cfg, digests)
        return [d if d is not None else self._file_digest(t.token_file or "")
                for t, d in zip(cfg.tokens, digests, strict=True)]

    def bearer(self, token: str, cfg: AuthConfig, via: str = "token") -> Principal | None:
        return self.by_digest(_digest(token), cfg, via)

    def by_digest(self, presented: bytes, cfg: AuthConfig, via: str) -> Principal | None:
        """The configured token whose SHA-256 is ``presented`` (a dashboard session keeps that
        digest, never the token), as a principal; None when no token has it now."""
        found = None
        # Compared with every token, found or not, so the time taken tells nothing.
        for t, digest in zip(cfg.tokens, self._token_digests(cfg), strict=True):
            same = hmac.compare_digest(presented, digest if digest is not None else _NO_TOKEN)
            if same and digest is not None and found is None:
                found = t
        return None if found is None else Principal(found.name, found.role, via)

    # -- basic auth -------------------------------------------------------------------------

    async def basic(self, user: str, password: str, cfg: AuthConfig) -> Principal | None:
        hashed = cfg.basic_auth_users.get(user)
        presented = _digest(password)
        now = self._clock()
        cached = self._basic.get(user)
        if cached is not None and hashed is not None:
            fresh = cached.until > now and hmac.compare_digest(cached.hashed, hashed)
            if hmac.compare_digest(cached.password, presented) and fresh:
                return Principal(user, cfg.basic_auth_roles.get(user, "admin"), "basic")
        if cached is not None and (cached.until <= now or hashed != cached.hashed):
            del self._basic[user]
        ok = await self._checkpw(password, hashed)
        if not ok or hashed is None:
            return None
        self._basic[user] = _BasicOk(presented, hashed, now + BASIC_CACHE_SECONDS)
        for name in [n for n, c in self._basic.items() if c.until <= now]:
            del self._basic[name]
        return Principal(user, cfg.basic_auth_roles.get(user, "admin"), "basic")

    async def _checkpw(self, password: str, hashed: str | None) -> bool:
        import bcrypt  # here: a daemon without basic-auth users never loads it

        if self._bcrypt_slots is None:
            self._bcrypt_slots = asyncio.Semaphore(BCRYPT_CONCURRENCY)
        pw = password.encode("utf-8", "surrogatepass")
        target = hashed.encode() if hashed is not None else _DUMMY_HASH
        async with self._bcrypt_slots:
            try:
                ok = await asyncio.to_thread(bcrypt.checkpw, pw, target)
            except ValueError:  # e.g. a password over bcrypt's 72 bytes
                return False
        return ok and hashed is not None

    # -- a request --------------------------------------------------------------------------

    async def authenticate(self, header: str, cfg: AuthConfig) -> Principal | None:
        scheme, _, credentials = header.strip().partition(" ")
        scheme, credentials = scheme.lower(), credentials.strip()
        if not credentials:
            return None
        if scheme == "bearer":
            return self.bearer(credentials, cfg)
        if scheme == "basic":
            try:
                decoded = b64decode(credentials, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            user, sep, password = decoded.partition(":")
            if not sep:
                return None
            return await self.basic(user, password, cfg)
        return None


def unauthorized() -> web.Response:
    resp = json_error(401, "authentication required")
    for challenge in _CHALLENGES:
        resp.headers.add("WWW-Authenticate", challenge)
    return resp


def _page_refusal(request: web.Request, cfg: AuthConfig) -> web.Response:
    """A dashboard page asked for without credentials: to the login page when only tokens
    are configured; with basic-auth users, the 401 whose Basic challenge makes the browser
    ask for a password, its body a link to the login page (shown if the prompt is cancelled)."""
    target = f"/login?{urlencode({'next': request.path_qs})}"
    if not cfg.basic_auth_users:
        return web.Response(status=303, headers={"Location": target})
    resp = web.Response(status=401, content_type="text/html", text=(
        "<!doctype html><title>Log in</title><p>Authentication required: "
        f'<a href="{html.escape(target)}">log in with a token</a>, or give your user and password.</p>'))
    for challenge in _CHALLENGES:
        resp.headers.add("WWW-Authenticate", challenge)
    return resp


async def _session(request: web.Request, auth: Authenticator, cfg: AuthConfig) -> Principal | None:
    """The principal of the request's dashboard session cookie, for a page; else None."""
    sid = request.cookies.get(session.COOKIE)
    if not sid or not session.for_pages(request.path):
        return None
    held = request.app[SESSIONS].get(sid)
    return None if held is None else auth.by_digest(held.digest, cfg, "session")


def forbidden() -> web.Response:
    return json_error(403, "forbidden")


def _scheme(header: str) -> str:
    scheme = header.strip().partition(" ")[0].lower()
    return scheme if scheme in ("bearer", "basic") else ("none" if not scheme else "other")


def auth_middleware(
    authenticator: Authenticator | None = None,
) -> Middleware:
    """The middleware; each app gets its own (its own caches)."""
    auth = authenticator or Authenticator()

    @web.middleware
    async def check_auth(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        request[PRINCIPAL] = None
        cfg = request.app[RUNTIME].config.server.auth
        if cfg is None:
            return await handler(request)
        match = request.match_info
        resource = match.route.resource
        if match.http_exception is not None or resource is None:
            access: Access | None = None  # no such route (404/405): any valid credentials
        else:
            # A route added to the router without a declaration needs admin.
            access = request.app[ROUTES].access(request.method, resource.canonical) or "admin"
        if access == "open":
            return await handler(request)
        header = request.headers.get("Authorization", "")
        principal = await auth.authenticate(header, cfg) if header else await _session(request, auth, cfg)
        if principal is None:
            log.info("authentication failed", remote=request.remote, method=request.method,
                     path=request.path, scheme=_scheme(header))
            page = not header and access is not None and request.method in ("GET", "HEAD") \
                and session.for_pages(request.path) and request.path != "/events"
            return _page_refusal(request, cfg) if page else unauthorized()
        request[PRINCIPAL] = principal
        if access is not None and principal.role not in ALLOWED_ROLES[access]:
            log.info("forbidden", remote=request.remote, method=request.method, path=request.path,
                     principal=principal.name, role=principal.role)
            return forbidden()
        return await handler(request)

    return check_auth
