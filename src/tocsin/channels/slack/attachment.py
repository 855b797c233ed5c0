"""Alertmanager's Slack message (``layout: alertmanager``): one legacy attachment with
the title, text, fields and buttons the entry's templates render, key for key what
Alertmanager 0.25 posts.

An unset key renders Alertmanager's default (``{{ template "slack.default.title" . }}``,
``color`` danger while firing and good once resolved...). tocsin adds its lifecycle
notices (acknowledged, escalated...) before the title, and ``mention`` before the
text when a firing alert is critical.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from tocsin.channels import ChannelContext
from tocsin.channels.amtemplates import default, truncate_runes, with_notice
from tocsin.channels.slack.config import SlackAction, SlackConfig
from tocsin.channels.slack.render import mention
from tocsin.core.models import Notification
from tocsin.notify.templates import Templates, data

__all__ = ["DEFAULTS", "MAX_TITLE_RUNES", "message"]

log = structlog.get_logger("tocsin.notify.slack")

#: Alertmanager cuts the title to this many characters.
MAX_TITLE_RUNES = 1024

#: Alertmanager's defaults of the attachment's templated keys.
DEFAULTS = {
    "color": '{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}',
    "username": default("slack.default.username"),
    "title": default("slack.default.title"),
    "title_link": default("slack.default.titlelink"),
    "icon_emoji": default("slack.default.iconemoji"),
    "icon_url": default("slack.default.iconurl"),
    "pretext": default("slack.default.pretext"),
    "text": default("slack.default.text"),
    "fallback": default("slack.default.fallback"),
    "callback_id": default("slack.default.callbackid"),
    "footer": default("slack.default.footer"),
}

Render = Callable[[str, str], str]


def _source(config: SlackConfig, key: str) -> str:
    value = getattr(config, key)
    return str(DEFAULTS.get(key, "") if value is None else value)


def _fields(config: SlackConfig, render: Render) -> list[dict[str, Any]]:
    out = []
    for i, field in enumerate(config.fields):
        short = config.short_fields if field.short is None else field.short
        out.append({"title": render(field.title, f"fields[{i}].title"),
                    "value": render(field.value, f"fields[{i}].value"), "short": short})
    return out


def _action(action: SlackAction, render: Render, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("type", "text", "url", "style", "name", "value"):
        value = render(getattr(action, key), f"{where}.{key}")
        if value:
            out[key] = value
    if action.confirm is not None:
        confirm = {}
        for key in ("text", "title", "ok_text", "dismiss_text"):
            value = render(getattr(action.confirm, key), f"{where}.confirm.{key}")
            if value:
                confirm[key] = value
        out["confirm"] = confirm
    return out


def _attachment(config: SlackConfig, n: Notification, render: Render) -> dict[str, Any]:
    title, cut = truncate_runes(with_notice(n, render(_source(config, "title"), "title"), " · "),
                                MAX_TITLE_RUNES)
    if cut:
        log.warning("Truncated title", receiver=n.receiver, group_key=n.group_key, max_runes=MAX_TITLE_RUNES)
    text = render(_source(config, "text"), "text")
    who = mention(config, n)
    if who:
        text = f"{who} {text}".strip()
    values = {key: render(_source(config, key), key)
              for key in ("title_link", "pretext", "fallback", "callback_id", "image_url", "thumb_url",
                          "footer", "color")}
    actions = config.actions if isinstance(config.actions, list) else []
    att: dict[str, Any] = {
        "title": title, "title_link": values["title_link"], "pretext": values["pretext"], "text": text,
        "fallback": values["fallback"], "callback_id": values["callback_id"],
        "fields": _fields(config, render),
        "actions": [_action(a, render, f"actions[{i}]") for i, a in enumerate(actions)],
        "image_url": values["image_url"], "thumb_url": values["thumb_url"], "footer": values["footer"],
        "color": values["color"], "mrkdwn_in": list(config.mrkdwn_in) or ["fallback", "pretext", "text"],
    }
    # Go's omitempty: these are left out when empty; text, fallback, callback_id, footer never.
    always = ("text", "fallback", "callback_id", "footer")
    return {k: v for k, v in att.items() if v or k in always}


def message(config: SlackConfig, ctx: ChannelContext, n: Notification) -> dict[str, Any]:
    """The JSON object Alertmanager would post, as a dict."""
    templates = ctx.templates or Templates()
    d = data(n, (ctx.external_url or "").rstrip("/"))

    def render(source: str, what: str) -> str:
        return templates.render(source, d, what=f"{ctx.receiver}/{ctx.integration}.{what}") if source else ""

    req: dict[str, Any] = {}
    for key in ("channel", "username", "icon_emoji", "icon_url"):
        value = render(_source(config, key), key)
        if value:
            req[key] = value
    if config.link_names:
        req["link_names"] = True
    req["attachments"] = [_attachment(config, n, render)]
    return req
