"""Every page of the dashboard, and its static files: what the web app serves.

A page module is added to :data:`PAGES` (see the package's docstring for the pattern)."""

from __future__ import annotations

from collections.abc import Callable

from tocsin.core.routes import HTTPRoute
from tocsin.web.dashboard import (
    alert,
    alerts,
    events,
    login,
    oncall,
    silence_edit,
    silences,
    stats,
    status,
)
from tocsin.web.dashboard import routes as routes_page
from tocsin.web.dashboard.render import assets

__all__ = ["PAGES", "routes"]

#: Each page module's ``routes``; fixed paths before the ones with a parameter they share a
#: prefix with (``/alerts/complete`` before ``/alerts/{id}``): the router takes the first match.
PAGES: tuple[Callable[[], list[HTTPRoute]], ...] = (
    alerts.routes, alert.routes, silence_edit.routes, silences.routes, events.routes, login.routes,
    oncall.routes, stats.routes, routes_page.routes, status.routes,
)


def routes() -> list[HTTPRoute]:
    """The dashboard's routes: its static files, then every page's."""
    return [assets().route(), *(route for declared in PAGES for route in declared())]
