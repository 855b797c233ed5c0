"""Running one enricher under its bounds: a timeout, errors logged and swallowed,
and the few threads that template rendering and process scans run in."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from tocsin.config.types import MatcherList
from tocsin.core.labels import fingerprint
from tocsin.core.matchers import Matcher
from tocsin.core.models import Alert

__all__ = ["executor", "flat_matchers", "guard", "who"]

log = structlog.get_logger("tocsin.enrich")

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def executor() -> concurrent.futures.ThreadPoolExecutor:
    """Threads for template rendering and process scans: few, so that runaway work
    cannot take the default executor (DNS lookups) with it."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="tocsin-enrich")
        return _pool


def who(alert: Alert) -> dict[str, str]:
    return {"alertname": alert.labels.get("alertname", ""), "fingerprint": fingerprint(alert.labels)}


async def guard(name: str, timeout: float, alert: Alert, work: Callable[[], Any]) -> None:
    """Run ``work()`` (sync, or returning an awaitable) under ``timeout``; log and swallow failure."""
    try:
        async with asyncio.timeout(timeout):
            result = work()
            if asyncio.iscoroutine(result):
                await result
    except TimeoutError as exc:
        log.warning("enricher timed out; skipped", enricher=name, timeout=timeout,
                    reason=str(exc) or "took too long", **who(alert))
    except Exception as exc:
        log.error("enricher failed; skipped", enricher=name, error=f"{type(exc).__name__}: {exc}",
                  exc_info=exc, **who(alert))


def flat_matchers(lists: Iterable[MatcherList]) -> tuple[Matcher, ...]:
    return tuple(m for ml in lists for m in ml)

