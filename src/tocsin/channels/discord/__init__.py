"""The ``discord`` channel: a Discord channel webhook ("Execute Webhook").

A receiver's ``discord_configs`` entry names the webhook (``webhook_url``, or
``webhook_url_file`` read at each send so it can be rotated). Each notification is one
request, in one of two layouts:

``alertmanager`` (the default)
    What Alertmanager 0.25 sends: ``content`` empty (or the ``mention``), and one embed
    whose ``title`` is the ``title`` template (default ``discord.default.title``, the
    group's subject), ``description`` the ``message`` template (default
    ``discord.default.message``, the alert list) and ``color`` red (0x992D22) while
    anything fires, green (0x2ECC71) once resolved. Title and description are cut to
    Discord's 256 and 4096 characters, which Discord would otherwise refuse.
``detailed``
    An embed per alert with its fields and links (:mod:`~tocsin.channels.discord.detailed`).

Either way ``allowed_mentions`` lets only the configured ``mention`` ping (it is sent when
a firing alert has severity ``critical``): ``@everyone`` or ``<@id>`` inside alert text
never does, and ``username`` / ``avatar_url`` override the webhook's. The webhook URL
carries the webhook's token: it never appears in errors, logs or dead letters. Discord
answers 204; 400, 401, 403 and 404 are not retried, 429 waits for ``Retry-After``, 5xx
is retried.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tocsin import hookimpl
from tocsin.channels import ChannelContext, ChannelKind, rendered
from tocsin.channels.amtemplates import DISCORD_MESSAGE, DISCORD_TITLE, render, with_notice
from tocsin.channels.discord.config import DiscordConfig
from tocsin.channels.discord.detailed import MAX_DESCRIPTION, MAX_TITLE, cut, mentions
from tocsin.channels.discord.detailed import render as render_detailed
from tocsin.channels.http import post_json, url_from_file
from tocsin.core.models import Notification
from tocsin.notify.templates import data

__all__ = ["FIRING_COLOR", "RESOLVED_COLOR", "DiscordChannel", "DiscordConfig", "tocsin_channel_kinds"]

_encoder = msgspec.json.Encoder()

#: Alertmanager's colours.
FIRING_COLOR, RESOLVED_COLOR = 0x992D22, 0x2ECC71


class DiscordChannel:
    def __init__(self, config: DiscordConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx
        self.http = config.http_config or getattr(ctx.global_config, "http_config", None)

    def url(self) -> str:
        if self.config.webhook_url is not None:
            return self.config.webhook_url
        path = self.config.webhook_url_file
        assert path is not None
        return url_from_file(path, "webhook_url_file")

    def message(self, n: Notification) -> dict[str, Any]:
        """The Execute Webhook JSON body, as a dict."""
        if self.config.layout == "detailed":
            return render_detailed(self.config, n)
        c = self.config
        d = data(n, self.ctx.external_url)
        title = with_notice(n, render(self.ctx, c.title or DISCORD_TITLE, d, "title"), " · ")
        description = render(self.ctx, c.message or DISCORD_MESSAGE, d, "message")
        mention, allowed = mentions(c, n)
        embed = {"title": cut(title, MAX_TITLE), "description": cut(description, MAX_DESCRIPTION),
                 "color": FIRING_COLOR if n.firing() else RESOLVED_COLOR}
        body: dict[str, Any] = {"content": mention, "embeds": [embed], "allowed_mentions": allowed}
        if c.username:
            body["username"] = c.username.strip()
        if c.avatar_url:
            body["avatar_url"] = str(c.avatar_url)
        return body

    def render(self, n: Notification) -> bytes:
        return _encoder.encode(self.message(n))

    async def send(self, n: Notification) -> None:
        url = self.url()
        body = await rendered(self.render, n)
        # The URL is a credential: it stays out of logs and dead letters.
        await post_json(self.ctx.session, url, body, http=self.http,
                        timeout=float(self.config.timeout), secret_url=True)


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [ChannelKind("discord", DiscordConfig, DiscordChannel)]
