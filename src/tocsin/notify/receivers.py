"""Receivers and their integrations: what the config names, and what delivery sends through.

A receiver is a name and a list of integrations, one per entry of its
``<kind>_configs`` lists. :func:`build` makes each entry's channel with the
factory of its kind, once per config load.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tocsin.channels import Channel, ChannelContext, ChannelKind

if TYPE_CHECKING:
    import aiohttp

    from tocsin.notify.templates import Templates

__all__ = ["CONCURRENCY", "Integration", "IntegrationSpec", "ReceiverSpec", "build"]

#: Default for channel configs without ``max_concurrency``.
CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class IntegrationSpec:
    """One entry of a receiver's ``<kind>_configs`` list."""

    kind: str
    index: int
    config: Any

    @property
    def name(self) -> str:
        return f"{self.kind}[{self.index}]"


@dataclass(frozen=True, slots=True)
class ReceiverSpec:
    name: str
    integrations: tuple[IntegrationSpec, ...]


class Integration:
    __slots__ = ("channel", "kind", "name", "receiver", "semaphore", "send_resolved", "timeout")

    def __init__(self, receiver: str, spec: IntegrationSpec, channel: Channel) -> None:
        self.receiver = receiver
        self.kind = spec.kind
        self.name = spec.name
        self.channel = channel
        self.send_resolved = bool(spec.config.send_resolved)
        self.timeout = float(spec.config.timeout)
        self.semaphore = asyncio.Semaphore(int(getattr(spec.config, "max_concurrency", CONCURRENCY)))


def build(
    receivers: Mapping[str, ReceiverSpec], kinds: Mapping[str, ChannelKind], *,
    session: aiohttp.ClientSession, external_url: str, global_config: Any, templates: Templates,
) -> dict[str, list[Integration]]:
    """Every receiver's integrations, each with its channel made by its kind's factory."""
    out: dict[str, list[Integration]] = {}
    for name, spec in receivers.items():
        integrations = []
        for ispec in spec.integrations:
            ctx = ChannelContext(
                session=session, external_url=external_url, global_config=global_config,
                receiver=name, integration=ispec.name, templates=templates,
            )
            integrations.append(Integration(name, ispec, kinds[ispec.kind].factory(ispec.config, ctx)))
        out[name] = integrations
    return out
