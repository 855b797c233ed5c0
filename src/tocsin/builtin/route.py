"""Built-in routing: the config's routing tree, with Alertmanager's semantics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tocsin import hookimpl
from tocsin.models import Alert
from tocsin.routing import Route

if TYPE_CHECKING:
    from tocsin.runtime import Runtime


@hookimpl(trylast=True)
def tocsin_route(runtime: Runtime, alert: Alert) -> list[Route]:
    return runtime.config.route.match(alert.labels)
