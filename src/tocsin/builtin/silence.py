"""Built-in muter: active silences that match an alert mute it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tocsin import hookimpl
from tocsin.models import Alert
from tocsin.mute import MuteReason
from tocsin.routing import Route

if TYPE_CHECKING:
    from tocsin.runtime import Runtime


@hookimpl
def tocsin_inhibit(runtime: Runtime, alert: Alert, route: Route | None, now: float) -> MuteReason | None:
    ids = runtime.silences.mutes(alert.labels, now)
    return MuteReason("silence", tuple(ids)) if ids else None
