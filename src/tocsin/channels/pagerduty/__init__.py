"""The ``pagerduty`` channel: everything tocsin does with PagerDuty.

:mod:`~tocsin.channels.pagerduty.channel` sends (Events API v2, and Change
Events); :mod:`~tocsin.channels.pagerduty.callbacks` serves the route PagerDuty's
v3 webhooks call when an incident is acknowledged or resolved there. This module
is the plugin (entry point ``pagerduty``): it contributes the channel kind and the
route.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tocsin import hookimpl
from tocsin.channels import ChannelKind
from tocsin.channels.pagerduty import callbacks
from tocsin.channels.pagerduty.channel import (
    KIND,
    PagerdutyChannel,
    PagerdutyConfig,
    change_events_url,
    dedup_key,
    send_change_event,
    severity_level,
)

if TYPE_CHECKING:
    from tocsin.core.facade import Facade
    from tocsin.core.routes import HTTPRoute

__all__ = [
    "PagerdutyChannel", "PagerdutyConfig", "change_events_url", "dedup_key", "send_change_event",
    "severity_level", "tocsin_channel_kinds", "tocsin_register_routes",
]


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [KIND]


@hookimpl
def tocsin_register_routes(runtime: Facade) -> list[HTTPRoute]:
    return callbacks.routes(runtime)
