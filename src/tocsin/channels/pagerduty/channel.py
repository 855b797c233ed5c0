"""Sending to PagerDuty: the Events API v2, as Alertmanager sends it.

One PagerDuty alert per aggregation group: ``dedup_key`` is the SHA-256 (hex)
of the group key, so every flush of a group updates the same alert, a
``trigger`` while any alert fires and a ``resolve`` once all have resolved.
``payload.summary`` is the ``description`` template cut to 1024 characters;
``custom_details`` holds Alertmanager's ``firing``, ``resolved``,
``num_firing`` and ``num_resolved`` plus the receiver's own ``details``.

PagerDuty answers 202; a 400 (invalid event) is not retried, 429 and 5xx are.

With a ``service_key`` (or ``service_key_file``) instead, the event goes to the Events
API v1 (``events_v1_url``), as Alertmanager sends it: ``incident_key`` the same hash,
``event_type`` trigger, acknowledge or resolve, ``description``, ``client``,
``client_url`` and ``details``.

:func:`send_change_event` posts to the Change Events endpoint (``/v2/change/enqueue``
next to the alert events URL), for announcements such as remediations.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import msgspec
import structlog

from tocsin.channels import ChannelConfig, ChannelContext, ChannelKind, DeliveryError, rendered
from tocsin.channels.data import notice_line
from tocsin.channels.http import HTTPConfig, post_json, secret_from_file
from tocsin.config.types import URL, ConfigBase, Secret
from tocsin.config.validate import field_error
from tocsin.core.models import Alert, Notification
from tocsin.core.severity import severity_level as label_severity
from tocsin.core.timefmt import format_ts
from tocsin.notify.templates import Template, Templates, data, fallback_text

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "KIND", "PagerdutyChannel", "PagerdutyConfig", "change_events_url", "dedup_key", "send_change_event",
    "severity_level",
]

log = structlog.get_logger("tocsin.notify.pagerduty")

_encoder = msgspec.json.Encoder()

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
#: Where Alertmanager sends the events of a ``service_key`` (Events API v1).
DEFAULT_V1_URL = "https://events.pagerduty.com/generic/2010-04-15/create_event.json"
#: PagerDuty's limits: summary length (characters) and event size (bytes).
MAX_SUMMARY = 1024
MAX_EVENT_BYTES = 512_000

#: PagerDuty's own vocabulary (Events API v2), which a rendered ``severity`` must be in.
SEVERITIES = ("critical", "error", "warning", "info")

#: Alertmanager's ``__subject``.
DEFAULT_DESCRIPTION = (
    '[{{ status|upper }}{% if status == "firing" %}:{{ firing|length }}{% endif %}] '
    '{{ groupLabels|dictsort|map("last")|join(" ") }}'
    '{% set extra = commonLabels|dictsort|rejectattr("0", "in", groupLabels)|map("last")|list %}'
    '{% if extra %} ({{ extra|join(" ") }}){% endif %}'
)
#: Alertmanager's ``__alertmanagerURL``.
DEFAULT_CLIENT_URL = "{{ externalURL }}/#/alerts?receiver={{ receiver|urlencode }}"

#: Alertmanager's ``__text_alert_list``.
_ALERT_LIST = """\
{% for a in alerts %}
Labels:
{% for k, v in a.labels|dictsort %}
 - {{ k }} = {{ v }}
{% endfor %}
Annotations:
{% for k, v in a.annotations|dictsort %}
 - {{ k }} = {{ v }}
{% endfor %}
Source: {{ a.generatorURL }}
{% endfor %}"""

#: Alertmanager's default ``details``; a receiver's own ``details`` are added to (or replace) these.
DEFAULT_DETAILS = {
    "firing": "{% set alerts = firing %}" + _ALERT_LIST,
    "resolved": "{% set alerts = resolved %}" + _ALERT_LIST,
    "num_firing": "{{ firing|length }}",
    "num_resolved": "{{ resolved|length }}",
}


def severity_level(value: str | None) -> str | None:
    """``" Warn "`` -> ``"warning"``: one of PagerDuty's severities, or None."""
    level = label_severity(value)
    return level if level in SEVERITIES else None


def dedup_key(group_key: str) -> str:
    """Alertmanager's ``Key.Hash()``: the SHA-256 of the group key, hex."""
    return hashlib.sha256(group_key.encode()).hexdigest()


class PagerdutyImage(ConfigBase):
    #: Image URL (PagerDuty shows only https images).
    src: Template
    href: Template | None = None
    alt: Template | None = None


class PagerdutyLink(ConfigBase):
    href: Template
    text: Template | None = None


class PagerdutyConfig(ChannelConfig):
    #: The integration key of an Events API v2 integration (or a file holding it, read at each send).
    routing_key: Secret | None = None
    routing_key_file: str | None = None
    #: The service key of an Events API v1 integration (or a file holding it); sends v1 events.
    service_key: Secret | None = None
    service_key_file: str | None = None
    #: Where v1 events go (tocsin's key: for a proxy, or a test server; Alertmanager's is fixed).
    events_v1_url: URL = URL(DEFAULT_V1_URL)
    #: Events API URL; default the global ``pagerduty_url``.
    url: URL | None = None
    client: Template = Template("tocsin")
    client_url: Template = Template(DEFAULT_CLIENT_URL)
    #: ``payload.summary``.
    description: Template = Template(DEFAULT_DESCRIPTION)
    #: critical, error, warning or info (after templating; anything else is sent as error).
    severity: Template = Template("error")
    class_: Template | None = msgspec.field(default=None, name="class")
    component: Template | None = None
    group: Template | None = None
    #: ``payload.source``; default the rendered ``client``, else this host's name.
    source: Template | None = None
    details: dict[str, Template] = {}
    images: list[PagerdutyImage] = []
    links: list[PagerdutyLink] = []
    http_config: HTTPConfig | None = None

    def __post_init__(self) -> None:
        for name in ("routing_key", "service_key"):
            if getattr(self, name) and getattr(self, f"{name}_file"):
                raise field_error(f"{name}_file", f"set {name} or {name}_file, not both")
        if not (self.routing_key or self.routing_key_file or self.service_key or self.service_key_file):
            raise field_error("routing_key", "missing routing key: set routing_key or routing_key_file "
                                             "(Events API v2), or service_key[_file] (v1)")

    @property
    def v1(self) -> bool:
        """Whether events go to the Events API v1 (a service key is set; it wins, as in Alertmanager)."""
        return bool(self.service_key or self.service_key_file)


class PagerdutyChannel:
    def __init__(self, config: PagerdutyConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx
        self.http = config.http_config or getattr(ctx.global_config, "http_config", None)
        self.url = str(config.url or getattr(ctx.global_config, "pagerduty_url", None) or DEFAULT_URL)
        self.external_url = (ctx.external_url or "").rstrip("/")

    def routing_key(self, name: str = "routing_key") -> str:
        """The routing key (or, with ``name="service_key"``, the v1 service key)."""
        path = getattr(self.config, f"{name}_file")
        if path:
            # A plain str: the key goes into the event, and msgspec encodes no Secret.
            key = str(secret_from_file(path, f"{name}_file"))
        else:
            key = str(getattr(self.config, name) or "").strip()
        if not key:
            raise DeliveryError(f"pagerduty {name.replace('_', ' ')} is empty", retryable=False)
        return key

    def _render(self, source: str | None, ctx: Mapping[str, Any], what: str) -> str:
        if not source:
            return ""
        templates = self.ctx.templates or Templates()
        out = templates.render(source, ctx, what=f"{self.ctx.receiver}/{self.ctx.integration}.{what}")
        return out.strip()

    def message(self, n: Notification) -> dict[str, Any]:
        """The event without its routing key."""
        c = self.config
        d = data(n, self.external_url)
        firing = n.firing()
        if n.event == "acknowledged" and firing:
            # Acknowledging in tocsin acknowledges the group's PagerDuty alert.
            return {"event_action": "acknowledge", "dedup_key": dedup_key(n.group_key)}
        action = "trigger" if firing else "resolve"
        summary = self._summary(n, d)
        severity = self._severity(n, d)
        client = self._render(c.client, d, "client")
        client_url = self._render(c.client_url, d, "client_url")
        source = self._render(c.source, d, "source") or client or socket.gethostname()

        details = {k: self._render(v, d, f"details.{k}") for k, v in {**DEFAULT_DETAILS, **c.details}.items()}
        payload: dict[str, Any] = {
            "summary": summary,
            "source": source,
            "severity": severity,
            "timestamp": format_ts(_when(n, firing)),
        }
        for key, source_tpl in (("class", c.class_), ("component", c.component), ("group", c.group)):
            value = self._render(source_tpl, d, key)
            if value:
                payload[key] = value
        payload["custom_details"] = details

        msg: dict[str, Any] = {
            "event_action": action,
            "dedup_key": dedup_key(n.group_key),
            "payload": payload,
        }
        if client:
            msg["client"] = client
        if _is_web_url(client_url):
            msg["client_url"] = client_url
        images = self._images(d)
        if images:
            msg["images"] = images
        links = self._links(d)
        if links:
            msg["links"] = links
        return msg

    def _summary(self, n: Notification, d: Mapping[str, Any]) -> str:
        summary = self._render(self.config.description, d, "description") or fallback_text(d)
        if n.event:
            summary = f"{d['notice']['text']} · {summary}"
        if len(summary) > MAX_SUMMARY:
            log.warning("summary truncated", receiver=n.receiver, integration=self.ctx.integration,
                        group_key=n.group_key, length=len(summary), limit=MAX_SUMMARY)
            summary = summary[: MAX_SUMMARY - 1] + "…"
        return summary

    def _severity(self, n: Notification, d: Mapping[str, Any]) -> str:
        raw_severity = self._render(self.config.severity, d, "severity")
        severity = severity_level(raw_severity)
        if severity is None:
            log.warning("not a PagerDuty severity; sending error", value=raw_severity,
                        receiver=n.receiver, integration=self.ctx.integration)
            severity = "error"
        return severity

    def _images(self, d: Mapping[str, Any]) -> list[dict[str, str]]:
        images = []
        for i, img in enumerate(self.config.images):
            src = self._render(img.src, d, f"images[{i}].src")
            if not src:
                continue
            item = {"src": src}
            for key, tpl in (("href", img.href), ("alt", img.alt)):
                value = self._render(tpl, d, f"images[{i}].{key}")
                if value:
                    item[key] = value
            images.append(item)
        return images

    def _links(self, d: Mapping[str, Any]) -> list[dict[str, str]]:
        links = []
        for i, link in enumerate(self.config.links):
            href = self._render(link.href, d, f"links[{i}].href")
            if not href:
                continue
            links.append({"href": href, "text": self._render(link.text, d, f"links[{i}].text") or href})
        return links

    def encode(self, msg: dict[str, Any]) -> bytes:
        body = _encoder.encode(msg)
        if len(body) > MAX_EVENT_BYTES:
            log.warning("event too large; custom_details replaced", size=len(body), limit=MAX_EVENT_BYTES,
                        receiver=self.ctx.receiver, integration=self.ctx.integration)
            msg["payload"]["custom_details"] = {
                "error": f"custom details were removed: the event exceeded {MAX_EVENT_BYTES} bytes",
            }
            body = _encoder.encode(msg)
        return body

    def message_v1(self, n: Notification) -> dict[str, Any]:
        """The Events API v1 event without its service key, key for key Alertmanager's."""
        c = self.config
        d = data(n, self.external_url)
        firing = n.firing()
        event_type = "trigger" if firing else "resolve"
        if n.event == "acknowledged" and firing:
            event_type = "acknowledge"
        details = {k: self._render(v, d, f"details.{k}") for k, v in {**DEFAULT_DETAILS, **c.details}.items()}
        msg: dict[str, Any] = {"incident_key": dedup_key(n.group_key), "event_type": event_type,
                               "description": self._summary(n, d), "event_action": "", "payload": None}
        if event_type == "trigger":
            for key, source in (("client", c.client), ("client_url", c.client_url)):
                value = self._render(source, d, key)
                if value:
                    msg[key] = value
        msg["details"] = details
        return msg

    def render(self, n: Notification) -> bytes:
        """What would be sent, with the routing key hidden (for ``notify test --dry-run``)."""
        if self.config.v1:
            return _encoder.encode({"service_key": "<secret>", **self.message_v1(n)})
        return self.encode({"routing_key": "<secret>", **self.message(n)})

    async def send(self, n: Notification) -> None:
        if n.event == "remediation" and not self.config.v1:
            # What tocsin did about an alert is a change, not a new incident (v2 only).
            await send_change_event(
                self.ctx.session, self.url, self.routing_key(), notice_line(n), source="tocsin",
                custom_details={"alerts": ", ".join(_labels_text(a.labels) for a in n.alerts),
                                "receiver": n.receiver},
                timeout=float(self.config.timeout), timestamp=n.now, http=self.http)
            return
        if self.config.v1:
            service_key = self.routing_key("service_key")

            def event_v1(n: Notification) -> bytes:  # for a big group, in a worker thread
                return _encoder.encode({"service_key": service_key, **self.message_v1(n)})

            await post_json(self.ctx.session, str(self.config.events_v1_url), await rendered(event_v1, n),
                            http=self.http, timeout=float(self.config.timeout))
            return
        key = self.routing_key()

        def event(n: Notification) -> bytes:  # for a big group, in a worker thread
            return self.encode({"routing_key": key, **self.message(n)})

        await post_json(self.ctx.session, self.url, await rendered(event, n), http=self.http,
                        timeout=float(self.config.timeout))


def _when(n: Notification, firing: list[Alert]) -> float:
    """When the event happened: the earliest start while firing, else the latest end."""
    if firing:
        stamps = [a.starts_at for a in firing if a.starts_at > 0]
        return min(stamps) if stamps else n.now
    stamps = [a.ends_at for a in n.alerts if a.ends_at > 0]
    return max(stamps) if stamps else n.now


def _labels_text(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _is_web_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def change_events_url(url: str) -> str:
    """The Change Events endpoint next to an Events API URL:
    ``https://events.pagerduty.com/v2/enqueue`` -> ``https://events.pagerduty.com/v2/change/enqueue``.
    A URL without a path gets ``/v2/change/enqueue``."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path.endswith("/change/enqueue"):
        pass
    elif path.endswith("/enqueue"):
        path = path[: -len("enqueue")] + "change/enqueue"
    elif not path:
        path = "/v2/change/enqueue"
    else:
        raise ValueError(
            f"cannot derive the change events URL from {url!r}: expected a path ending in /enqueue")
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


async def send_change_event(
    session: aiohttp.ClientSession,
    url: str,
    routing_key: str,
    summary: str,
    source: str | None = None,
    custom_details: Mapping[str, Any] | None = None,
    links: Iterable[Mapping[str, str]] = (),
    timeout: float = 10.0,
    *,
    timestamp: float | None = None,
    http: HTTPConfig | None = None,
) -> int:
    """Send one Change Event; ``url`` is the alert events URL (or the change one).

    Returns the HTTP status (202); raises :class:`DeliveryError` like a channel does.
    """
    if not routing_key:
        raise DeliveryError("pagerduty routing key is empty", retryable=False)
    try:
        target = change_events_url(url)
    except ValueError as exc:
        raise DeliveryError(str(exc), retryable=False) from None
    summary = summary.strip() or "change"
    payload: dict[str, Any] = {
        "summary": summary if len(summary) <= MAX_SUMMARY else summary[: MAX_SUMMARY - 1] + "…",
    }
    if source:
        payload["source"] = source
    if timestamp:
        payload["timestamp"] = format_ts(timestamp)
    if custom_details:
        payload["custom_details"] = dict(custom_details)
    body: dict[str, Any] = {"routing_key": routing_key, "payload": payload}
    items = [{"href": link["href"], "text": link.get("text") or link["href"]}
             for link in links if link.get("href")]
    if items:
        body["links"] = items
    return await post_json(session, target, _encoder.encode(body), http=http, timeout=float(timeout))


#: ``pagerduty_configs`` in a receiver.
KIND = ChannelKind("pagerduty", PagerdutyConfig, PagerdutyChannel)
