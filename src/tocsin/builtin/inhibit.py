"""Built-in muter: the config's inhibition rules."""

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
    by = runtime.inhibitor.inhibited_by(alert, runtime.alerts, now)
    return MuteReason("inhibition", (by,)) if by is not None else None
