"""The ``webex`` channel: a message in a Webex room, as Alertmanager 0.25 sends it.

One ``POST {api_url}`` (default the global ``webex_api_url``,
``https://webexapis.com/v1/messages``) per notification, with the JSON object
``{"markdown": <message>, "roomId": <room_id>}``; the ``message`` template defaults to
``webex.default.message`` and is cut to 7439 bytes (Webex's limit) with ``…``. The bot's
access token goes in ``Authorization: Bearer`` from the entry's own ``http_config``
(``authorization: {credentials}`` or ``bearer_token``), which, as in Alertmanager, is required.

Webex answers 200; 400 (bad room) and 401/403 (bad token, bot not in the room) are not
retried; 429 (with ``Retry-After``) and 5xx are.
"""

from __future__ import annotations

import msgspec
import structlog

from tocsin import hookimpl
from tocsin.channels import ChannelConfig, ChannelContext, ChannelKind, rendered
from tocsin.channels.amtemplates import WEBEX_MESSAGE, render, truncate_bytes, with_notice
from tocsin.channels.http import HTTPConfig, post_json
from tocsin.config.types import URL
from tocsin.config.validate import field_error
from tocsin.core.models import Notification
from tocsin.notify.templates import Template, data

__all__ = ["DEFAULT_API_URL", "MAX_MESSAGE_BYTES", "WebexChannel", "WebexConfig"]

log = structlog.get_logger("tocsin.notify.webex")

_encoder = msgspec.json.Encoder()

DEFAULT_API_URL = "https://webexapis.com/v1/messages"
#: The most a Webex message may hold, in bytes of UTF-8.
MAX_MESSAGE_BYTES = 7439


class WebexConfig(ChannelConfig):
    #: Messages API URL; default the global ``webex_api_url``.
    api_url: URL | None = None
    #: The room to post in.
    room_id: str = ""
    message: Template = Template(WEBEX_MESSAGE)
    #: Required, with ``authorization`` (or ``bearer_token[_file]``): the bot's access token.
    http_config: HTTPConfig | None = None

    def __post_init__(self) -> None:
        if not self.room_id:
            raise field_error("room_id", "missing room_id: the Webex room to post in")
        h = self.http_config
        if h is None or not (h.authorization or h.bearer_token or h.bearer_token_file):
            raise field_error("http_config", "missing http_config.authorization: Webex needs the bot's "
                                             "access token (authorization: {credentials: ...})")


class WebexChannel:
    def __init__(self, config: WebexConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx
        self.url = str(config.api_url or getattr(ctx.global_config, "webex_api_url", None) or DEFAULT_API_URL)

    def message(self, n: Notification) -> dict[str, str]:
        text = render(self.ctx, self.config.message, data(n, self.ctx.external_url), "message")
        text, cut = truncate_bytes(with_notice(n, text), MAX_MESSAGE_BYTES)
        if cut:
            log.warning("message cut to Webex's limit", receiver=self.ctx.receiver,
                        integration=self.ctx.integration, max_bytes=MAX_MESSAGE_BYTES)
        return {"markdown": text, "roomId": self.config.room_id}

    def render(self, n: Notification) -> bytes:
        return _encoder.encode(self.message(n))

    async def send(self, n: Notification) -> None:
        body = await rendered(self.render, n)
        await post_json(self.ctx.session, self.url, body, http=self.config.http_config,
                        timeout=float(self.config.timeout))


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [ChannelKind("webex", WebexConfig, WebexChannel)]
