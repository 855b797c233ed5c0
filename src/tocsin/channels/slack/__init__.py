"""The ``slack`` channel: everything tocsin does with Slack.

:mod:`~tocsin.channels.slack.channel` sends (a Block Kit message, built by
:mod:`~tocsin.channels.slack.render`, to an incoming webhook, with buttons);
:mod:`~tocsin.channels.slack.callbacks` serves the route
Slack calls when an interactive button is clicked. This module is the plugin
(entry point ``slack``): it contributes the channel kind and the route.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tocsin import hookimpl
from tocsin.channels import ChannelKind
from tocsin.channels.slack import callbacks
from tocsin.channels.slack.channel import KIND, SlackChannel
from tocsin.channels.slack.config import SlackConfig
from tocsin.channels.slack.render import (
    ACK_ACTION,
    RESOLVE_ACTION,
    SILENCE_ACTION,
    cut,
    fingerprints_value,
    labels_value,
    mrkdwn,
)
from tocsin.core.severity import severity_level

if TYPE_CHECKING:
    from tocsin.core.facade import Facade
    from tocsin.core.routes import HTTPRoute

__all__ = [
    "ACK_ACTION", "RESOLVE_ACTION", "SILENCE_ACTION", "SlackChannel", "SlackConfig", "cut",
    "fingerprints_value", "labels_value", "mrkdwn", "severity_level", "tocsin_channel_kinds",
    "tocsin_register_routes",
]


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [KIND]


@hookimpl
def tocsin_register_routes(runtime: Facade) -> list[HTTPRoute]:
    return callbacks.routes(runtime)
