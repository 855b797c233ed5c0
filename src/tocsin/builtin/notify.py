"""Built-in notify: send a flushed group to its receiver's integrations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tocsin import hookimpl
from tocsin.models import Notification

if TYPE_CHECKING:
    from tocsin.runtime import Runtime


@hookimpl
async def tocsin_notify(runtime: Runtime, notification: Notification) -> bool:
    return await runtime.delivery.deliver(notification)
