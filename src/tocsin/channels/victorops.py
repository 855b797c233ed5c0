"""The ``victorops`` channel: VictorOps' (Splunk On-Call's) REST endpoint, as Alertmanager
0.25 uses it.

``POST {api_url}{api_key}/{routing_key}`` with a JSON object of strings: one
VictorOps incident per aggregation group, its ``entity_id`` the SHA-256 (hex) of the
group key. ``message_type`` is the rendered ``message_type`` while alerts fire
(CRITICAL unless it renders INFO, WARNING or CRITICAL) and ``RECOVERY`` once all
have resolved (only with ``send_resolved``, the default). ``state_message`` is cut
to 20480 characters; ``custom_fields`` are added beside the fixed fields, whose
names they may not take.

tocsin's lifecycle notices go to the same incident: an acknowledgement in tocsin
as ``ACKNOWLEDGEMENT``, an escalation while firing as the usual message with the
notice above its ``state_message``, any other notice as ``INFO``.

Like Alertmanager, a 5xx answer is retried, a 4xx is not. The API key is part of
the URL, so errors show the URL's host only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import msgspec
import structlog

from tocsin import hookimpl
from tocsin.channels import ChannelConfig, ChannelContext, ChannelKind, DeliveryError, rendered
from tocsin.channels.amtemplates import default, group_hash, truncate_runes
from tocsin.channels.data import notice_line
from tocsin.channels.http import HTTPConfig, entry_or_global_secret, send
from tocsin.config.types import URL, Secret
from tocsin.config.validate import field_error
from tocsin.core.models import Notification
from tocsin.notify.templates import Template, Templates, alertmanager_defaults, data

__all__ = ["RESERVED_FIELDS", "VictoropsChannel", "VictoropsConfig", "check"]

log = structlog.get_logger("tocsin.notify.victorops")

_encoder = msgspec.json.Encoder()

DEFAULT_API_URL = "https://alert.victorops.com/integrations/generic/20131114/alert/"
#: Alertmanager's limit on ``state_message`` (characters).
MAX_STATE_MESSAGE = 20480
#: The message types a firing notification may render; anything else is sent as CRITICAL.
FIRING_TYPES = ("INFO", "WARNING", "CRITICAL")
#: Fields of the message that ``custom_fields`` may not set.
RESERVED_FIELDS = ("routing_key", "message_type", "state_message", "entity_display_name",
                   "monitoring_tool", "entity_id", "entity_state")

#: What a URL path may hold unescaped (as Go writes a path).
_PATH_SAFE = "/:@!$&'()*+,;="

#: Alertmanager's ``monitoring_tool`` says Alertmanager; tocsin says who sent it.
DEFAULT_MONITORING_TOOL = "tocsin"

# Alertmanager's default says Alertmanager; tocsin keeps saying tocsin for it.
alertmanager_defaults({"victorops.default.monitoring_tool": DEFAULT_MONITORING_TOOL})


class VictoropsConfig(ChannelConfig):
    #: The REST integration's API key (default the global ``victorops_api_key``).
    api_key: Secret | None = None
    api_key_file: str | None = None
    #: Default the global ``victorops_api_url``.
    api_url: URL | None = None
    #: Which VictorOps team's routing receives the incident.
    routing_key: Template = Template("")
    message_type: Template = Template("CRITICAL")
    state_message: Template = Template(default("victorops.default.state_message"))
    entity_display_name: Template = Template(default("victorops.default.entity_display_name"))
    monitoring_tool: Template = Template(DEFAULT_MONITORING_TOOL)
    custom_fields: dict[str, Template] = {}
    http_config: HTTPConfig | None = None

    def __post_init__(self) -> None:
        if not self.routing_key:
            raise field_error("routing_key", "missing routing key")
        if self.api_key and self.api_key_file:
            raise field_error("api_key_file", "set api_key or api_key_file, not both")
        for name in RESERVED_FIELDS:
            if name in self.custom_fields:
                raise field_error(f"custom_fields.{name}", "a field VictorOps messages have already; "
                                  "it cannot be a custom field")


def check(config: VictoropsConfig, global_config: object) -> list[tuple[str, str]]:
    """An API key here or in ``global:``, which the entry alone cannot see."""
    if config.api_key or config.api_key_file or getattr(global_config, "victorops_api_key", None) \
            or getattr(global_config, "victorops_api_key_file", None):
        return []
    return [("api_key", "no VictorOps API key: set api_key or api_key_file here, "
                        "or global.victorops_api_key[_file]")]


class VictoropsChannel:
    def __init__(self, config: VictoropsConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx
        g = ctx.global_config
        self.http = config.http_config or getattr(g, "http_config", None)
        url = str(config.api_url or getattr(g, "victorops_api_url", None) or DEFAULT_API_URL)
        self.api_url = url if url.endswith("/") else url + "/"
        self.external_url = (ctx.external_url or "").rstrip("/")

    def api_key(self) -> str:
        """The entry's key, else the global one; a key file is read now, so it can be rotated."""
        return entry_or_global_secret(self.config, self.ctx.global_config, "api_key", "victorops_api_key",
                                      "VictorOps API key")

    def _render(self, source: str, d: Mapping[str, Any], what: str) -> str:
        if not source:
            return ""
        templates = self.ctx.templates or Templates()
        return templates.render(source, d, what=f"{self.ctx.receiver}/{self.ctx.integration}.{what}")

    def url(self, n: Notification, api_key: str | None) -> str:
        """``{api_url}{api_key}/{routing_key}``; with no key, ``<secret>`` in its place."""
        routing_key = self._render(self.config.routing_key, data(n, self.external_url), "routing_key")
        if not routing_key.strip():
            raise DeliveryError("VictorOps routing key rendered empty", retryable=False)
        key = "<secret>" if api_key is None else quote(api_key, safe=_PATH_SAFE)
        return f"{self.api_url}{key}/{quote(routing_key, safe=_PATH_SAFE)}"

    def message(self, n: Notification) -> dict[str, str]:
        c = self.config
        d = data(n, self.external_url)
        firing = bool(n.firing())
        message_type = self._render(c.message_type, d, "message_type")
        if not firing:
            message_type = "RECOVERY"
        elif message_type not in FIRING_TYPES:
            message_type = "CRITICAL"
        state = self._render(c.state_message, d, "state_message")
        if n.event:
            message_type, state = _notice(n, message_type, state, firing)
        state, cut = truncate_runes(state, MAX_STATE_MESSAGE)
        if cut:
            log.warning("state_message truncated", receiver=n.receiver, integration=self.ctx.integration,
                        group_key=n.group_key, limit=MAX_STATE_MESSAGE)
        msg = {
            "message_type": message_type,
            "entity_id": group_hash(n.group_key),
            "entity_display_name": self._render(c.entity_display_name, d, "entity_display_name"),
            "state_message": state,
            "monitoring_tool": self._render(c.monitoring_tool, d, "monitoring_tool"),
        }
        msg.update({k: self._render(v, d, f"custom_fields.{k}") for k, v in c.custom_fields.items()})
        return msg

    def render(self, n: Notification) -> str:
        """What would be sent (for ``notify test --dry-run``); reads no key file."""
        return f"POST {self.url(n, None)}\n{_encoder.encode(self.message(n)).decode()}"

    async def send(self, n: Notification) -> None:
        url = self.url(n, self.api_key())
        body = await rendered(lambda m: _encoder.encode(self.message(m)), n)
        await send(self.ctx.session, "POST", url, body, http=self.http,
                   timeout=float(self.config.timeout), secret_url=True, retry_statuses=())


def _notice(n: Notification, message_type: str, state: str, firing: bool) -> tuple[str, str]:
    """A lifecycle notice's message type and state message."""
    line = notice_line(n)
    if firing and n.event == "acknowledged":
        return "ACKNOWLEDGEMENT", line
    if firing and n.event == "escalated":
        return message_type, f"{line}\n{state}"
    return "INFO", line


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [ChannelKind("victorops", VictoropsConfig, VictoropsChannel, check)]
