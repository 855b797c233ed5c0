"""The Slack message: a Block Kit header and section, and an attachment with the
colour bar, fields, buttons and a context line, each cut to Slack's limits.

:func:`message` builds it from a notification and the entry's config; the
helpers (:func:`cut`, :func:`mrkdwn`, the button values) are shared with the
callbacks, which edit messages Slack sends back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit

import msgspec
import structlog

from tocsin.channels import ChannelContext
from tocsin.channels.data import notice_line
from tocsin.channels.slack.config import DEFAULT_TEXT, DEFAULT_TITLE, SlackConfig
from tocsin.core.models import Alert, Notification
from tocsin.core.severity import highest_severity, severity_level
from tocsin.core.timefmt import format_ts
from tocsin.notify.templates import Templates, data, duration_words, fallback_text

__all__ = [
    "ACK_ACTION", "BLUE", "GREEN", "MAX_BLOCKS", "MAX_CONTEXT_TEXT", "RESOLVE_ACTION", "SILENCE_ACTION",
    "ack_url", "buttons", "cut", "fields", "fingerprints_value", "labels_value", "mention", "message",
    "mrkdwn", "silence_url",
]

log = structlog.get_logger("tocsin.notify.slack")

_encoder = msgspec.json.Encoder()

# Slack's documented limits (characters; Slack counts UTF-16 code units, and so do we).
MAX_BLOCKS = 50
MAX_HEADER_TEXT = 150
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_URL = 3000
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 3000
#: The top-level ``text`` may be 40,000 characters; it is a notification preview, so keep it short.
MAX_FALLBACK_TEXT = 3000

#: Distinct runbook / dashboard links, and acknowledge buttons, shown per message.
MAX_LINK_BUTTONS = 5
MAX_ACK_BUTTONS = 5
#: Values listed in one field before "(+N more)".
MAX_FIELD_VALUES = 5

#: The ``action_id`` of the interactive buttons, which Slack sends back to tocsin.
ACK_ACTION, RESOLVE_ACTION, SILENCE_ACTION = "tocsin_ack", "tocsin_resolve", "tocsin_silence"

RED, ORANGE, BLUE, GREEN = "#d63232", "#f2a33a", "#3a87f2", "#2eb67d"
COLORS = {"critical": RED, "error": RED, "warning": ORANGE, "info": BLUE}
NOTICE_ICONS = {"acknowledged": "✅", "unacknowledged": "↩️", "escalated": "⏫", "remediation": "🛠️"}


# -- text helpers ----------------------------------------------------------------------------


def _units(s: str) -> int:
    """Length in UTF-16 code units, as Slack counts."""
    return len(s.encode("utf-16-le")) // 2


def cut(s: str, limit: int, end: str = "…") -> str:
    """``s`` shortened to ``limit`` UTF-16 units, ending with ``end`` when shortened."""
    if len(s) <= limit // 2 or _units(s) <= limit:
        return s
    budget = limit - _units(end)
    used = 0
    out = []
    for ch in s:
        w = 2 if ord(ch) > 0xFFFF else 1
        if used + w > budget:
            break
        out.append(ch)
        used += w
    return "".join(out) + end


def mrkdwn(value: Any) -> str:
    """Escape ``&``, ``<`` and ``>`` as Slack's mrkdwn requires."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str) -> str:
    return " ".join(text.split())


def _distinct(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        if v:
            seen.setdefault(v, None)
    return list(seen)


def _field_text(name: str, values: list[str]) -> str:
    """``*Name*`` over the values (escaped), the surplus counted, within a field's limit."""
    head = f"*{name}*\n"
    more = len(values) - MAX_FIELD_VALUES
    tail = f" (+{more} more)" if more > 0 else ""
    body = ", ".join(mrkdwn(v) for v in values[:MAX_FIELD_VALUES])
    return head + cut(body, MAX_FIELD_TEXT - _units(head) - _units(tail)) + tail


def _web_url(value: str | None) -> str | None:
    """A usable button URL, or None (Slack refuses the whole message for a bad one)."""
    if not value:
        return None
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > MAX_BUTTON_URL:
        return None
    return value


def silence_url(external_url: str, labels: dict[str, str]) -> str:
    """The new-silence form of an Alertmanager-style UI, prefilled with ``labels`` as matchers."""
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    matchers = "{" + ", ".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items())) + "}"
    # Percent-encoded as the Alertmanager UI encodes it (JavaScript's encodeURIComponent).
    encoded = quote(matchers, safe="-_.!~*'()")
    return f"{external_url}/#/silences/new?filter={encoded}&duration=1h"


def ack_url(external_url: str, fingerprint: str) -> str:
    return f"{external_url}/api/tocsin/v1/alerts/{quote(fingerprint, safe='')}/ack"


def _button(text: str, url: str | None, action_id: str, style: str | None = None, *,
            value: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": cut(_plain(text), MAX_BUTTON_TEXT), "emoji": True},
    }
    if url is not None:
        b["url"] = url
    b["action_id"] = action_id
    if value is not None:
        b["value"] = value
    if style:
        b["style"] = style
    return b


def fingerprints_value(fingerprints: Iterable[str]) -> str:
    """The comma-separated fingerprints that fit in a button's value (the first ones)."""
    out: list[str] = []
    used = 0
    for fp in fingerprints:
        cost = len(fp) + (1 if out else 0)
        if used + cost > MAX_BUTTON_VALUE:
            break
        out.append(fp)
        used += cost
    return ",".join(out)


def labels_value(labels: dict[str, str]) -> str | None:
    """Labels as compact JSON (sorted), or None when empty or too long for a button's value."""
    if not labels:
        return None
    value = _encoder.encode(dict(sorted(labels.items()))).decode()
    return value if _units(value) <= MAX_BUTTON_VALUE else None


_RESOLVE_CONFIRM = {
    "title": {"type": "plain_text", "text": "Resolve these alerts?"},
    "text": {"type": "plain_text",
             "text": "They end now in tocsin, as if their source had resolved them. "
                     "Alerts that still fire come back when their source sends them again."},
    "confirm": {"type": "plain_text", "text": "Resolve"},
    "deny": {"type": "plain_text", "text": "Cancel"},
}


def _alert_name(a: Alert) -> str:
    return a.labels.get("instance") or a.labels.get("alertname") or a.fingerprint


# -- the message -----------------------------------------------------------------------------


def message(config: SlackConfig, ctx: ChannelContext, n: Notification) -> dict[str, Any]:
    """The JSON object Slack gets, as a dict."""
    external_url = (ctx.external_url or "").rstrip("/")
    templates = ctx.templates or Templates()

    def render(source: str, what: str) -> str:
        return templates.render(source, d, what=f"{ctx.receiver}/{ctx.integration}.{what}")

    d = data(n, external_url)
    d["mrkdwn"] = mrkdwn
    firing = n.firing()
    title_source = DEFAULT_TITLE if config.title is None else config.title
    title = _plain(render(title_source, "title")) or fallback_text(d)
    if n.event:
        title = f"{NOTICE_ICONS.get(n.event, '')} {notice_line(n)} · {title}".strip()
    text = render(DEFAULT_TEXT if config.text is None else config.text, "text").strip()
    who = mention(config, n)
    if who:
        text = f"{who} {text}".strip()

    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(title, MAX_HEADER_TEXT),
                                    "emoji": True}},
    ]
    if text:
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": cut(text, MAX_SECTION_TEXT)}})

    attached: list[dict[str, Any]] = []
    found = fields(n, firing)
    if found:
        attached.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": _field_text(name, values)} for name, values in found[:MAX_FIELDS]
        ]})
    shown = buttons(config, ctx, n, firing, d["commonLabels"])
    if shown:
        attached.append({"type": "actions", "elements": shown[:MAX_ACTION_ELEMENTS]})
    attached.append({"type": "context", "elements": [{
        "type": "mrkdwn",
        "text": cut(f"tocsin · receiver *{mrkdwn(n.receiver)}* · {len(firing)} firing, "
                    f"{len(n.alerts) - len(firing)} resolved", MAX_CONTEXT_TEXT),
    }][:MAX_CONTEXT_ELEMENTS]})

    msg: dict[str, Any] = {
        "text": cut(f"{who} {title}".strip(), MAX_FALLBACK_TEXT),
        "blocks": blocks[:MAX_BLOCKS],
        "attachments": [{"color": _color(n, firing), "fallback": cut(title, MAX_FALLBACK_TEXT),
                         "blocks": attached[:MAX_BLOCKS]}],
    }
    for key in ("channel", "username", "icon_emoji", "icon_url"):
        source = getattr(config, key)
        value = render(source, key).strip() if source else ""
        if value:
            msg[key] = value
    return msg


def mention(config: SlackConfig, n: Notification) -> str:
    """``mention`` in Slack's syntax, when a firing alert is critical; else ``""``."""
    if not config.mention:
        return ""
    if not any(severity_level(a.labels.get("severity")) == "critical" for a in n.firing()):
        return ""
    specials = {"@here": "<!here>", "@channel": "<!channel>", "@everyone": "<!everyone>"}
    return " ".join(specials.get(t, t) for t in config.mention.split())


def _color(n: Notification, firing: list[Alert]) -> str:
    if n.event == "acknowledged":
        return BLUE
    if firing:
        level = highest_severity(a.labels.get("severity") for a in firing)
        # Unknown or missing severity: red, as Alertmanager colours every firing message.
        return COLORS[level] if level else RED
    return GREEN


def fields(n: Notification, firing: list[Alert]) -> list[tuple[str, list[str]]]:
    """(name, values) pairs from the alerts that matter: the firing ones, else all."""
    alerts = firing or n.alerts
    out: list[tuple[str, list[str]]] = []

    def add(name: str, value: str | list[str] | None) -> None:
        if value:
            out.append((name, [value] if isinstance(value, str) else value))

    add("Severity", _distinct(a.labels.get("severity", "") for a in alerts))
    services = _distinct(a.labels.get("service", "") for a in alerts)
    if services:
        add("Service", services)
    else:
        add("Component", _distinct(a.labels.get("component", "") for a in alerts))
    add("Instance", _distinct(a.labels.get("instance", "") for a in alerts))
    starts = [a.starts_at for a in alerts if a.starts_at > 0]
    if starts:
        start = min(starts)
        when = format_ts(start)[:16].replace("T", " ")
        add("Started", f"{duration_words(n.now - start)} ago ({when} UTC)")
    add("Value", _distinct(a.annotations.get("threshold_message") or a.annotations.get("value")
                           or a.labels.get("value", "") for a in alerts))
    if not firing:
        ends = [a.ends_at for a in alerts if a.ends_at > 0]
        if starts and ends:
            add("Lasted", duration_words(max(ends) - min(starts)))
    if len(n.alerts) > 1:
        add("Alerts", f"{len(firing)} firing, {len(n.alerts) - len(firing)} resolved")
    return out


def buttons(config: SlackConfig, ctx: ChannelContext, n: Notification, firing: list[Alert],
            common: dict[str, str]) -> list[dict[str, Any]]:
    """Runbook and dashboard links, then Silence / Acknowledge / Resolve as ``actions`` says."""
    alerts = firing or n.alerts
    out: list[dict[str, Any]] = []
    for key, name in (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard")):
        links: dict[str, Alert] = {}
        for a in alerts:
            url = _web_url(a.annotations.get(key))
            if url and url not in links:
                links[url] = a
        items = list(links.items())[:MAX_LINK_BUTTONS]
        for i, (url, a) in enumerate(items):
            label = name if len(items) == 1 else f"{name}: {a.labels.get('alertname') or _alert_name(a)}"
            out.append(_button(label, url, f"{name.lower()}-{i}"))
    if firing:
        if config.actions == "interactive":
            out.extend(_interactive_buttons(ctx, n, firing, common))
        else:
            out.extend(_link_buttons(ctx, n, firing, common))
    return out[:MAX_ACTION_ELEMENTS]


def _link_buttons(ctx: ChannelContext, n: Notification, firing: list[Alert],
                  common: dict[str, str]) -> list[dict[str, Any]]:
    ext = (ctx.external_url or "").rstrip("/")
    if not _web_url(ext):
        return []
    out: list[dict[str, Any]] = []
    # The labels all the alerts share; the group's own if those make too long a URL.
    for labels in (common, n.group_labels):
        url = _web_url(silence_url(ext, labels)) if labels else None
        if url:
            out.append(_button("Silence 1h", url, "silence"))
            break
    if n.event:
        return out  # a notice about the alerts is no place to acknowledge them
    shown = firing[:MAX_ACK_BUTTONS]
    for i, a in enumerate(shown):
        label = "Acknowledge" if len(firing) == 1 else f"Ack: {_alert_name(a)}"
        url = _web_url(ack_url(ext, a.fingerprint))
        if url:
            out.append(_button(label, url, f"ack-{i}", "primary"))
    return out


def _interactive_buttons(ctx: ChannelContext, n: Notification, firing: list[Alert],
                         common: dict[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    silence = labels_value(common) or labels_value(n.group_labels)
    if silence:
        out.append(_button("Silence 1h", None, SILENCE_ACTION, value=silence))
    fps = fingerprints_value(a.fingerprint for a in firing)
    count = fps.count(",") + 1
    shown = f" all {count}" if count == len(firing) else f" {count} of {len(firing)}"
    suffix = "" if count == 1 else shown
    if count < len(firing):
        log.warning("too many firing alerts for one Slack button; it acts on the first ones",
                    receiver=n.receiver, integration=ctx.integration, alerts=len(firing),
                    acted_on=count)
    if not n.event:
        out.append(_button(f"Acknowledge{suffix}", None, ACK_ACTION, "primary", value=fps))
    resolve = _button(f"Resolve{suffix}", None, RESOLVE_ACTION, "danger", value=fps)
    resolve["confirm"] = _RESOLVE_CONFIRM
    out.append(resolve)
    return out
