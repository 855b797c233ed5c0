"""The ``example`` channel: the worked example of docs/plugin-hooks.md.

Each notification becomes one JSON message POSTed to the entry's ``url``:

- a group's notification (``notification.event`` empty) has ``"type": "alert"``
  and says what fires or has resolved: ``[FIRING:2] DiskFull``;
- a lifecycle notice (``event`` is ``acknowledged``, ``unacknowledged``,
  ``escalated`` or ``remediation``) has ``"type": "notice"`` and says what
  happened to alerts the receiver was told about already:
  ``Acknowledged by alice: on it · DiskFull``. It is not a new alert.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tocsin import hookimpl
from tocsin.channels import ChannelConfig, ChannelContext, ChannelKind, rendered
from tocsin.channels.data import link_url, message_data, notice_line
from tocsin.channels.http import HTTPConfig, post_json
from tocsin.config.types import URL
from tocsin.config.validate import field_error
from tocsin.core.models import Alert, Notification

__version__ = "0.1.0"

__all__ = ["ExampleChannel", "ExampleConfig", "__version__", "tocsin_channel_kinds"]

_encoder = msgspec.json.Encoder()


class ExampleConfig(ChannelConfig):
    """One ``example_configs`` entry; ``send_resolved``, ``timeout`` and
    ``max_concurrency`` come from ``ChannelConfig``."""

    #: Where the messages go: ``URL`` checks it is absolute http(s), and config
    #: errors never show it (it may carry a token; use ``Secret`` for a password).
    url: URL
    #: Alerts listed in one message; the others are counted.
    max_lines: int = 10
    #: Proxy, TLS and authorization; ``global.http_config`` when not set.
    http_config: HTTPConfig | None = None

    def __post_init__(self) -> None:
        # field_error names the field: "receivers[0].example_configs[0].max_lines: ..."
        if self.max_lines < 1:
            raise field_error("max_lines", "must be at least 1")


def alert_line(alert: Alert, now: float) -> str:
    """``firing: DiskFull - /var is 95% full <http://prometheus/...>``"""
    line = f"{alert.status(now)}: {alert.labels.get('alertname', 'alert')}"
    summary = alert.annotations.get("summary")
    if summary:
        line += f" - {summary}"
    link = link_url(alert.generator_url, 2000)  # None unless a plain http(s) URL
    return f"{line} <{link}>" if link else line


class ExampleChannel:
    """Built by tocsin for each ``example_configs`` entry, at start and at each reload."""

    def __init__(self, config: ExampleConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx
        self.http = config.http_config or getattr(ctx.global_config, "http_config", None)

    def message(self, n: Notification) -> dict[str, Any]:
        # Alertmanager's template data: status, groupLabels, commonLabels, alerts...
        data = message_data(n, n.alerts, self.ctx.external_url)
        names = " ".join(sorted({a.labels.get("alertname", "alert") for a in n.alerts}))
        if n.event:
            # A notice about alerts already announced (who acknowledged them, which
            # escalation level was paged, what a remediation did): not a new alert.
            kind, title = "notice", f"{notice_line(n)} · {names}"
        else:
            kind = "alert"
            counts = f":{len(n.firing())}" if data["status"] == "firing" else ""
            labels = " ".join(v for _, v in sorted(n.group_labels.items())) or names
            title = f"[{data['status'].upper()}{counts}] {labels}"
        shown = n.alerts[:self.config.max_lines]
        lines = [alert_line(a, n.now) for a in shown]
        if len(n.alerts) > len(shown):
            lines.append(f"...and {len(n.alerts) - len(shown)} more")
        return {
            "type": kind, "event": n.event, "actor": n.actor, "note": n.note,
            "status": data["status"], "title": title, "lines": lines,
            "receiver": n.receiver, "group_key": n.group_key,
            "common_labels": data["commonLabels"],
            "fingerprints": [a.fingerprint for a in n.alerts],
        }

    def render(self, n: Notification) -> bytes:
        """The body ``send`` posts; ``tocsin notify test --dry-run`` prints it."""
        return _encoder.encode(self.message(n))

    async def send(self, n: Notification) -> None:
        # n.id is the same for a retry of the same notification: receivers may drop repeats.
        headers = {"X-Tocsin-Notification-Id": n.id} if n.id else {}
        # post_json raises DeliveryError, retryable on 5xx, 408, 429 and network errors;
        # secret_url keeps the URL (it may carry a token) out of errors and dead letters.
        # rendered(): a big group's body is made in a worker thread, off the event loop.
        body = await rendered(self.render, n)
        await post_json(self.ctx.session, self.config.url, body, http=self.http,
                        timeout=float(self.config.timeout), headers=headers, secret_url=True)


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [ChannelKind("example", ExampleConfig, ExampleChannel)]
