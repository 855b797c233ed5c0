"""Delivery: per receiver, each integration independently checks the
notification log, sends with retries, and records what it sent.

The stages every channel shares live here, so a channel only renders and
sends. Integrations of one receiver run concurrently and keep separate log
entries: one failing integration never makes another send twice
(prometheus/alertmanager#1494).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import msgspec
import structlog

from tocsin.channels import Channel, ChannelContext, DeliveryError
from tocsin.events import NotificationFailed, NotificationSent
from tocsin.models import Notification
from tocsin.nflog import needs_update

if TYPE_CHECKING:
    import aiohttp

    from tocsin.config import Config, IntegrationSpec
    from tocsin.runtime import Runtime

__all__ = ["Delivery", "Integration", "backoff"]

log = structlog.get_logger("tocsin.delivery")

#: Attempts of one integration in flight at once; more wait their turn.
CONCURRENCY = 8


def backoff(attempt: int, *, base: float = 0.5, factor: float = 1.5, cap: float = 60.0) -> float:
    """Delay before retry ``attempt`` (1-based): exponential, capped, with ±50% jitter."""
    delay = min(cap, base * factor ** (attempt - 1))
    return delay * random.uniform(0.5, 1.5)


class Integration:
    __slots__ = ("channel", "kind", "name", "receiver", "semaphore", "send_resolved", "timeout")

    def __init__(self, receiver: str, spec: IntegrationSpec, channel: Channel) -> None:
        self.receiver = receiver
        self.kind = spec.kind
        self.name = spec.name
        self.channel = channel
        self.send_resolved = bool(spec.config.send_resolved)
        self.timeout = float(spec.config.timeout)
        self.semaphore = asyncio.Semaphore(CONCURRENCY)


class Delivery:
    def __init__(
        self,
        runtime: Runtime,
        receivers: Mapping[str, list[Integration]],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rt = runtime
        self.receivers = receivers
        self.sleep = sleep

    @classmethod
    def build(cls, runtime: Runtime, config: Config, session: aiohttp.ClientSession) -> Delivery:
        external = config.server.external_url or f"http://{config.server.listen}"
        receivers: dict[str, list[Integration]] = {}
        for name, spec in config.receivers.items():
            integrations = []
            for ispec in spec.integrations:
                kind = config.kinds[ispec.kind]
                ctx = ChannelContext(
                    session=session, external_url=external, global_config=config.global_,
                    receiver=name, integration=ispec.name, templates=config.templates,
                )
                integrations.append(Integration(name, ispec, kind.factory(ispec.config, ctx)))
            receivers[name] = integrations
        return cls(runtime, receivers)

    async def deliver(self, n: Notification) -> bool:
        integrations = self.receivers.get(n.receiver)
        if not integrations:
            return True  # a receiver with no integrations swallows notifications, as in Alertmanager
        if len(integrations) == 1:
            return await self._one(integrations[0], n)
        results = await asyncio.gather(*(self._one(i, n) for i in integrations))
        return all(results)

    async def _one(self, integ: Integration, n: Notification) -> bool:
        rt = self.rt
        now = n.now
        firing_alerts = n.firing()
        firing = frozenset(a.fingerprint for a in firing_alerts)
        resolved = frozenset(a.fingerprint for a in n.alerts if a.resolved(now))
        entry = rt.nflog.get(n.group_key, n.receiver, integ.name)
        if not needs_update(
            entry, firing, resolved,
            send_resolved=integ.send_resolved, repeat_interval=n.repeat_interval, now=now,
        ):
            return True

        bound = structlog.get_logger("tocsin.delivery").bind(
            receiver=n.receiver, integration=integ.name, group_key=n.group_key
        )
        if not integ.send_resolved:
            if not firing_alerts:
                # Nothing to send, but the log must learn that the group resolved.
                await rt.nflog.record(n.group_key, n.receiver, integ.name, firing, resolved, now)
                return True
            n = msgspec.structs.replace(n, alerts=firing_alerts)

        started = rt.clock.monotonic()
        deadline = started + max(n.group_interval, integ.timeout)
        attempt = 0
        while True:
            attempt += 1
            try:
                async with integ.semaphore:
                    async with asyncio.timeout(integ.timeout):
                        await integ.channel.send(n)
                break
            except TimeoutError:
                err = DeliveryError(f"no answer within {integ.timeout:g}s")
            except DeliveryError as exc:
                err = exc
            except Exception as exc:  # a plugin bug must not kill the flush
                bound.exception("channel raised")
                err = DeliveryError(f"{type(exc).__name__}: {exc}", retryable=False)
            delay = err.retry_after if err.retry_after is not None else backoff(attempt)
            if not err.retryable or rt.clock.monotonic() + delay >= deadline:
                bound.warning("notification failed", attempts=attempt, error=str(err),
                              status=err.status, retryable=err.retryable)
                await rt.bus.publish(NotificationFailed(
                    at=rt.clock.now(), group_key=n.group_key, receiver=n.receiver,
                    integration=integ.name, alerts=len(n.alerts), attempts=attempt, error=str(err),
                ))
                return False
            bound.info("notification attempt failed; retrying", attempt=attempt,
                       error=str(err), retry_in=round(delay, 3))
            await self.sleep(delay)

        latency = rt.clock.monotonic() - started
        await rt.nflog.record(n.group_key, n.receiver, integ.name, firing, resolved, now)
        # One line per notification (not per alert), written once the log entry is durable.
        bound.info("notification sent", alerts=len(n.alerts), attempts=attempt,
                   latency_ms=round(latency * 1000, 1))
        await rt.bus.publish(NotificationSent(
            at=rt.clock.now(), group_key=n.group_key, receiver=n.receiver,
            integration=integ.name, alerts=len(n.alerts), attempts=attempt, latency=latency,
        ))
        return True
