"""The ``log`` channel: a notification as one structured log line.

It needs no other service, which makes it the default config's receiver.
"""

from __future__ import annotations

from typing import Literal

import structlog

from tocsin import hookimpl
from tocsin.channels import ChannelConfig, ChannelContext, ChannelKind
from tocsin.core.models import Notification

__all__ = ["LogChannel", "LogConfig"]


class LogConfig(ChannelConfig):
    level: Literal["debug", "info", "warning", "error"] = "warning"
    #: Include each alert's labels and annotations, not only their fingerprints.
    details: bool = True


class LogChannel:
    def __init__(self, config: LogConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.log = structlog.get_logger("tocsin.notify.log").bind(
            receiver=ctx.receiver, integration=ctx.integration
        )

    async def send(self, n: Notification) -> None:
        firing = n.firing()
        alerts = [
            {"fingerprint": a.fingerprint, "status": a.status(n.now), "labels": a.labels,
             "annotations": a.annotations} if self.config.details
            else {"fingerprint": a.fingerprint, "status": a.status(n.now)}
            for a in n.alerts
        ]
        getattr(self.log, self.config.level)(
            "notification",
            status="firing" if firing else "resolved",
            group_key=n.group_key,
            group_labels=n.group_labels,
            firing=len(firing),
            resolved=len(n.alerts) - len(firing),
            alerts=alerts,
        )


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [ChannelKind("log", LogConfig, LogChannel)]
