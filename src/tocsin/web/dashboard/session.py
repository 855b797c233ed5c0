"""Dashboard sessions: a bearer token exchanged once, on ``/login``, for a cookie.

A browser cannot send a bearer token by itself, so the login page takes one and answers
a random session id in the ``tocsin_session`` cookie (``HttpOnly``, ``SameSite=Strict``,
``Secure`` under TLS). The server keeps, per session, the SHA-256 of the token, never
the token; at each request the auth middleware checks that digest against the tokens
configured *now*, so a token removed by a reload, or rotated in its ``token_file``, ends
its sessions at once, and the role is the token's current one. A session lasts
:data:`TTL` seconds from login and lives in this process's memory: a restart logs
everyone out.

The cookie authenticates the dashboard's pages only (:func:`for_pages`): the API
(``/api/...``), the operational endpoints (``/-/...``) and ``/metrics`` ask for a token
or basic auth as before, so no cookie a browser sends by itself can act on them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["COOKIE", "MAX_SESSIONS", "TTL", "Session", "Sessions", "for_pages"]

COOKIE = "tocsin_session"
#: How long a session lasts after its login.
TTL = 12 * 3600.0
#: Sessions kept at most; past it the oldest is forgotten.
MAX_SESSIONS = 10_000


def for_pages(path: str) -> bool:
    """Whether a session cookie may authenticate a request for ``path``."""
    return not path.startswith(("/api/", "/-/")) and path != "/metrics"


@dataclass(frozen=True, slots=True)
class Session:
    #: SHA-256 of the token it was opened with.
    digest: bytes
    until: float


class Sessions:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._by_id: dict[str, Session] = {}

    def open(self, digest: bytes) -> str:
        now = self._clock()
        for sid in [s for s, v in self._by_id.items() if v.until <= now]:
            del self._by_id[sid]
        while len(self._by_id) >= MAX_SESSIONS:
            del self._by_id[next(iter(self._by_id))]
        sid = secrets.token_urlsafe(32)
        self._by_id[sid] = Session(digest, now + TTL)
        return sid

    def get(self, sid: str) -> Session | None:
        found = self._by_id.get(sid)
        if found is not None and found.until <= self._clock():
            del self._by_id[sid]
            return None
        return found

    def close(self, sid: str) -> None:
        self._by_id.pop(sid, None)

    def __len__(self) -> int:
        return len(self._by_id)
