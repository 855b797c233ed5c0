"""The ``msteams`` channel for tocsin: an Adaptive Card posted to a Teams Workflows webhook.

Microsoft retired Office 365 connectors ("Incoming Webhook"); a Teams channel
now takes webhook messages through a Power Automate *Workflows* flow (the
template "Post to a channel when a webhook request is received"). Such a flow
takes a message activity carrying Adaptive Card attachments::

    {"type": "message",
     "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                      "contentUrl": null,
                      "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                                  "type": "AdaptiveCard", "version": "1.4",
                                  "body": [...], "actions": [...]}}]}

The card's body is built from ``TextBlock`` and ``FactSet`` elements only: the
title (the ``title`` template, Alertmanager's subject by default) coloured by
status and severity, a line of counts, then per alert (firing ones first) its
name and status, its summary / description, and a fact set (severity, start,
end, the other labels and annotations). ``actions`` are ``Action.OpenUrl``
buttons for the alerts' ``runbook_url`` and ``dashboard_url`` annotations and
their ``generatorURL``.

Teams refuses messages over 28 KB: long texts are cut, and alerts that do not
fit are counted in a last line instead of shown. The webhook URL carries the
flow's signature (``sig=``): it never appears in errors, logs or dead letters.

Everything the plugin registers lives in this module: ``tocsin plugins list``
names a plugin's channels by the module of their factory.
"""

from __future__ import annotations

from typing import Any

import msgspec
from tocsin import hookimpl
from tocsin.channels import ChannelConfig, ChannelContext, ChannelKind, rendered
from tocsin.channels.data import link_url, notice_line
from tocsin.channels.http import HTTPConfig, post_json, url_from_file
from tocsin.config.types import URL
from tocsin.config.validate import field_error
from tocsin.core.models import Alert, Notification
from tocsin.core.severity import highest_severity
from tocsin.core.timefmt import format_ts
from tocsin.notify.templates import Template, Templates, data, duration_words, fallback_text

__version__ = "0.1.0"

__all__ = ["MSTeamsChannel", "MSTeamsConfig", "__version__", "cut", "render_card"]

_encoder = msgspec.json.Encoder()

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

#: Teams refuses a message over 28 KB; stay under it with the whole JSON body.
MAX_BYTES = 28_000
#: Kept free in the size budget for the line counting the alerts not shown.
_MORE_RESERVE = 1_000
#: Alerts shown at most, whatever their size; the others are counted.
MAX_ALERTS = 20
#: ``Action.OpenUrl`` buttons at most (Teams shows no more than 6 actions).
MAX_ACTIONS = 6
MAX_TITLE = 300
MAX_URL = 2048
#: Facts per alert at most; the last says how many were left out.
MAX_FACTS = 30

#: (text, fact value) lengths tried in turn until an alert fits.
_TEXT_LIMITS = ((2000, 500), (500, 120), (100, 40))

#: Adaptive Card TextBlock colours.
ATTENTION, WARNING, ACCENT, GOOD = "Attention", "Warning", "Accent", "Good"
_COLORS = {"critical": ATTENTION, "error": ATTENTION, "warning": WARNING, "info": ACCENT}

_SPECIAL_ANNOTATIONS = frozenset({"summary", "message", "description", "runbook_url", "dashboard_url"})
_SPECIAL_LABELS = frozenset({"alertname", "instance", "severity"})

#: Alertmanager's ``__subject``: ``[FIRING:2] <group label values> (<other common label values>)``.
DEFAULT_TITLE = (
    '[{{ status|upper }}{% if status == "firing" %}:{{ firing|length }}{% endif %}] '
    '{{ groupLabels|dictsort|map("last")|join(" ") }}'
    '{% set extra = commonLabels|dictsort|rejectattr("0", "in", groupLabels)|map("last")|list %}'
    '{% if extra %} ({{ extra|join(" ") }}){% endif %}'
)



class MSTeamsConfig(ChannelConfig):
    send_resolved: bool = True
    #: The Workflows flow's HTTP trigger URL (a secret: it carries the flow's signature).
    webhook_url: URL | None = None
    #: File holding the URL, read at each send so it can be rotated.
    webhook_url_file: str | None = None
    #: Jinja2 template for the card's heading (the data of tocsin's templates).
    title: Template = Template(DEFAULT_TITLE)
    http_config: HTTPConfig | None = None

    def __post_init__(self) -> None:
        if self.webhook_url is None and self.webhook_url_file is None:
            raise field_error("webhook_url", "set webhook_url or webhook_url_file")
        if self.webhook_url is not None and self.webhook_url_file is not None:
            raise field_error("webhook_url_file", "set webhook_url or webhook_url_file, not both")


# -- helpers ----------------------------------------------------------------------------------


def cut(s: str, limit: int, end: str = "…") -> str:
    """``s`` shortened to ``limit`` characters, ending with ``end`` when shortened."""
    if len(s) <= limit:
        return s
    if limit <= len(end):
        return end[:max(0, limit)]
    return s[: limit - len(end)].rstrip() + end


def _one_line(s: str) -> str:
    return " ".join(s.split())




def _size(obj: Any) -> int:
    return len(_encoder.encode(obj))


def _when(ts: float, now: float) -> str:
    return f"{format_ts(ts)[:16].replace('T', ' ')} UTC ({duration_words(now - ts)} ago)"


def _color(alerts: list[Alert], now: float) -> str:
    firing = [a for a in alerts if not a.resolved(now)]
    if not firing:
        return GOOD
    level = highest_severity(a.labels.get("severity") for a in firing)
    # Unknown or missing severity: attention, as Alertmanager colours every firing message red.
    return _COLORS[level] if level else ATTENTION


def _text_block(text: str, **props: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **props}


# -- the card ---------------------------------------------------------------------------------


def alert_blocks(a: Alert, now: float, text_limit: int, fact_limit: int) -> list[dict[str, Any]]:
    """One alert: a heading, its summary and description, and a fact set."""
    firing = not a.resolved(now)
    name = _one_line(a.labels.get("alertname") or "alert")
    head = f"{'🔥 FIRING' if firing else '✅ RESOLVED'} · {name}"
    if a.labels.get("instance"):
        head += f" · {_one_line(a.labels['instance'])}"
    blocks = [_text_block(cut(head, min(MAX_TITLE, text_limit)), weight="Bolder",
                          color=_color([a], now), separator=True, spacing="Medium")]

    ann = a.annotations
    summary = _one_line(ann.get("summary") or ann.get("message") or "")
    description = (ann.get("description") or "").strip()
    if summary:
        blocks.append(_text_block(cut(summary, text_limit), spacing="Small"))
    if description and description != summary:
        blocks.append(_text_block(cut(description, text_limit), spacing="Small", isSubtle=True))

    facts: list[tuple[str, str]] = []
    if a.labels.get("severity"):
        facts.append(("Severity", a.labels["severity"]))
    if a.starts_at > 0:
        facts.append(("Started", _when(a.starts_at, now)))
    if not firing and a.ends_at > 0:
        facts.append(("Resolved", _when(a.ends_at, now)))
        if a.starts_at > 0:
            facts.append(("Lasted", duration_words(a.ends_at - a.starts_at)))
    facts += sorted((k, _one_line(v)) for k, v in a.labels.items() if k not in _SPECIAL_LABELS)
    facts += sorted((k, v.strip()) for k, v in ann.items() if k not in _SPECIAL_ANNOTATIONS and v.strip())
    if len(facts) > MAX_FACTS:
        hidden = len(facts) - (MAX_FACTS - 1)
        facts = [*facts[:MAX_FACTS - 1], ("…", f"{hidden} more not shown")]
    if facts:
        blocks.append({"type": "FactSet", "facts": [
            {"title": cut(_one_line(k), 100) or "-", "value": cut(v, fact_limit) or "-"} for k, v in facts]})
    return blocks


def actions(alerts: list[Alert]) -> list[dict[str, Any]]:
    """``Action.OpenUrl`` for each distinct runbook, dashboard and source link."""
    found: dict[str, tuple[str, Alert]] = {}
    for key, label in (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard"), ("", "Source")):
        for a in alerts:
            url = link_url(a.annotations.get(key) if key else a.generator_url, MAX_URL)
            if url and url not in found:
                found[url] = (label, a)
    counts: dict[str, int] = {}
    for label, _ in found.values():
        counts[label] = counts.get(label, 0) + 1
    out = []
    for url, (label, a) in list(found.items())[:MAX_ACTIONS]:
        title = label
        if counts[label] > 1:  # several of a kind: say whose
            who = a.labels.get("alertname") or "alert"
            if a.labels.get("instance"):
                who += f" {a.labels['instance']}"
            title = f"{label}: {_one_line(who)}"
        out.append({"type": "Action.OpenUrl", "title": cut(title, 60), "url": url})
    return out


def envelope(card: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "attachments": [
        {"contentType": CONTENT_TYPE, "contentUrl": None, "content": card}]}


def render_card(n: Notification, title: str, receiver: str, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """The whole message (envelope and card) for a notification, within ``max_bytes``."""
    firing, resolved = n.firing(), n.resolved()
    alerts = firing + resolved
    title = cut(_one_line(title), MAX_TITLE) or "Alerts"  # Teams shows an empty TextBlock as nothing
    counts = ", ".join(p for p in (f"{len(firing)} firing" if firing else "",
                                   f"{len(resolved)} resolved" if resolved else "") if p)
    body: list[dict[str, Any]] = [
        _text_block(title, size="Large", weight="Bolder", color=_color(alerts, n.now)),
        _text_block(cut(f"{counts} · receiver {_one_line(receiver)}", MAX_TITLE), isSubtle=True,
                    spacing="None"),
    ]
    card: dict[str, Any] = {
        "$schema": SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": title,
        "msteams": {"width": "Full"},
        "body": body,
        "actions": actions(alerts),
    }
    message = envelope(card)
    budget = max_bytes - _size(message) - _MORE_RESERVE
    per_alert: list[list[dict[str, Any]]] = []
    for a in alerts[:MAX_ALERTS]:
        for text_limit, fact_limit in _TEXT_LIMITS:
            blocks = alert_blocks(a, n.now, text_limit, fact_limit)
            size = _size(blocks) - 2 + len(blocks)  # without the brackets, with commas
            # Long texts are cut harder only to fit a first alert; later ones just end the list.
            if size <= budget or per_alert:
                break
        if size > budget:
            break
        per_alert.append(blocks)
        budget -= size
    while True:
        card["body"] = body + [b for blocks in per_alert for b in blocks]
        if len(per_alert) < len(alerts):
            card["body"].append(_more_block(alerts[len(per_alert):], n.now))
        if _size(message) <= max_bytes or not per_alert:
            return message
        per_alert.pop()  # the reserve was not enough (text heavy with escapes): show one less


def _more_block(rest: list[Alert], now: float) -> dict[str, Any]:
    """A line counting the alerts not shown, by name."""
    more_firing = sum(1 for a in rest if not a.resolved(now))
    parts = [f"{more_firing} firing" if more_firing else "",
             f"{len(rest) - more_firing} resolved" if len(rest) > more_firing else ""]
    names: dict[str, int] = {}
    for a in rest:
        key = cut(_one_line(a.labels.get("alertname") or "alert"), 60)
        names[key] = names.get(key, 0) + 1
    listed = ", ".join(f"{k} ({v})" if v > 1 else k for k, v in names.items())
    text = (f"…and {len(rest)} more alert{'s' if len(rest) != 1 else ''} "
            f"({', '.join(p for p in parts if p)}): {listed}")
    return _text_block(cut(text, 200), isSubtle=True, separator=True, spacing="Medium")


# -- the channel ------------------------------------------------------------------------------


class MSTeamsChannel:
    def __init__(self, config: MSTeamsConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx
        self.http = config.http_config or getattr(ctx.global_config, "http_config", None)
        self.external_url = (ctx.external_url or "").rstrip("/")

    def url(self) -> str:
        if self.config.webhook_url is not None:
            return self.config.webhook_url
        path = self.config.webhook_url_file
        assert path is not None
        return url_from_file(path, "webhook_url_file")

    def title(self, n: Notification) -> str:
        d = data(n, self.external_url)
        templates = self.ctx.templates or Templates()
        text = templates.render(self.config.title, d,
                                what=f"{self.ctx.receiver}/{self.ctx.integration}.title")
        text = _one_line(text) or fallback_text(d)
        notice = notice_line(n)  # an acknowledgement or escalation says so first
        return f"{_one_line(notice)} · {text}" if notice and notice not in text else text

    def message(self, n: Notification) -> dict[str, Any]:
        return render_card(n, self.title(n), n.receiver)

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
    return [ChannelKind("msteams", MSTeamsConfig, MSTeamsChannel)]
