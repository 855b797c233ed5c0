"""The ``webhook`` channel: Alertmanager's webhook message, version 4."""

from __future__ import annotations

from pathlib import Path

import msgspec

from tocsin import hookimpl
from tocsin.channels import ChannelConfig, ChannelContext, ChannelKind, DeliveryError
from tocsin.channels.data import message_data
from tocsin.channels.http import HTTPConfig, post_json
from tocsin.configtypes import URL
from tocsin.models import Notification
from tocsin.validate import field_error

__all__ = ["WebhookChannel", "WebhookConfig"]

_encoder = msgspec.json.Encoder()


class WebhookConfig(ChannelConfig):
    url: URL | None = None
    #: File holding the URL (read at each send, so it can be rotated).
    url_file: str | None = None
    http_config: HTTPConfig | None = None
    #: Most alerts in one message; the rest are counted in ``truncatedAlerts``. 0: no limit.
    max_alerts: int = 0

    def __post_init__(self) -> None:
        if (self.url is None) == (self.url_file is None):
            raise field_error("url", "exactly one of url and url_file must be set")
        if self.max_alerts < 0:
            raise field_error("max_alerts", "must not be negative")


class WebhookChannel:
    def __init__(self, config: WebhookConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx
        self.http = config.http_config or getattr(ctx.global_config, "http_config", None)

    def url(self) -> str:
        if self.config.url is not None:
            return self.config.url
        assert self.config.url_file is not None
        try:
            return URL.parse(Path(self.config.url_file).read_text().strip())
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"webhook url_file: {exc}", retryable=False) from None

    def render(self, n: Notification) -> bytes:
        alerts = n.alerts
        truncated = 0
        limit = self.config.max_alerts
        if limit and len(alerts) > limit:
            alerts, truncated = alerts[:limit], len(alerts) - limit
        body = message_data(n, alerts, self.ctx.external_url)
        body["version"] = "4"
        body["groupKey"] = n.group_key
        body["truncatedAlerts"] = truncated
        return _encoder.encode(body)

    async def send(self, n: Notification) -> None:
        await post_json(
            self.ctx.session, self.url(), self.render(n),
            http=self.http, timeout=float(self.config.timeout),
        )


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [ChannelKind("webhook", WebhookConfig, WebhookChannel)]
