"""Notification channels: the contract between a channel plugin and delivery.

A channel only renders and sends. Waiting, deduplication against the
notification log, retries and recording are shared by every channel
(:mod:`tocsin.notify.delivery`).

A channel renders with ``await rendered(self.render, n)``: on the event loop for
an ordinary notification, in a worker thread for a big group's, whose templates
could otherwise hold the daemon up for seconds (:mod:`tocsin.core.pacing`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from tocsin.config.types import ConfigBase, Duration
from tocsin.core.pacing import heavy, off_loop

if TYPE_CHECKING:
    import aiohttp

    from tocsin.core.models import Notification

__all__ = ["Channel", "ChannelConfig", "ChannelContext", "ChannelKind", "DeliveryError", "rendered"]

T = TypeVar("T")


class ChannelConfig(ConfigBase, kw_only=True):
    """Fields every ``<kind>_configs`` entry has. Channel configs subclass this."""

    send_resolved: bool = True
    #: Time allowed for one delivery attempt.
    timeout: Duration = Duration(10)
    #: Deliveries of this integration in flight at once; more wait their turn.
    max_concurrency: int = 8


class DeliveryError(Exception):
    """A failed attempt. ``retryable`` False stops retrying (e.g. HTTP 400)."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class Channel(Protocol):
    async def send(self, notification: Notification) -> None:
        """Deliver once; raise :class:`DeliveryError` on failure."""


@dataclass(frozen=True)
class ChannelContext:
    """What a channel factory gets besides its own config."""

    session: aiohttp.ClientSession
    external_url: str
    global_config: Any
    receiver: str
    integration: str
    #: The config's templates (defaults plus ``templates:`` macros); None only in bare tests.
    templates: Any = None


@dataclass(frozen=True)
class ChannelKind:
    #: ``discord`` -> ``discord_configs`` in receivers.
    name: str
    #: A :class:`ChannelConfig` subclass validating one entry.
    config: type[ChannelConfig]
    #: ``factory(config, context) -> Channel``
    factory: Callable[[Any, ChannelContext], Channel]
    #: Optional ``check(config, global_config) -> [(field, message), ...]`` for what one
    #: entry cannot know alone (a default that must come from ``global:``). Run at load.
    check: Callable[[Any, Any], list[tuple[str, str]]] | None = None


async def rendered(render: Callable[[Notification], T], n: Notification) -> T:
    """``render(n)``: at once for an ordinary notification; for a big group's (more than
    100 alerts, or 64 KB of annotations) in a worker thread, so that the event loop keeps
    answering meanwhile. ``render`` must only read ``n`` and its channel's config."""
    return await off_loop(render, n) if heavy(n.alerts) else render(n)
