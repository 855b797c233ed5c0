"""The ``pushover`` channel: Pushover's Message API, with Alertmanager 0.25's parameters.

``POST https://api.pushover.net/1/messages.json``, form-encoded: ``token``,
``user``, ``title`` (cut to 250 characters), ``message`` (cut to 1024, then
trimmed; ``(no details)`` when empty), ``url`` (cut to 512), ``url_title``,
``priority``, ``retry`` and ``expire`` (seconds), ``sound``, ``html=1`` with
``html: true`` (the message then renders HTML-escaped), and ``ttl`` when set.
The default priority is 2 (emergency: repeated every ``retry`` until acknowledged
on the phone, for at most ``expire``) while alerts fire and 0 once resolved;
Pushover refuses an emergency message with ``retry`` under 30 seconds or
``expire`` over 3 hours, so those are brought within its limits.

Alertmanager puts the parameters in the URL's query string; tocsin sends them as
the form body Pushover documents, so the token stays out of proxies' and
servers' request logs.

tocsin's lifecycle notices are messages of their own, the notice before the
title; only an escalation keeps the entry's priority, the others are sent at 0
so that an acknowledgement does not page anyone.

Like Alertmanager, a 5xx answer is retried, a 4xx is not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import structlog

from tocsin import hookimpl
from tocsin.channels import ChannelConfig, ChannelContext, ChannelKind, DeliveryError, rendered
from tocsin.channels.amtemplates import default, truncate_runes
from tocsin.channels.data import notice_line
from tocsin.channels.http import HTTPConfig, secret_from_file, send
from tocsin.config.types import URL, Duration, Secret
from tocsin.config.validate import field_error
from tocsin.core.models import Notification
from tocsin.notify.templates import Template, Templates, data

__all__ = ["PushoverChannel", "PushoverConfig"]

log = structlog.get_logger("tocsin.notify.pushover")

DEFAULT_API_URL = "https://api.pushover.net/1/messages.json"
#: Pushover's limits (characters), as Alertmanager applies them.
MAX_TITLE, MAX_MESSAGE, MAX_URL = 250, 1024, 512
#: Pushover's bounds for an emergency (priority 2) message's retry and expire (seconds).
MIN_RETRY, MAX_EXPIRE = 30, 10800

#: Emergency while firing, normal once resolved (Alertmanager's default).
DEFAULT_PRIORITY = '{{ if eq .Status "firing" }}2{{ else }}0{{ end }}'


class PushoverConfig(ChannelConfig):
    #: The recipient's user (or group) key, and the application's API token.
    user_key: Secret | None = None
    user_key_file: str | None = None
    token: Secret | None = None
    token_file: str | None = None
    title: Template = Template(default("pushover.default.title"))
    message: Template = Template(default("pushover.default.message"))
    url: Template = Template(default("pushover.default.url"))
    url_title: Template | None = None
    sound: Template | None = None
    #: -2 to 2; 2 (emergency) needs ``retry`` and ``expire``.
    priority: Template = Template(DEFAULT_PRIORITY)
    retry: Duration = Duration(60)
    expire: Duration = Duration(3600)
    html: bool = False
    #: How long Pushover keeps the message on the device (0: until deleted). Alertmanager 0.26's key.
    ttl: Duration = Duration(0)
    #: The Message API's URL (tocsin's key: for a proxy, or a test server).
    api_url: URL = URL(DEFAULT_API_URL)
    http_config: HTTPConfig | None = None

    def __post_init__(self) -> None:
        for name in ("user_key", "token"):
            value, path = getattr(self, name), getattr(self, f"{name}_file")
            if value and path:
                raise field_error(f"{name}_file", f"set {name} or {name}_file, not both")
            if not value and not path:
                raise field_error(name, f"missing {name.replace('_', ' ')}: set {name} or {name}_file")


class PushoverChannel:
    def __init__(self, config: PushoverConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx
        self.http = config.http_config or getattr(ctx.global_config, "http_config", None)
        self.external_url = (ctx.external_url or "").rstrip("/")

    def _secret(self, name: str) -> str:
        path = getattr(self.config, f"{name}_file")
        value = secret_from_file(path, f"{name}_file") if path else getattr(self.config, name)
        value = str(value or "").strip()
        if not value:
            raise DeliveryError(f"Pushover {name.replace('_', ' ')} is empty", retryable=False)
        return value

    def _render(self, source: str | None, d: Mapping[str, Any], what: str, *, html: bool = False) -> str:
        if not source:
            return ""
        templates = self.ctx.templates or Templates()
        what = f"{self.ctx.receiver}/{self.ctx.integration}.{what}"
        return templates.render(source, d, html=html, what=what)

    def _cut(self, n: Notification, text: str, limit: int, what: str) -> str:
        text, cut = truncate_runes(text, limit)
        if cut:
            log.warning(f"{what} truncated", receiver=n.receiver, integration=self.ctx.integration,
                        group_key=n.group_key, limit=limit)
        return text

    def parameters(self, n: Notification, token: str, user: str) -> list[tuple[str, str]]:
        """The message's parameters: Alertmanager's, all of them even when empty."""
        c = self.config
        d = data(n, self.external_url)
        title = self._render(c.title, d, "title")
        priority = self._render(c.priority, d, "priority").strip()
        if n.event:
            title = f"{notice_line(n)} · {title}"
            if n.event != "escalated":
                priority = "0"
        params = [("token", token), ("user", user), ("title", self._cut(n, title, MAX_TITLE, "title"))]
        if c.html:
            params.append(("html", "1"))
        message = self._cut(n, self._render(c.message, d, "message", html=c.html), MAX_MESSAGE, "message")
        retry, expire = int(c.retry), int(c.expire)
        if priority == "2":
            retry, expire = max(retry, MIN_RETRY), min(expire, MAX_EXPIRE)
        params += [
            ("message", message.strip() or "(no details)"),
            ("url", self._cut(n, self._render(c.url, d, "url"), MAX_URL, "url")),
            ("url_title", self._render(c.url_title, d, "url_title")),
            ("priority", priority),
            ("retry", str(retry)),
            ("expire", str(expire)),
            ("sound", self._render(c.sound, d, "sound")),
        ]
        if c.ttl > 0:
            params.append(("ttl", str(int(c.ttl))))
        return params

    def render(self, n: Notification) -> str:
        """What would be sent (for ``notify test --dry-run``); reads no secret file."""
        params = dict(self.parameters(n, "<secret>", "<secret>"))
        return f"POST {self.config.api_url}\n{json.dumps(params, indent=1, ensure_ascii=False)}"

    async def send(self, n: Notification) -> None:
        token, user = self._secret("token"), self._secret("user_key")
        body = await rendered(lambda m: urlencode(self.parameters(m, token, user)).encode(), n)
        await send(self.ctx.session, "POST", self.config.api_url, body, http=self.http,
                   timeout=float(self.config.timeout), content_type="application/x-www-form-urlencoded",
                   retry_statuses=())


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [ChannelKind("pushover", PushoverConfig, PushoverChannel)]
