"""Every hook tocsin calls, in pipeline order.

Plugins implement these with ``@tocsin.hookimpl`` and register through the
``tocsin.plugins`` entry-point group. Built-in behaviour (deduplication,
routing, delivery, the webhook and log channels) is itself implemented by
plugins registered in that group, so a third-party plugin can do anything a
built-in one can, including replace it (``tryfirst=True`` on a ``firstresult``
hook, or disabling the built-in by name).

Hooks marked *may be async* can return an awaitable; tocsin awaits it. The
hot-path hooks (dedupe, inhibit, route) must answer synchronously.

Every hook receives ``runtime``: a :class:`tocsin.core.facade.Facade`, the
small surface a plugin may rely on (``config``, ``clock``, read-only ``alerts``,
``publish(event)``, ``call_later(delay, fn)``, and components shared by typed
key, such as ``runtime[tocsin.mute.silences.SILENCES]``), not the runtime's
internals.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from tocsin.channels import ChannelKind
    from tocsin.core.events import Event
    from tocsin.core.facade import Facade
    from tocsin.core.models import Alert, Notification
    from tocsin.core.mute import MuteReason
    from tocsin.core.routes import HTTPRoute
    from tocsin.dispatch.route import Route
    from tocsin.remediation import RemediationKind

hookspec = pluggy.HookspecMarker("tocsin")


# ---------------------------------------------------------------------------
# Contributions: called once at start-up and on every reload, before the
# config is read, so that the kinds they add are known to the config loader.
# ---------------------------------------------------------------------------


@hookspec
def tocsin_channel_kinds() -> list[ChannelKind]:
    """Contribute notification channel kinds.

    Return a list of :class:`tocsin.channels.ChannelKind`. A kind named
    ``discord`` makes ``discord_configs`` valid in a receiver; its ``config``
    Struct validates each entry (errors carry the YAML path) and its
    ``factory`` builds the object whose ``send`` delivers a notification.
    All implementations are called; two plugins claiming one name is an error.
    """


@hookspec
def tocsin_remediation_kinds() -> list[RemediationKind]:
    """Contribute remediation kinds (a config Struct and an async ``run``).

    Same contract as :func:`tocsin_channel_kinds`, for ``remediations:``.
    """


# ---------------------------------------------------------------------------
# The ingest pipeline, per alert, in this order: enrich, dedupe, inhibit,
# route. enrich and dedupe run inside the request, before the 2xx answer;
# inhibit and route run in the dispatcher, off the request path.
# ---------------------------------------------------------------------------


@hookspec
def tocsin_enrich(runtime: Facade, alert: Alert) -> Awaitable[None] | None:
    """Add labels or annotations to an incoming alert, before it is fingerprinted
    into the alert state. Mutate ``alert.labels`` / ``alert.annotations`` in place.

    Called for every alert of every request, in plugin order (use ``tryfirst`` /
    ``trylast`` to place yourself). May be async. An enricher that raises is
    logged and skipped; the alert goes on. Changing labels changes the
    fingerprint: tocsin recomputes it after all enrichers ran.
    """


@hookspec(firstresult=True)
def tocsin_dedupe(runtime: Facade, alert: Alert, existing: Alert | None) -> Alert | None:
    """Merge an incoming alert into the one already held with the same fingerprint.

    ``existing`` is None for an alert not held yet. Return the alert to keep.
    Stops at the first non-None result. The built-in implementation follows
    Alertmanager: the earliest ``starts_at`` stays, an explicit ``ends_at``
    wins over a timeout one, and alerts whose activity does not overlap are
    not merged (the newer replaces the older).
    """


@hookspec
def tocsin_inhibit(
    runtime: Facade, alert: Alert, route: Route | None, now: float
) -> MuteReason | list[MuteReason] | None:
    """Say whether ``alert`` is muted, and why.

    Called for every alert of a group at each flush (with the group's route),
    so a silence made or expired after the alert arrived takes effect at the
    next flush, and whenever the API reports an alert's status (``route`` is
    None: route-dependent muting such as time intervals answers None then).
    Return a :class:`tocsin.core.mute.MuteReason`, a list of them, or None. All
    implementations are called; the alert is muted if any gives a reason.
    Reasons of kind "silence" and "inhibition" show in the API's
    ``silencedBy`` / ``inhibitedBy``. Must be synchronous and cheap.
    """


@hookspec(firstresult=True)
def tocsin_route(runtime: Facade, alert: Alert) -> list[Route] | None:
    """Return the routes the alert is delivered through.

    Stops at the first non-None result. The built-in implementation walks the
    config's routing tree with Alertmanager's semantics.
    """


# ---------------------------------------------------------------------------
# Delivery: called by the dispatcher when an aggregation group flushes.
# ---------------------------------------------------------------------------


@hookspec
def tocsin_notify(runtime: Facade, notification: Notification) -> Awaitable[bool | None] | bool | None:
    """Deliver a group's notification.

    ``notification.alerts`` are the group's unmuted alerts at the flush. All
    implementations run concurrently; may be async. Return False (or raise) if
    delivery failed: the group then keeps its resolved alerts and tries again
    at its next flush. The built-in implementation sends to every integration
    of ``notification.receiver``, each with its own notification-log check,
    retries and record.
    """


@hookspec
def tocsin_remediate(runtime: Facade, notification: Notification) -> Awaitable[None] | None:
    """Act on the firing alerts of a flushed group (roll back, restart a unit...).

    Called after :func:`tocsin_notify` for every flush that has firing alerts.
    May be async. Guards (cooldowns, approval, dry runs) are the
    implementation's business.
    """


# ---------------------------------------------------------------------------
# Observation.
# ---------------------------------------------------------------------------


@hookspec
def tocsin_observe(runtime: Facade, event: Event) -> Awaitable[None] | None:
    """See every event on the bus (:mod:`tocsin.core.events`), in publication order.

    Called from a dedicated bus subscriber, never from the publisher, so a slow
    observer delays only other observers. May be async. Errors are logged.
    """


# ---------------------------------------------------------------------------
# The HTTP API.
# ---------------------------------------------------------------------------


@hookspec
def tocsin_register_routes(runtime: Facade) -> list[HTTPRoute]:
    """Add routes to tocsin's HTTP API, such as a channel's signed callbacks.

    Called once, when the HTTP app is made at start-up (a reload does not call it
    again). Return a list of :class:`tocsin.core.routes.HTTPRoute`, each declaring its
    ``method``, ``path``, async ``handler(request)``, the ``access`` it needs once
    ``server.auth`` is set (``"open"``: no credentials, for a caller that signs its
    requests and whose handler checks the signature; ``"ingest"``, ``"read"`` or
    ``"admin"``: a role), a one-line ``summary`` and its ``openapi`` operation
    (``responses`` and the like; None leaves it out of tocsin's OpenAPI document).
    The declaration is all: the router, the auth middleware and the OpenAPI
    document read it. ``runtime`` is the facade every hook gets, for the handlers
    to use (the same object for the app's life: read ``runtime.config`` at each
    request, a reload replaces it); an implementation may leave the argument out.

    All implementations are called, after the built-in API is declared. A method
    and path declared already is logged and not served (a plugin cannot replace a
    built-in route or change what it needs), and so is the answer of a plugin that
    raises or returns anything but a list of routes; the other routes are served.
    Must be synchronous.
    """
