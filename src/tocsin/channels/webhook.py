"""The ``webhook`` channel: Alertmanager's webhook message, version 4.

Optionally signed (``hmac_secret``: header ``X-Tocsin-Signature: sha256=<hex
HMAC-SHA256 of the body>``, as GitHub signs its webhooks) and optionally with
a body of the receiver's own (``body_template``, Jinja2 or Go, must render JSON;
each ``{{ }}`` writes its value JSON-escaped, see :mod:`tocsin.notify.templates`).

A big group's body is rendered and signed in a worker thread
(:func:`tocsin.channels.rendered`), its alerts encoded a slice at a time.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import msgspec
import structlog

from tocsin import hookimpl
from tocsin.channels import ChannelConfig, ChannelContext, ChannelKind, rendered
from tocsin.channels.data import message_data
from tocsin.channels.http import HTTPConfig, post_json, secret_from_file, url_from_file
from tocsin.config.types import URL, Secret
from tocsin.config.validate import field_error
from tocsin.core.models import Notification
from tocsin.core.pacing import ENCODE_ITEMS, encode_list
from tocsin.notify.templates import Template, Templates, data

__all__ = ["WebhookChannel", "WebhookConfig"]

_encoder = msgspec.json.Encoder()


NOTIFICATION_ID_HEADER = "X-Tocsin-Notification-Id"


class WebhookConfig(ChannelConfig):
    url: URL | None = None
    #: File holding the URL (read at each send, so it can be rotated).
    url_file: str | None = None
    http_config: HTTPConfig | None = None
    #: Most alerts in one message; the rest are counted in ``truncatedAlerts``. 0: no limit.
    max_alerts: int = 0
    #: Shared secret for the signature header (or ``hmac_secret_file``).
    hmac_secret: Secret | None = None
    hmac_secret_file: str | None = None
    hmac_header: str = "X-Tocsin-Signature"
    #: Template (Jinja2 or Go) for a body of your own; it must render JSON. ``{{ x }}`` writes
    #: x JSON-escaped (for inside quotes), Jinja2's ``{{ x | tojson }}`` a whole JSON value.
    body_template: Template | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.url_file is None):
            raise field_error("url", "exactly one of url and url_file must be set")
        if self.max_alerts < 0:
            raise field_error("max_alerts", "must not be negative")
        if self.hmac_secret and self.hmac_secret_file:
            raise field_error("hmac_secret_file", "set hmac_secret or hmac_secret_file, not both")


class WebhookChannel:
    def __init__(self, config: WebhookConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx
        self.http = config.http_config or getattr(ctx.global_config, "http_config", None)

    def url(self) -> str:
        if self.config.url is not None:
            return self.config.url
        assert self.config.url_file is not None
        return url_from_file(self.config.url_file, "url_file")

    def render(self, n: Notification) -> bytes:
        alerts = n.alerts
        truncated = 0
        limit = self.config.max_alerts
        if limit and len(alerts) > limit:
            alerts, truncated = alerts[:limit], len(alerts) - limit
        if self.config.body_template is not None:
            custom = self._custom_body(n, alerts)
            if custom is not None:
                return custom
        body = message_data(n, alerts, self.ctx.external_url)
        body["version"] = "4"
        body["groupKey"] = n.group_key
        body["truncatedAlerts"] = truncated
        if len(alerts) > ENCODE_ITEMS:
            body["alerts"] = msgspec.Raw(encode_list(body["alerts"], _encoder))
        return _encoder.encode(body)

    def _custom_body(self, n: Notification, alerts: list) -> bytes | None:
        assert self.config.body_template is not None
        templates = self.ctx.templates or Templates()
        what = f"{self.ctx.receiver}/{self.ctx.integration}.body_template"
        text = templates.render(self.config.body_template, data(n, self.ctx.external_url, alerts),
                                json_body=True, what=what)
        try:
            json.loads(text)
        except ValueError as exc:
            structlog.get_logger("tocsin.notify.webhook").error(
                "body_template did not render JSON; sending the standard message",
                receiver=self.ctx.receiver, integration=self.ctx.integration, error=str(exc))
            return None
        return text.encode()

    def signature_headers(self, body: bytes) -> dict[str, str]:
        secret = self.config.hmac_secret
        if self.config.hmac_secret_file:
            secret = secret_from_file(self.config.hmac_secret_file, "hmac_secret_file")
        if not secret:
            return {}
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {self.config.hmac_header: f"sha256={digest}"}

    def signed(self, n: Notification) -> tuple[bytes, dict[str, str]]:
        """The body and its signature headers."""
        body = self.render(n)
        return body, self.signature_headers(body)

    async def send(self, n: Notification) -> None:
        body, headers = await rendered(self.signed, n)
        if n.id:  # the same for a resend of the same notification: receivers may drop repeats
            headers[NOTIFICATION_ID_HEADER] = n.id
        await post_json(
            self.ctx.session, self.url(), body, http=self.http,
            timeout=float(self.config.timeout), headers=headers,
            secret_url=True,  # a webhook URL often carries a token; errors show the host only
            lean=True,  # an http:// receiver: the lean client (tocsin.channels.keepalive)
        )


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [ChannelKind("webhook", WebhookConfig, WebhookChannel)]
