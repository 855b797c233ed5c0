"""Sending to Slack: a Block Kit message posted to a Slack incoming webhook.

The message has a header (``title``), a section with ``text`` (both Jinja2
templates), and an attachment carrying the colour bar: fields (severity,
service or component, instance, start, value, alert counts), buttons (runbook,
dashboard, silence, acknowledge, resolve) and a context line. A plain ``text`` is
sent too, for notifications and clients that show no blocks. Everything is cut to
Slack's limits, so an enormous annotation never makes Slack refuse the message.

``actions`` chooses what the Silence / Acknowledge buttons are:

``links`` (the default)
    URL buttons into tocsin (``server.external_url`` is needed): "Silence 1h"
    opens an Alertmanager-style new-silence form, "Acknowledge" a confirmation
    page for one alert (one button per firing alert, at most five).
``interactive``
    Slack calls tocsin back: "Silence 1h", "Acknowledge" and "Resolve" carry
    ``action_id`` ``tocsin_silence`` / ``tocsin_ack`` / ``tocsin_resolve`` and a
    ``value`` instead of a URL. The ack and resolve value is the comma-separated
    fingerprints of the message's firing alerts; the silence value is the labels
    the alerts share (else the group's labels) as compact JSON, the silence's
    equality matchers. The incoming webhook must belong to a Slack app with
    Interactivity on, its Request URL ``<external_url>/api/tocsin/v1/integrations/slack/actions``
    and its signing secret in ``integrations.slack.signing_secret[_file]``
    (see :mod:`tocsin.channels.slack.callbacks`).

Runbook and dashboard buttons are URL buttons either way. A lifecycle notice
(acknowledged, unacknowledged, escalated) has no Acknowledge button.

The webhook URL is ``api_url``, or read from ``api_url_file`` at each send,
else the global ``slack_api_url`` / ``slack_api_url_file``. A config with none
of them loads (the channel cannot see ``global`` while the config is decoded);
it is logged when the daemon starts and every send fails without retrying.
The URL embeds a token, so it never appears in errors or logs.

With ``layout: alertmanager`` (chosen by Alertmanager's attachment keys, see
:mod:`~tocsin.channels.slack.config`) the message is Alertmanager's instead: one
attachment whose title, text, colour, fields and buttons the entry's templates
render (:mod:`~tocsin.channels.slack.attachment`).

The entry's keys are in :mod:`~tocsin.channels.slack.config`; the message is
built by :mod:`~tocsin.channels.slack.render`; this module sends it.
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog

from tocsin.channels import ChannelContext, ChannelKind, DeliveryError, rendered
from tocsin.channels.http import post_json, url_from_file
from tocsin.channels.slack import attachment
from tocsin.channels.slack.config import SlackConfig, check
from tocsin.channels.slack.render import message as build_message
from tocsin.core.models import Notification

__all__ = ["KIND", "SlackChannel"]

log = structlog.get_logger("tocsin.notify.slack")

_encoder = msgspec.json.Encoder()


class SlackChannel:
    def __init__(self, config: SlackConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx
        self.http = config.http_config or getattr(ctx.global_config, "http_config", None)
        self.external_url = (ctx.external_url or "").rstrip("/")
        g = ctx.global_config
        if not (config.api_url or config.api_url_file or getattr(g, "slack_api_url", None)
                or getattr(g, "slack_api_url_file", None)):
            log.error("slack integration has no webhook URL; every notification to it will fail",
                      receiver=ctx.receiver, integration=ctx.integration,
                      fix="set api_url or api_url_file, or global slack_api_url[_file]")

    # The URL ------------------------------------------------------------------------------

    def url(self) -> str:
        c, g = self.config, self.ctx.global_config
        if c.api_url:
            return c.api_url
        if c.api_url_file:
            return url_from_file(c.api_url_file, "api_url_file")
        if getattr(g, "slack_api_url", None):
            return g.slack_api_url
        if getattr(g, "slack_api_url_file", None):
            return url_from_file(g.slack_api_url_file, "global.slack_api_url_file")
        raise DeliveryError(
            "no Slack webhook URL: set api_url or api_url_file, or global slack_api_url[_file]",
            retryable=False,
        )

    # The message --------------------------------------------------------------------------

    def message(self, n: Notification) -> dict[str, Any]:
        """The JSON object Slack gets, as a dict."""
        if self.config.layout == "alertmanager":
            return attachment.message(self.config, self.ctx, n)
        return build_message(self.config, self.ctx, n)

    def render(self, n: Notification) -> bytes:
        return _encoder.encode(self.message(n))

    async def send(self, n: Notification) -> None:
        url = self.url()
        body = await rendered(self.render, n)
        # The URL is a credential: it stays out of logs and dead letters.
        await post_json(self.ctx.session, url, body, http=self.http,
                        timeout=float(self.config.timeout), secret_url=True)


#: ``slack_configs`` in a receiver.
KIND = ChannelKind("slack", SlackConfig, SlackChannel, check=check)
