"""The ``telegram`` channel: a message from a Telegram bot, as Alertmanager 0.25 sends it.

One Bot API ``sendMessage`` call per notification: ``POST {api_url}/bot{bot_token}/sendMessage``
with a JSON object whose values are all strings, as Alertmanager's client (telebot)
writes them: ``chat_id``, ``text`` (the ``message`` template, default
``telegram.default.message``, cut to Telegram's 4096 characters with ``…``),
``parse_mode`` (``HTML`` by default; the template's values are then HTML-escaped),
``disable_web_page_preview: "true"`` and, when asked, ``disable_notification: "true"``
and ``message_thread_id`` (a forum topic).

The bot token is in the URL: errors show the host only. ``api_url`` defaults to the
global ``telegram_api_url`` (``https://api.telegram.org``). Telegram answers 200; a 400
(bad chat, bad markup) or 401/403 (bad token, bot not in the chat) is not retried; 429
and 5xx are.
"""

from __future__ import annotations

from html import escape as html_escape
from typing import Literal

import msgspec
import structlog

from tocsin import hookimpl
from tocsin.channels import ChannelConfig, ChannelContext, ChannelKind, DeliveryError, rendered
from tocsin.channels.amtemplates import TELEGRAM_MESSAGE, render, truncate_runes
from tocsin.channels.data import notice_line
from tocsin.channels.http import HTTPConfig, post_json, secret_from_file
from tocsin.config.types import URL, Secret
from tocsin.config.validate import field_error
from tocsin.core.models import Notification
from tocsin.notify.templates import Template, data

__all__ = ["DEFAULT_API_URL", "MAX_MESSAGE", "TelegramChannel", "TelegramConfig"]

log = structlog.get_logger("tocsin.notify.telegram")

_encoder = msgspec.json.Encoder()

DEFAULT_API_URL = "https://api.telegram.org"
#: Telegram's limit on a message's text, in characters (Alertmanager counts code points).
MAX_MESSAGE = 4096


class TelegramConfig(ChannelConfig):
    #: Bot API base URL; default the global ``telegram_api_url``.
    api_url: URL | None = None
    #: The bot's token from @BotFather (or a file holding it, read at each send).
    bot_token: Secret | None = None
    bot_token_file: str | None = None
    #: The chat, group or channel to write to (negative for groups and channels).
    chat_id: int = 0
    #: A forum topic of the chat (Telegram's ``message_thread_id``).
    message_thread_id: int | None = None
    message: Template = Template(TELEGRAM_MESSAGE)
    disable_notifications: bool = False
    #: ``""`` sends plain text.
    parse_mode: Literal["HTML", "Markdown", "MarkdownV2", ""] = "HTML"
    http_config: HTTPConfig | None = None

    def __post_init__(self) -> None:
        if self.bot_token and self.bot_token_file:
            raise field_error("bot_token_file", "set bot_token or bot_token_file, not both")
        if not self.bot_token and not self.bot_token_file:
            raise field_error("bot_token", "missing bot token: set bot_token or bot_token_file")
        if self.chat_id == 0:
            raise field_error("chat_id", "missing chat_id: the chat the bot writes to")


class TelegramChannel:
    def __init__(self, config: TelegramConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx
        self.http = config.http_config or getattr(ctx.global_config, "http_config", None)
        self.api_url = str(config.api_url or getattr(ctx.global_config, "telegram_api_url", None)
                           or DEFAULT_API_URL).rstrip("/")

    def token(self) -> str:
        c = self.config
        raw = secret_from_file(c.bot_token_file, "bot_token_file") if c.bot_token_file else c.bot_token
        token = (raw or "").strip()
        if not token:
            raise DeliveryError("telegram bot token is empty", retryable=False)
        return token

    def url(self) -> str:
        return f"{self.api_url}/bot{self.token()}/sendMessage"

    def text(self, n: Notification) -> str:
        html = self.config.parse_mode == "HTML"
        text = render(self.ctx, self.config.message, data(n, self.ctx.external_url), "message", html=html)
        notice = notice_line(n)
        if notice:  # what happened to the alerts comes first
            text = f"{html_escape(notice, quote=False) if html else notice}\n{text}"
        text, cut = truncate_runes(text, MAX_MESSAGE)
        if cut:
            log.warning("message cut to Telegram's limit", receiver=self.ctx.receiver,
                        integration=self.ctx.integration, max_characters=MAX_MESSAGE)
        return text

    def message(self, n: Notification) -> dict[str, str]:
        """The ``sendMessage`` parameters, strings all, as Alertmanager sends them."""
        c = self.config
        params = {"chat_id": str(c.chat_id), "text": self.text(n), "disable_web_page_preview": "true"}
        if c.parse_mode:
            params["parse_mode"] = c.parse_mode
        if c.disable_notifications:
            params["disable_notification"] = "true"
        if c.message_thread_id is not None:
            params["message_thread_id"] = str(c.message_thread_id)
        return dict(sorted(params.items()))

    def render(self, n: Notification) -> bytes:
        return _encoder.encode(self.message(n))

    async def send(self, n: Notification) -> None:
        body = await rendered(self.render, n)
        # The token is part of the URL: errors show the host only.
        await post_json(self.ctx.session, self.url(), body, http=self.http,
                        timeout=float(self.config.timeout), secret_url=True)


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [ChannelKind("telegram", TelegramConfig, TelegramChannel)]
