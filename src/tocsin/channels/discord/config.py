"""``discord_configs``: Alertmanager 0.25's keys (``webhook_url``, ``title``, ``message``,
``http_config``, ``send_resolved``) and tocsin's (``webhook_url_file``, ``username``,
``avatar_url``, ``mention``, ``layout``)."""

from __future__ import annotations

import re
from typing import Literal

from tocsin.channels import ChannelConfig
from tocsin.channels.http import HTTPConfig
from tocsin.config.types import URL
from tocsin.config.validate import field_error
from tocsin.notify.templates import Template

__all__ = ["MAX_MENTION", "MAX_USERNAME", "MENTION_TOKEN", "DiscordConfig"]

MAX_USERNAME = 80
#: Our own cap on ``mention``, so the subject always has room in ``content``.
MAX_MENTION = 1000

MENTION_TOKEN = re.compile(r"^(@here|@everyone|<@!?(\d{15,25})>|<@&(\d{15,25})>)$")


class DiscordConfig(ChannelConfig):
    send_resolved: bool = True
    #: ``https://discord.com/api/webhooks/<id>/<token>`` (a secret: it carries the token).
    webhook_url: URL | None = None
    #: File holding the URL, read at each send so it can be rotated.
    webhook_url_file: str | None = None
    #: ``alertmanager``: one embed, ``title`` over ``message``, as Alertmanager sends.
    #: ``detailed``: an embed per alert with its fields and links, the subject above them.
    layout: Literal["alertmanager", "detailed"] = "alertmanager"
    #: The embed's title and description (``alertmanager`` layout); default Alertmanager's
    #: ``discord.default.title`` and ``discord.default.message``.
    title: Template | None = None
    message: Template | None = None
    #: Overrides the webhook's name (1-80 characters).
    username: str | None = None
    #: Overrides the webhook's avatar.
    avatar_url: URL | None = None
    #: Put before the message when a firing alert has severity critical, and allowed to
    #: ping: ``@here``, ``@everyone``, ``<@USERID>``, ``<@&ROLEID>`` (several separated by spaces).
    mention: str | None = None
    http_config: HTTPConfig | None = None

    def __post_init__(self) -> None:
        if self.webhook_url is None and self.webhook_url_file is None:
            raise field_error("webhook_url", "no discord webhook URL provided: set webhook_url or "
                                             "webhook_url_file")
        if self.webhook_url is not None and self.webhook_url_file is not None:
            raise field_error("webhook_url_file", "set webhook_url or webhook_url_file, not both")
        if self.layout == "detailed" and (self.title is not None or self.message is not None):
            raise field_error("title" if self.title is not None else "message",
                              "the detailed layout writes its own embeds: title and message are for "
                              "layout: alertmanager")
        if self.username is not None:
            _check_username(self.username)
        if self.mention is not None:
            _check_mention(self.mention)


def _check_username(username: str) -> None:
    name = username.strip()
    if not 1 <= len(name) <= MAX_USERNAME:
        raise field_error("username", f"must be 1 to {MAX_USERNAME} characters")
    low = name.lower()
    if "discord" in low or "clyde" in low or low in ("everyone", "here"):
        raise field_error("username", "Discord refuses webhook names containing 'discord' or "
                                      "'clyde', or that are 'everyone' or 'here'")


def _check_mention(mention: str) -> None:
    tokens = mention.split()
    bad = [t for t in tokens if not MENTION_TOKEN.match(t)]
    if not tokens or bad:
        raise field_error(
            "mention",
            f"cannot mention {' '.join(bad) or 'nobody'!r}: use @here, @everyone, "
            "<@USERID> or <@&ROLEID>",
        )
    if len(" ".join(tokens)) > MAX_MENTION:
        # Half the message content; also keeps users and roles under 100 each.
        raise field_error("mention", f"at most {MAX_MENTION} characters")
