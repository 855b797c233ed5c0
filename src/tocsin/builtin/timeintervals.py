"""Built-in muter: a route's mute_time_intervals and active_time_intervals.

They apply at flush time only (``route`` is given), as in Alertmanager, and
do not show as suppressed in the API.
"""

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
    if route is None:
        return None
    intervals = runtime.config.time_intervals
    active = route.opts.active_time_intervals
    if active and not any(intervals[n].contains(now) for n in active if n in intervals):
        return MuteReason("time_interval", tuple(f"outside {n}" for n in active))
    muting = tuple(n for n in route.opts.mute_time_intervals if n in intervals and intervals[n].contains(now))
    return MuteReason("time_interval", muting) if muting else None
