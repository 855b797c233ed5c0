"""A channel kind for tests: it records every notification it is asked to send, and fails
or hangs when told to, so retries, dead letters and timeouts can be tested without HTTP."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from tocsin import hookimpl
from tocsin.channels import ChannelConfig, ChannelContext, ChannelKind, DeliveryError
from tocsin.core.models import Notification
from tocsin.testing.waiting import wait_until

__all__ = ["FakeChannel", "FakeChannelConfig", "FakeSend"]

Outcome = Literal["hanging", "sent", "failed", "cut off"]


class FakeChannelConfig(ChannelConfig, kw_only=True):
    """A ``fake_configs`` entry: the fields every channel has (``send_resolved``,
    ``timeout``, ``max_concurrency``) and no more."""


@dataclass
class FakeSend:
    """One send the channel was asked for."""

    receiver: str
    #: ``fake[0]``: the kind and the entry's index in the receiver's ``fake_configs``.
    integration: str
    notification: Notification
    #: When it was asked, on the channel's clock.
    at: float
    #: ``hanging`` until released or cut off (by the delivery's timeout), then ``sent``,
    #: ``failed`` or ``cut off``.
    outcome: Outcome = "sent"


@dataclass(eq=False)
class _Trouble:
    hang: bool
    integration: str | None
    error: DeliveryError | None = None
    released: asyncio.Event = field(default_factory=asyncio.Event)


class FakeChannel:
    """A channel plugin. Register it like any plugin and give a receiver ``fake_configs``:

        fake = FakeChannel(clock)
        async with running(config, tmp_path, plugins=[fake], clock=clock) as rt:
            fake.fail_next(2)             # two retryable failures, then success
            ...
            assert [s.outcome for s in fake.sends] == ["failed", "failed", "sent"]

    ``sends`` records every send asked of it (receiver, integration, notification, time on
    ``clock``, or wall time without one), failed and hung ones included; ``delivered``
    lists the notifications that went through. ``fail_next`` and ``hang_next`` affect the
    next sends in the order they were called, of one integration if ``integration`` is
    given; a hung send waits for ``release()`` or for the delivery's ``timeout``.
    """

    def __init__(self, clock: Any = None, *, kind: str = "fake") -> None:
        self.kind = kind
        self.clock = clock
        self.sends: list[FakeSend] = []
        self._trouble: list[_Trouble] = []
        self._hung: list[_Trouble] = []

    @hookimpl
    def tocsin_channel_kinds(self) -> list[ChannelKind]:
        return [ChannelKind(self.kind, FakeChannelConfig, self._channel)]

    def _channel(self, config: FakeChannelConfig, ctx: ChannelContext) -> _Integration:
        return _Integration(self, ctx.receiver, ctx.integration)

    # -- what a test tells it --------------------------------------------------------------

    def fail_next(self, count: int = 1, *, retryable: bool = True, status: int | None = None,
                  retry_after: float | None = None, integration: str | None = None) -> None:
        """The next ``count`` sends raise :class:`~tocsin.channels.DeliveryError`."""
        for _ in range(count):
            error = DeliveryError(f"{self.kind}: failing as told", retryable=retryable, status=status,
                                  retry_after=retry_after)
            self._trouble.append(_Trouble(hang=False, integration=integration, error=error))

    def hang_next(self, count: int = 1, *, integration: str | None = None) -> None:
        """The next ``count`` sends wait until ``release()`` (then succeed) or are cut off."""
        self._trouble.extend(_Trouble(hang=True, integration=integration) for _ in range(count))

    def release(self) -> None:
        """Let every hung send succeed, and forget the hangs not yet reached."""
        for t in self._hung:
            t.released.set()
        self._hung.clear()
        self._trouble = [t for t in self._trouble if not t.hang]

    # -- what a test reads -----------------------------------------------------------------

    @property
    def delivered(self) -> list[Notification]:
        return [s.notification for s in self.sends if s.outcome == "sent"]

    @property
    def hanging(self) -> list[FakeSend]:
        return [s for s in self.sends if s.outcome == "hanging"]

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[FakeSend]:
        """Every send so far, once there are ``count``."""
        await wait_until(lambda: len(self.sends) >= count, timeout,
                         message=lambda: f"{count} sends to {self.kind} (got {len(self.sends)})")
        return list(self.sends)

    # -- the channel -----------------------------------------------------------------------

    def _now(self) -> float:
        return self.clock.now() if self.clock is not None else time.time()

    def _next_trouble(self, integration: str) -> _Trouble | None:
        for i, t in enumerate(self._trouble):
            if t.integration in (None, integration):
                return self._trouble.pop(i)
        return None

    async def _send(self, receiver: str, integration: str, n: Notification) -> None:
        record = FakeSend(receiver, integration, n, self._now())
        self.sends.append(record)
        trouble = self._next_trouble(integration)
        if trouble is None:
            return
        if trouble.error is not None:
            record.outcome = "failed"
            raise trouble.error
        record.outcome = "hanging"
        self._hung.append(trouble)
        try:
            await trouble.released.wait()
        except asyncio.CancelledError:
            record.outcome = "cut off"
            raise
        finally:
            if trouble in self._hung:
                self._hung.remove(trouble)
        record.outcome = "sent"


class _Integration:
    """One ``fake_configs`` entry of one receiver."""

    def __init__(self, fake: FakeChannel, receiver: str, integration: str) -> None:
        self.fake, self.receiver, self.integration = fake, receiver, integration

    async def send(self, notification: Notification) -> None:
        await self.fake._send(self.receiver, self.integration, notification)
