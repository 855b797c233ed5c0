"""Sending to Slack: a Block Kit message posted to a Slack incoming webhook.

The message has a header (``title``), a section with ``text`` (both Jinja2
templates), and an attachment carrying the colour bar: fields (severity,
service or component, instance, start, value, alert counts), buttons (runbook,
dashboard, silence, acknowledge, resolve) and a context line. A plain ``text`` is
sent too, for notifications and clients that show no blocks. Everything is cut to
Slack's limits, so an enormous annotation never makes Slack refuse the message.

``actions`` chooses what the Silence / Acknowledge buttons are:

``links`` (the default)
    URL buttons into tocsin (``server.external_url`` is needed): "Silence 1h"
    opens an Alertmanager-style new-silence form, "Acknowledge" a confirmation
    page for one alert (one button per firing alert, at most five).
``interactive``
    Slack calls tocsin back: "Silence 1h", "Acknowledge" and "Resolve" carry
    ``action_id`` ``tocsin_silence`` / ``tocsin_ack`` / ``tocsin_resolve`` and a
    ``value`` instead of a URL. The ack and resolve value is the comma-separated
    fingerprints of the message's firing alerts; the silence value is the labels
    the alerts share (else the group's labels) as compact JSON, the silence's
    equality matchers. The incoming webhook must belong to a Slack app with
    Interactivity on, its Request URL ``<external_url>/api/tocsin/v1/integrations/slack/actions``
    and its signing secret in ``integrations.slack.signing_secret[_file]``
    (see :mod:`tocsin.channels.slack.callbacks`).

Runbook and dashboard buttons are URL buttons either way. A lifecycle notice
(acknowledged, unacknowledged, escalated) has no Acknowledge button.

The webhook URL is ``api_url``, or read from ``api_url_file`` at each send,
else the global ``slack_api_url`` / ``slack_api_url_file``. A config with none
of them loads (the channel cannot see ``global`` while the config is decoded);
it is logged when the daemon starts and every send fails without retrying.
The URL embeds a token, so it never appears in errors or logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import msgspec
import structlog

from tocsin.channels import ChannelConfig, ChannelContext, ChannelKind, DeliveryError
from tocsin.channels.data import SEVERITY_RANK, notice_line, severity_level
from tocsin.channels.http import HTTPConfig, post_json
from tocsin.config.types import URL
from tocsin.config.validate import field_error
from tocsin.core.models import Alert, Notification
from tocsin.core.timefmt import format_ts
from tocsin.notify.templates import Template, Templates, data, duration_words, fallback_text

__all__ = [
    "ACK_ACTION", "BLUE", "GREEN", "KIND", "MAX_BLOCKS", "MAX_CONTEXT_TEXT", "RESOLVE_ACTION",
    "SILENCE_ACTION", "SlackChannel", "SlackConfig", "cut", "fingerprints_value", "labels_value", "mrkdwn",
    "severity_level",
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


#: Alertmanager's ``__subject``: ``[FIRING:2] <group label values> (<other common label values>)``.
DEFAULT_TITLE = (
    '[{{ status|upper }}{% if status == "firing" %}:{{ firing|length }}{% endif %}] '
    '{{ groupLabels|dictsort|map("last")|join(" ") }}'
    '{% set extra = commonLabels|dictsort|rejectattr("0", "in", groupLabels)|map("last")|list %}'
    '{% if extra %} ({{ extra|join(" ") }}){% endif %}'
)

#: One line per alert (at most 20), its summary, and the description and the
#: recommended actions (the ``recommendations`` annotation, one per line) when there is one alert.
DEFAULT_TEXT = """\
{% for a in alerts[:20] %}
{{ ":red_circle:" if a.status == "firing" else ":large_green_circle:" }} \
*{{ mrkdwn(a.labels.alertname or "alert") }}*\
{% if a.labels.instance %} `{{ mrkdwn(a.labels.instance) }}`{% endif %}\
{% set s = a.annotations.summary or a.annotations.message or a.annotations.description %}\
{% if s %}: {{ mrkdwn(s) }}{% endif %}

{% if alerts|length == 1 and a.annotations.description and a.annotations.description != s %}
>{{ mrkdwn(a.annotations.description)|replace("\\n", "\\n>") }}
{% endif %}
{% if alerts|length == 1 and a.annotations.recommendations %}
*Recommended actions*
{% for line in a.annotations.recommendations.split("\\n") if line.strip() %}
• {{ mrkdwn(line.strip()) }}
{% endfor %}
{% endif %}
{% endfor %}
{% if alerts|length > 20 %}_and {{ alerts|length - 20 }} more_{% endif %}"""

_MENTION_TOKEN = re.compile(r"^(@here|@channel|@everyone|<[@!#][^<>\s]+>)$")
_EMOJI = re.compile(r"^:[^:\s]+:$")



class SlackConfig(ChannelConfig):
    #: Like Alertmanager, Slack gets no resolved notices unless asked.
    send_resolved: bool = False
    #: Incoming-webhook URL (a secret: it carries the token).
    api_url: URL | None = None
    #: File holding the URL, read at each send so it can be rotated.
    api_url_file: str | None = None
    #: Overrides of the webhook's defaults (honoured by legacy webhooks only).
    channel: str | None = None
    username: str | None = None
    icon_emoji: str | None = None
    icon_url: URL | None = None
    title: Template = Template(DEFAULT_TITLE)
    text: Template = Template(DEFAULT_TEXT)
    #: Prepended when a firing alert has severity critical: ``@here``, ``@channel``,
    #: ``<!subteam^ID>``, ``<@USERID>`` (several separated by spaces).
    mention: str | None = None
    #: ``links``: Silence / Acknowledge are URL buttons into tocsin. ``interactive``:
    #: Silence / Acknowledge / Resolve call tocsin back through the Slack app.
    actions: Literal["links", "interactive"] = "links"
    http_config: HTTPConfig | None = None

    def __post_init__(self) -> None:
        if self.api_url is not None and self.api_url_file is not None:
            raise field_error("api_url_file", "set api_url or api_url_file, not both")
        if self.icon_emoji is not None and not _EMOJI.match(self.icon_emoji):
            raise field_error("icon_emoji", "expected an emoji code such as :rotating_light:")
        if self.mention is not None:
            tokens = self.mention.split()
            bad = [t for t in tokens if not _MENTION_TOKEN.match(t)]
            if not tokens or bad:
                raise field_error(
                    "mention",
                    f"cannot mention {' '.join(bad) or 'nobody'!r}: use @here, @channel, @everyone, "
                    "<@USERID> or <!subteam^GROUPID>",
                )


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


# -- the channel -----------------------------------------------------------------------------


class SlackChannel:
    def __init__(self, config: SlackConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx
        self.http = config.http_config or getattr(ctx.global_config, "http_config", None)
        self.external_url = (ctx.external_url or "").rstrip("/")
        g = ctx.global_config
        if not (config.api_url or config.api_url_file or getattr(g, "slack_api_url", None)
                or getattr(g, "slack_api_url_file", None)):
            log.error("slack integration has no webhook URL; every notification to it will fail",
                      receiver=ctx.receiver, integration=ctx.integration,
                      fix="set api_url or api_url_file, or global slack_api_url[_file]")

    # The URL ------------------------------------------------------------------------------

    def url(self) -> str:
        c, g = self.config, self.ctx.global_config
        if c.api_url:
            return c.api_url
        if c.api_url_file:
            return self._read_url(c.api_url_file, "api_url_file")
        if getattr(g, "slack_api_url", None):
            return g.slack_api_url
        if getattr(g, "slack_api_url_file", None):
            return self._read_url(g.slack_api_url_file, "global.slack_api_url_file")
        raise DeliveryError(
            "no Slack webhook URL: set api_url or api_url_file, or global slack_api_url[_file]",
            retryable=False,
        )

    @staticmethod
    def _read_url(path: str, key: str) -> str:
        try:
            text = Path(path).read_text().strip()
        except OSError as exc:
            raise DeliveryError(f"slack {key} {path}: {exc.strerror}", retryable=False) from None
        try:
            return URL.parse(text)
        except ValueError:
            raise DeliveryError(f"slack {key} {path}: not an http(s) URL", retryable=False) from None

    # The message --------------------------------------------------------------------------

    def _render(self, source: str, ctx: dict[str, Any], what: str) -> str:
        templates = self.ctx.templates or Templates()
        return templates.render(source, ctx, what=f"{self.ctx.receiver}/{self.ctx.integration}.{what}")

    def mention_for(self, n: Notification) -> str:
        if not self.config.mention:
            return ""
        if not any(severity_level(a.labels.get("severity")) == "critical" for a in n.firing()):
            return ""
        specials = {"@here": "<!here>", "@channel": "<!channel>", "@everyone": "<!everyone>"}
        return " ".join(specials.get(t, t) for t in self.config.mention.split())

    def message(self, n: Notification) -> dict[str, Any]:
        """The JSON object Slack gets, as a dict."""
        d = data(n, self.external_url)
        d["mrkdwn"] = mrkdwn
        firing = n.firing()
        title = _plain(self._render(self.config.title, d, "title")) or fallback_text(d)
        if n.event:
            title = f"{NOTICE_ICONS.get(n.event, '')} {notice_line(n)} · {title}".strip()
        text = self._render(self.config.text, d, "text").strip()
        mention = self.mention_for(n)
        if mention:
            text = f"{mention} {text}".strip()

        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": cut(title, MAX_HEADER_TEXT),
                                        "emoji": True}},
        ]
        if text:
            blocks.append({"type": "section",
                           "text": {"type": "mrkdwn", "text": cut(text, MAX_SECTION_TEXT)}})

        attached: list[dict[str, Any]] = []
        fields = self.fields(n, firing)
        if fields:
            attached.append({"type": "section", "fields": [
                {"type": "mrkdwn", "text": _field_text(name, values)} for name, values in fields[:MAX_FIELDS]
            ]})
        buttons = self.buttons(n, firing, d["commonLabels"])
        if buttons:
            attached.append({"type": "actions", "elements": buttons[:MAX_ACTION_ELEMENTS]})
        attached.append({"type": "context", "elements": [{
            "type": "mrkdwn",
            "text": cut(f"tocsin · receiver *{mrkdwn(n.receiver)}* · {len(firing)} firing, "
                        f"{len(n.alerts) - len(firing)} resolved", MAX_CONTEXT_TEXT),
        }][:MAX_CONTEXT_ELEMENTS]})

        if n.event == "acknowledged":
            color = BLUE
        elif firing:
            levels = [severity_level(a.labels.get("severity")) for a in firing]
            known = [lv for lv in levels if lv is not None]
            # Unknown or missing severity: red, as Alertmanager colours every firing message.
            color = COLORS[max(known, key=SEVERITY_RANK.__getitem__)] if known else RED
        else:
            color = GREEN

        msg: dict[str, Any] = {
            "text": cut(f"{mention} {title}".strip(), MAX_FALLBACK_TEXT),
            "blocks": blocks[:MAX_BLOCKS],
            "attachments": [{"color": color, "fallback": cut(title, MAX_FALLBACK_TEXT),
                             "blocks": attached[:MAX_BLOCKS]}],
        }
        c = self.config
        for key, value in (("channel", c.channel), ("username", c.username),
                           ("icon_emoji", c.icon_emoji), ("icon_url", c.icon_url)):
            if value:
                msg[key] = str(value)
        return msg

    def fields(self, n: Notification, firing: list[Alert]) -> list[tuple[str, list[str]]]:
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

    def buttons(self, n: Notification, firing: list[Alert], common: dict[str, str]) -> list[dict[str, Any]]:
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
            if self.config.actions == "interactive":
                out.extend(self._interactive_buttons(n, firing, common))
            else:
                out.extend(self._link_buttons(n, firing, common))
        return out[:MAX_ACTION_ELEMENTS]

    def _link_buttons(self, n: Notification, firing: list[Alert],
                      common: dict[str, str]) -> list[dict[str, Any]]:
        ext = self.external_url
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

    def _interactive_buttons(self, n: Notification, firing: list[Alert],
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
                        receiver=n.receiver, integration=self.ctx.integration, alerts=len(firing),
                        acted_on=count)
        if not n.event:
            out.append(_button(f"Acknowledge{suffix}", None, ACK_ACTION, "primary", value=fps))
        resolve = _button(f"Resolve{suffix}", None, RESOLVE_ACTION, "danger", value=fps)
        resolve["confirm"] = _RESOLVE_CONFIRM
        out.append(resolve)
        return out

    def render(self, n: Notification) -> bytes:
        return _encoder.encode(self.message(n))

    async def send(self, n: Notification) -> None:
        url = self.url()
        body = self.render(n)
        # The URL is a credential: it stays out of logs and dead letters.
        await post_json(self.ctx.session, url, body, http=self.http,
                        timeout=float(self.config.timeout), secret_url=True)


def _alert_name(a: Alert) -> str:
    return a.labels.get("instance") or a.labels.get("alertname") or a.fingerprint


def _check(config: SlackConfig, global_config: object) -> list[tuple[str, str]]:
    if config.api_url or config.api_url_file or getattr(global_config, "slack_api_url", None) \
            or getattr(global_config, "slack_api_url_file", None):
        return []
    return [("api_url", "no Slack webhook URL: set api_url or api_url_file here, "
                        "or global.slack_api_url[_file]")]


#: ``slack_configs`` in a receiver.
KIND = ChannelKind("slack", SlackConfig, SlackChannel, check=_check)
