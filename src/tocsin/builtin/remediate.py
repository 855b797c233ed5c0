"""Built-in remediate: the guarded remediations a flushed group's route names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tocsin import hookimpl
from tocsin.models import Notification

if TYPE_CHECKING:
    from tocsin.runtime import Runtime


@hookimpl
async def tocsin_remediate(runtime: Runtime, notification: Notification) -> None:
    await runtime.remediator.on_flush(notification)
