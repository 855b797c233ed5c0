"""What the channels' inbound callbacks share: where they are served, what they use of
the daemon, their secrets, and acting on alerts for whoever clicked a button or
acknowledged a page.

A channel whose service calls tocsin back (Slack's buttons, PagerDuty's webhooks)
declares its route from ``tocsin_register_routes`` (:mod:`tocsin.core.routes`) and checks
the caller's signature in its handler. Besides the facade every hook gets (config,
clock, ``runtime[SILENCES]``), a handler uses :class:`Inbound`, which the runtime
shares as ``runtime[INBOUND]`` once it has started. The secrets are read at each
request, so a rotated secret file takes effect without a reload, and compared in
constant time. A signed request may be captured and sent again: a handler claims its
identity in ``Inbound.handled`` before acting, and a request claimed before changes nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from tocsin.core.facade import Key
from tocsin.incidents.plan import ACKNOWLEDGED, FIRING, RESOLVED, IncidentConflict, IncidentNotFound
from tocsin.store import StorageError

if TYPE_CHECKING:
    import asyncio

    import aiohttp

    from tocsin.channels.handled import HandledCallbacks
    from tocsin.dispatch.dispatcher import Dispatcher
    from tocsin.incidents.lifecycle import Lifecycle

__all__ = [
    "INBOUND", "PREFIX", "Inbound", "SecretUnavailable", "Tally", "change_all", "read_secrets", "same_secret",
]

log = structlog.get_logger("tocsin.integrations")

#: Where the channels' callbacks are served.
PREFIX = "/api/tocsin/v1/integrations"


@dataclass(frozen=True, slots=True)
class Inbound:
    """What a channel's callbacks use of the daemon besides the facade."""

    #: Acknowledge, unacknowledge and resolve alerts, as whoever clicked.
    lifecycle: Lifecycle
    #: The aggregation groups (a PagerDuty incident is a group, by its dedup key).
    dispatcher: Dispatcher
    #: The daemon's HTTP client session, for what a callback sends after it has answered.
    session: aiohttp.ClientSession
    #: ``spawn(coro, name)`` runs ``coro`` in the background; the daemon waits for it (or
    #: cancels it) when it stops.
    spawn: Callable[[Coroutine[Any, Any, Any], str], asyncio.Task[Any] | None]
    #: The callbacks handled already (:mod:`tocsin.channels.handled`): a callback claims its
    #: identity there before it acts, and changes nothing when it was claimed before.
    handled: HandledCallbacks


#: :class:`Inbound`, as the runtime shares it with the channels' callbacks once started.
INBOUND: Key[Inbound] = Key("inbound")


# -- secrets -----------------------------------------------------------------------------------


class SecretUnavailable(Exception):
    """A configured secret file could not be read (logged where raised)."""


def read_secrets(values: Iterable[str | None], path: str | None, what: str) -> list[str]:
    """The configured secrets and those of the file ``path`` (one a line, read now)."""
    out = [v.strip() for v in values if v and v.strip()]
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            log.error(f"{what} file cannot be read; refusing callbacks", path=path, error=exc.strerror)
            raise SecretUnavailable(what) from None
        except UnicodeDecodeError:
            log.error(f"{what} file is not UTF-8 text; refusing callbacks", path=path)
            raise SecretUnavailable(what) from None
        found = [line.strip() for line in text.splitlines() if line.strip()]
        if not found:
            log.error(f"{what} file is empty; refusing callbacks", path=path)
            raise SecretUnavailable(what)
        out.extend(found)
    return out


def same_secret(a: str, b: str) -> bool:
    """Whether two signatures are equal, in time that does not depend on where they differ."""
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))


# -- acting on alerts ----------------------------------------------------------------------------


@dataclass
class Tally:
    """What acting on a list of alerts did."""

    changed: int = 0
    #: Already in the wanted state (acknowledging twice is a no-op).
    unchanged: int = 0
    #: Resolved already (or no longer held), so the change does not apply.
    resolved: int = 0
    missing: int = 0
    failed: int = 0

    @property
    def done(self) -> int:
        return self.changed + self.unchanged


#: action -> (lifecycle method name, the state that means "already done").
_CHANGES = {"ack": ("acknowledge", ACKNOWLEDGED), "unack": ("unacknowledge", FIRING),
            "resolve": ("resolve", RESOLVED)}


async def change_all(lifecycle: Lifecycle, action: str, refs: Iterable[str], *, by: str,
                     source: str) -> Tally:
    """``ack``, ``unack`` or ``resolve`` each alert (by id or fingerprint) as ``by``, with
    ``source`` naming the channel in the history; count what happened."""
    name, done_state = _CHANGES[action]
    method: Callable[..., Awaitable[Any]] = getattr(lifecycle, name)
    tally = Tally()
    with lifecycle.batched():
        for ref in refs:
            current = lifecycle.get(ref)
            if current is not None and current.state == done_state and action != "resolve":
                tally.unchanged += 1
                continue
            try:
                await method(ref, by=by, source=source)
            except IncidentNotFound:
                tally.missing += 1
            except IncidentConflict:
                tally.resolved += 1
            except StorageError as exc:
                log.error("alert change not stored", action=action, ref=ref, error=str(exc))
                tally.failed += 1
            else:
                tally.changed += 1
    return tally
