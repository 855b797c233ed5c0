"""What a client may send: how often, how much, and how big each alert may be.

* **Rate limit** (``server.rate_limit``): a token bucket per client address
  (the TCP peer; ``X-Forwarded-For`` is not trusted). Over it: 429
  ``{"error": "rate limit exceeded"}`` with ``Retry-After``. ``/-/healthy``
  and ``/-/ready`` are exempt. Memory is bounded: a bucket idle long enough
  to be full again is dropped (it means the same as no bucket), and the table
  holds at most :data:`MAX_CLIENTS` buckets (beyond that the least recently
  seen client's bucket is dropped).
* **Body size** (``server.max_body_bytes``): a declared ``Content-Length``
  over the limit is refused with 413 before anything is read; a chunked body
  is counted while it is read (aiohttp's ``client_max_size``) and refused with
  413 as soon as it passes the limit.
* **Alerts per request and per alert** (``server.limits``): checked by the
  ingest handlers with :func:`too_many` and :func:`split_by_limits`.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, TypeVar

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from tocsin.config.document import LimitsConfig
from tocsin.ingest.pipeline import AlertError
from tocsin.web import json_error
from tocsin.web.keys import MAX_REQUEST_BYTES, RUNTIME

__all__ = [
    "EXEMPT_PATHS", "MAX_CLIENTS", "TokenBuckets", "alert_problem", "limits_middleware",
    "split_by_limits", "too_many", "too_many_message",
]

log = structlog.get_logger("tocsin.limits")

#: Paths never rate limited (load balancers and systemd poll them).
EXEMPT_PATHS = frozenset({"/-/healthy", "/-/ready"})
#: Most client buckets held at once.
MAX_CLIENTS = 10_000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TokenBuckets:
    """One token bucket per key: ``burst`` tokens, refilled at ``rate`` a second.

    Buckets are kept in least-recently-used order, so the idle ones are at the
    front and eviction is cheap."""

    def __init__(self, rate: float, burst: int, *, max_clients: int = MAX_CLIENTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._clock = clock
        #: A bucket left alone this long is full: as good as none.
        self._idle = burst / rate
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def __len__(self) -> int:
        return len(self._buckets)

    def __contains__(self, key: object) -> bool:
        return key in self._buckets

    def take(self, key: str) -> float:
        """Take a token for ``key``: 0.0 if there was one, else the seconds until there is."""
        now = self._clock()
        self._evict_idle(now)
        buckets = self._buckets
        held = buckets.get(key)
        if held is None:
            if len(buckets) >= self.max_clients:
                buckets.popitem(last=False)
            tokens = float(self.burst)
        else:
            tokens, at = held
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            buckets.move_to_end(key)
        if tokens >= 1.0:
            buckets[key] = (tokens - 1.0, now)
            return 0.0
        buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _evict_idle(self, now: float) -> None:
        buckets = self._buckets
        while buckets:
            key, (_, at) = next(iter(buckets.items()))
            if now - at < self._idle:
                break
            del buckets[key]


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))


def limits_middleware() -> Middleware:
    """Rate limit (from the runtime's config at each request, so a reload applies),
    then the declared body size."""
    state: dict[str, TokenBuckets | None] = {"buckets": None}

    @web.middleware
    async def limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in EXEMPT_PATHS:
            return await handler(request)
        rl = request.app[RUNTIME].config.server.rate_limit
        if rl is not None:
            buckets = state["buckets"]
            if buckets is None or buckets.rate != rl.requests_per_second or buckets.burst != rl.burst:
                buckets = state["buckets"] = TokenBuckets(rl.requests_per_second, rl.burst)
            wait = buckets.take(request.remote or "")
            if wait > 0:
                log.debug("rate limited", remote=request.remote, method=request.method,
                          path=request.path)
                resp = json_error(429, "rate limit exceeded")
                resp.headers["Retry-After"] = retry_after(wait)
                return resp
        max_bytes = request.app.get(MAX_REQUEST_BYTES)
        length = request.content_length
        if max_bytes is not None and length is not None and length > max_bytes:
            return json_error(413, f"request body larger than the limit of {max_bytes} bytes")
        return await handler(request)

    return limit


# -- alerts per request, and per alert -----------------------------------------------------------


def too_many_message(count: int, limits: LimitsConfig, field: str = "alerts") -> str | None:
    """Why a request of ``count`` items is refused, or None when ``max_alerts_per_request``
    allows it."""
    most = limits.max_alerts_per_request
    if count <= most:
        return None
    return f"{field}: {count} in one request, more than max_alerts_per_request ({most})"


def too_many(count: int, limits: LimitsConfig, field: str = "alerts") -> web.Response | None:
    """413 when a request carries more than ``max_alerts_per_request`` items."""
    message = too_many_message(count, limits, field)
    if message is None:
        return None
    return json_error(413, message, field=field, limit=limits.max_alerts_per_request)


def _short(name: str) -> str:
    return repr(name if len(name) <= 40 else name[:40] + "...")


def alert_problem(labels: dict[str, str], annotations: dict[str, str],
                  limits: LimitsConfig) -> tuple[str, str] | None:
    """The first limit one alert breaks, as ``(field, message)``; ``None`` if it keeps them."""
    if len(labels) > limits.max_labels_per_alert:
        return "labels", f"{len(labels)} labels, more than {limits.max_labels_per_alert}"
    name_max = limits.max_label_name_length
    if labels:
        value_max = limits.max_label_value_length
        # The common case (every label fits) costs two C-level passes.
        if max(map(len, labels)) > name_max or max(map(len, labels.values())) > value_max:
            for name, value in labels.items():
                if len(name) > name_max:
                    return "labels", f"label name longer than {name_max} characters: {_short(name)}"
                if len(value) > value_max:
                    return f"labels.{name}", f"value longer than {value_max} characters"
    if annotations:
        value_max = limits.max_annotation_value_length
        if max(map(len, annotations)) > name_max or max(map(len, annotations.values())) > value_max:
            for name, value in annotations.items():
                if len(name) > name_max:
                    return ("annotations",
                            f"annotation name longer than {name_max} characters: {_short(name)}")
                if len(value) > value_max:
                    return f"annotations.{name}", f"value longer than {value_max} characters"
    return None


class _Labelled(Protocol):
    labels: dict[str, str]
    annotations: dict[str, str]


A = TypeVar("A", bound=_Labelled)


def split_by_limits(
    posted: Iterable[tuple[int, A]], limits: LimitsConfig, rename: Callable[[str], str] | None = None
) -> tuple[list[tuple[int, A]], list[AlertError]]:
    """The ``(index, alert)`` pairs within the per-alert limits, and an error for each other."""
    kept: list[tuple[int, A]] = []
    errors: list[AlertError] = []
    for index, alert in posted:
        problem = alert_problem(alert.labels, alert.annotations, limits)
        if problem is None:
            kept.append((index, alert))
        else:
            field, message = problem
            errors.append(AlertError(index, rename(field) if rename else field, message))
    return kept, errors

