"""The ``opsgenie`` channel: OpsGenie's Alert API v2, as Alertmanager 0.25 uses it.

One OpsGenie alert per aggregation group, its ``alias`` the SHA-256 (hex) of the
group key: while any alert fires, ``POST {api_url}v2/alerts`` creates it (OpsGenie
counts a repeat of an open alias instead of opening another); once all have
resolved, ``POST {api_url}v2/alerts/{alias}/close?identifierType=alias`` closes
it (only with ``send_resolved``, the default). With ``update_alerts`` each create
is followed by ``PUT .../message`` and ``PUT .../description``, as OpsGenie
keeps an open alert's first text otherwise. Every request carries
``Authorization: GenieKey <api_key>``.

``message`` is cut to OpsGenie's 130 characters; ``details`` are the common
labels plus the entry's own; ``tags`` and ``actions`` are comma-separated lists;
a responder of type ``teams`` is one ``team`` per comma-separated name, and one whose
id, name and username all render empty is left out.

tocsin's lifecycle notices use the same alert: an acknowledgement in tocsin
acknowledges it (``.../acknowledge``), an unacknowledgement unacknowledges it,
an escalation creates it with the notice as its ``note``, any other notice is
added to it as a note (``.../notes``).

Like Alertmanager, a 429 or 5xx answer is retried, another 4xx is not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import msgspec
import structlog

from tocsin import hookimpl
from tocsin.channels import ChannelConfig, ChannelContext, ChannelKind, rendered
from tocsin.channels.amtemplates import default, group_hash, truncate_runes
from tocsin.channels.data import notice_line
from tocsin.channels.http import HTTPConfig, entry_or_global_secret, send
from tocsin.config.types import URL, ConfigBase, Secret
from tocsin.config.validate import field_error
from tocsin.core.models import Notification
from tocsin.notify.templates import Template, Templates, data

__all__ = ["OpsgenieChannel", "OpsgenieConfig", "OpsgenieResponder", "check"]

log = structlog.get_logger("tocsin.notify.opsgenie")

_encoder = msgspec.json.Encoder()

DEFAULT_API_URL = "https://api.opsgenie.com/"
#: OpsGenie's limit on ``message`` (characters).
MAX_MESSAGE = 130
#: Alertmanager retries these besides 5xx.
RETRY_STATUSES = frozenset({429})

_RESPONDER_TYPE = re.compile(r"team|teams|user|escalation|schedule")


class OpsgenieResponder(ConfigBase):
    """Who is notified: one of ``id``, ``name`` or ``username``, and its ``type``."""

    id: Template | None = None
    name: Template | None = None
    username: Template | None = None
    #: team, teams (``name`` a comma-separated list), user, escalation or schedule; or a template.
    type: Template = Template("")

    def __post_init__(self) -> None:
        if not (self.id or self.name or self.username):
            raise field_error("id", "a responder needs at least one of id, name and username")
        if "{{" not in self.type and "{%" not in self.type:
            self.type = Template(self.type.lower())
            if not _RESPONDER_TYPE.fullmatch(self.type):
                raise field_error("type", "must be team, teams, user, escalation or schedule")


class OpsgenieConfig(ChannelConfig):
    #: The API key of an OpsGenie API integration (default the global ``opsgenie_api_key``).
    api_key: Secret | None = None
    api_key_file: str | None = None
    #: Default the global ``opsgenie_api_url`` (https://api.opsgenie.com/).
    api_url: URL | None = None
    message: Template = Template(default("opsgenie.default.message"))
    description: Template = Template(default("opsgenie.default.description"))
    source: Template = Template(default("opsgenie.default.source"))
    #: Added to the common labels in the alert's ``details``.
    details: dict[str, Template] = {}
    entity: Template | None = None
    responders: list[OpsgenieResponder] = []
    #: Comma-separated.
    actions: Template | None = None
    tags: Template | None = None
    note: Template | None = None
    #: P1 to P5.
    priority: Template | None = None
    update_alerts: bool = False
    http_config: HTTPConfig | None = None

    def __post_init__(self) -> None:
        if self.api_key and self.api_key_file:
            raise field_error("api_key_file", "set api_key or api_key_file, not both")


def check(config: OpsgenieConfig, global_config: object) -> list[tuple[str, str]]:
    """An API key here or in ``global:``, which the entry alone cannot see."""
    if config.api_key or config.api_key_file or getattr(global_config, "opsgenie_api_key", None) \
            or getattr(global_config, "opsgenie_api_key_file", None):
        return []
    return [("api_key", "no OpsGenie API key: set api_key or api_key_file here, "
                        "or global.opsgenie_api_key[_file]")]


def split_list(text: str) -> list[str]:
    """Alertmanager's ``safeSplit``: ``text`` trimmed, split on commas, empty items dropped."""
    return [item for item in text.strip().split(",") if item]


class OpsgenieChannel:
    def __init__(self, config: OpsgenieConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx
        g = ctx.global_config
        self.http = config.http_config or getattr(g, "http_config", None)
        url = str(config.api_url or getattr(g, "opsgenie_api_url", None) or DEFAULT_API_URL)
        self.api_url = url if url.endswith("/") else url + "/"
        self.external_url = (ctx.external_url or "").rstrip("/")

    def api_key(self) -> str:
        """The entry's key, else the global one; a key file is read now, so it can be rotated."""
        return entry_or_global_secret(self.config, self.ctx.global_config, "api_key", "opsgenie_api_key",
                                      "OpsGenie API key")

    def _render(self, source: str | None, d: Mapping[str, Any], what: str) -> str:
        if not source:
            return ""
        templates = self.ctx.templates or Templates()
        return templates.render(source, d, what=f"{self.ctx.receiver}/{self.ctx.integration}.{what}")

    def _url(self, path: str) -> str:
        return self.api_url + path

    def _alert_url(self, alias: str, action: str) -> str:
        return self._url(f"v2/alerts/{quote(alias, safe='')}/{action}?identifierType=alias")

    def requests(self, n: Notification) -> list[tuple[str, str, dict[str, Any]]]:
        """What to send, in order: (method, URL, JSON body)."""
        d = data(n, self.external_url)
        alias = group_hash(n.group_key)
        firing = bool(n.firing())
        source = self._render(self.config.source, d, "source")
        if n.event and (n.event != "escalated" or not firing):
            return [self._notice(n, alias, source, firing)]
        if not firing:
            return [("POST", self._alert_url(alias, "close"), {"source": source})]
        create = self.create_message(n, d, alias, source)
        out = [("POST", self._url("v2/alerts"), create)]
        if self.config.update_alerts:
            message = _omit_empty({"message": create["message"]})
            out.append(("PUT", self._alert_url(alias, "message"), message))
            out.append(("PUT", self._alert_url(alias, "description"),
                        _omit_empty({"description": create.get("description", "")})))
        return out

    def _notice(self, n: Notification, alias: str, source: str,
                firing: bool) -> tuple[str, str, dict[str, Any]]:
        if firing and n.event in ("acknowledged", "unacknowledged"):
            action = "acknowledge" if n.event == "acknowledged" else "unacknowledge"
            body = _omit_empty({"source": source, "user": n.actor, "note": n.note})
            return "POST", self._alert_url(alias, action), body
        body = _omit_empty({"source": source, "user": n.actor, "note": notice_line(n)})
        return "POST", self._alert_url(alias, "notes"), body

    def create_message(self, n: Notification, d: Mapping[str, Any], alias: str,
                       source: str) -> dict[str, Any]:
        c = self.config
        message, cut = truncate_runes(self._render(c.message, d, "message"), MAX_MESSAGE)
        if cut:
            log.warning("message truncated", receiver=n.receiver, integration=self.ctx.integration,
                        group_key=n.group_key, limit=MAX_MESSAGE)
        details = dict(d["commonLabels"])
        details.update({k: self._render(v, d, f"details.{k}") for k, v in c.details.items()})
        note = notice_line(n) if n.event else self._render(c.note, d, "note")
        msg: dict[str, Any] = {
            "alias": alias,
            "message": message,
            "description": self._render(c.description, d, "description"),
            "details": details,
            "source": source,
            "responders": self._responders(d),
            "tags": split_list(self._render(c.tags, d, "tags")),
            "note": note,
            "priority": self._render(c.priority, d, "priority"),
            "entity": self._render(c.entity, d, "entity"),
            "actions": split_list(self._render(c.actions, d, "actions")),
        }
        # As Alertmanager's ``omitempty``: alias, message, details and source are always sent.
        return {k: v for k, v in msg.items() if v or k in ("alias", "message", "details", "source")}

    def _responders(self, d: Mapping[str, Any]) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        for i, r in enumerate(self.config.responders):
            item = {key: self._render(getattr(r, key), d, f"responders[{i}].{key}")
                    for key in ("id", "name", "username", "type")}
            if not (item["id"] or item["name"] or item["username"]):
                # Filled from labels that are absent. Alertmanager drops it only when its type
                # renders empty too, and sends OpsGenie a responder it refuses otherwise.
                continue
            if item["type"] == "teams":
                out.extend({"name": team, "type": "team"} for team in split_list(item["name"]))
                continue
            out.append({k: v for k, v in item.items() if v or k == "type"})
        return out

    def render(self, n: Notification) -> str:
        """What would be sent (for ``notify test --dry-run``); reads no key file."""
        return "\n".join(f"{method} {url}\nAuthorization: GenieKey <secret>\n{_encoder.encode(body).decode()}"
                         for method, url, body in self.requests(n))

    async def send(self, n: Notification) -> None:
        headers = {"Authorization": f"GenieKey {self.api_key()}"}
        def encoded(n: Notification) -> list[tuple[str, str, bytes]]:  # a big group's in a worker thread
            return [(method, url, _encoder.encode(body)) for method, url, body in self.requests(n)]

        for method, url, body in await rendered(encoded, n):
            await send(self.ctx.session, method, url, body, http=self.http,
                       timeout=float(self.config.timeout), headers=headers, retry_statuses=RETRY_STATUSES)


def _omit_empty(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v}


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [ChannelKind("opsgenie", OpsgenieConfig, OpsgenieChannel, check)]
