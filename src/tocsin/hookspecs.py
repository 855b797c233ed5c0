"""Every hook tocsin calls, in pipeline order.

Plugins implement these with ``@tocsin.hookimpl`` and register through the
``tocsin.plugins`` entry-point group. Built-in behaviour (deduplication,
routing, delivery, the webhook and log channels) is itself implemented by
plugins registered in that group, so a third-party plugin can do anything a
built-in one can, including replace it (``tryfirst=True`` on a ``firstresult``
hook, or disabling the built-in by name).

pluggy is synchronous: a hook marked *may be async* may return an awaitable,
and tocsin awaits it (as datasette does). The hot-path hooks (dedupe, mute,
route) must answer synchronously. Each spec below says when it is called, on
which task, what each argument is, what the answer means, and whether the
call stops at the first answer that is not None (``firstresult``). The same
reference, with examples, is docs/plugin-hooks.md; a test fails when a hook or
one of its arguments is missing there.

A plugin object may define ``wanted(runtime) -> bool``: when it answers False,
tocsin leaves that plugin out of ``tocsin_enrich`` (the only hook that asks;
called once per request, so an enricher with no config costs nothing).

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
# Contributions: called at start-up, at every reload and by ``tocsin
# check-config``, before the config is read, so that the kinds they add are
# known to the config loader. Synchronous, on the loading task.
# ---------------------------------------------------------------------------


@hookspec
def tocsin_channel_kinds() -> list[ChannelKind]:
    """Contribute notification channel kinds.

    :returns: a list of :class:`tocsin.channels.ChannelKind`. A kind named
        ``discord`` makes ``discord_configs`` valid in a receiver; its ``config``
        Struct validates each entry (errors carry the YAML path) and its
        ``factory(config, ctx)`` builds the object whose ``send(notification)``
        delivers.

    All implementations are called; when two plugins claim one name, the first
    is kept and the clash is logged.
    """


@hookspec
def tocsin_remediation_kinds() -> list[RemediationKind]:
    """Contribute remediation kinds.

    :returns: a list of :class:`tocsin.remediation.RemediationKind` (a config
        Struct subclassing ``RemediationConfig``, and a ``factory(config,
        templates)`` whose object renders and executes). ``kind: <name>`` becomes
        valid in ``remediations:``.

    All implementations are called; same rules as :func:`tocsin_channel_kinds`.
    """


# ---------------------------------------------------------------------------
# Ingest, per alert, in this order: enrich, dedupe (inside the request, on
# the request's task, before the 2xx answer); then route, in the dispatcher.
# ---------------------------------------------------------------------------


@hookspec
def tocsin_enrich(runtime: Facade, alert: Alert) -> Awaitable[None] | None:
    """Add labels or annotations to an incoming alert before it is fingerprinted.

    :param runtime: the :class:`tocsin.core.facade.Facade`.
    :param alert: the posted alert, validated and normalised; mutate
        ``alert.labels`` / ``alert.annotations`` in place.
    :returns: None, or an awaitable (the hook may be async).

    Called for every alert of every request, on the request's task, one
    implementation after the other in plugin order (``tryfirst`` / ``trylast``
    place you), each seeing what the earlier ones did. Each is bounded by the
    enrichment timeout; one that raises or overruns is logged and skipped, and
    the alert goes on. Changing labels changes the fingerprint: tocsin computes
    it after every enricher ran. Plugins whose ``wanted(runtime)`` answers False
    are not called.
    """


@hookspec(firstresult=True)
def tocsin_dedupe(runtime: Facade, alert: Alert, existing: Alert | None) -> Alert | None:
    """Merge an incoming alert into the one already held with its fingerprint.

    :param runtime: the :class:`tocsin.core.facade.Facade`.
    :param alert: the enriched, fingerprinted alert as posted.
    :param existing: the alert held with the same fingerprint, or None.
    :returns: the alert to keep, or None to let the next implementation answer.

    ``firstresult``: stops at the first answer that is not None. Called for every
    accepted alert, on the request's task; must be synchronous and cheap. The
    built-in implementation (``tocsin.ingest.dedupe``, ``trylast``) follows
    Alertmanager: the earliest ``starts_at`` stays, an explicit ``ends_at`` wins
    over a timeout one, and alerts whose activity does not overlap are not
    merged (the newer replaces the older).
    """


@hookspec(firstresult=True)
def tocsin_route(runtime: Facade, alert: Alert) -> list[Route] | None:
    """Say which routes an alert is delivered through.

    :param runtime: the :class:`tocsin.core.facade.Facade`.
    :param alert: an alert that arrived, changed or resolved.
    :returns: the routes (:class:`tocsin.dispatch.route.Route`) in the order they
        match, or None to let the next implementation answer.

    ``firstresult``. Called on the dispatcher's task for every new or changed
    alert (the alert joins one aggregation group per route), again for every
    held alert after a reload, and by escalation, remediation and the API when
    they need an alert's routes. Must be synchronous and cheap. The built-in
    implementation (``tocsin.dispatch.route``, ``trylast``) walks the config's
    routing tree with Alertmanager's semantics.
    """


# ---------------------------------------------------------------------------
# Muting: asked at each group flush, as Alertmanager's mute stages are.
# ---------------------------------------------------------------------------


@hookspec
def tocsin_mute(
    runtime: Facade, alert: Alert, route: Route | None, now: float
) -> MuteReason | list[MuteReason] | None:
    """Say whether ``alert`` is muted, and why.

    :param runtime: the :class:`tocsin.core.facade.Facade`.
    :param alert: a firing or resolved alert of a group being flushed (a copy).
    :param route: the group's route; None when the API asks for an alert's status
        outside any group (route-dependent muting, such as time intervals,
        answers None then).
    :param now: the wall-clock time of the flush (seconds since the epoch).
    :returns: a :class:`tocsin.core.mute.MuteReason`, a list of them, or None.

    All implementations are called; the alert is muted if any gives a reason.
    Called for every alert of a group at each flush, on the flush's task (so a
    silence made or expired after the alert arrived takes effect at the next
    flush), before an escalation step or a remediation, and when the API reports
    an alert's status. Must be synchronous and cheap. Reasons of kind
    ``silence`` and ``inhibition`` show in the API's ``silencedBy`` /
    ``inhibitedBy``. The built-ins are the silences, the inhibition rules and the
    routes' time intervals (``tocsin.mute.*``).
    """


@hookspec(warn_on_impl=DeprecationWarning(
    "tocsin_inhibit is deprecated and goes in the next release: implement tocsin_mute, "
    "which has the same arguments and answer"))
def tocsin_inhibit(
    runtime: Facade, alert: Alert, route: Route | None, now: float
) -> MuteReason | list[MuteReason] | None:
    """The old name of :func:`tocsin_mute`, which it was called for silences and time
    intervals too. Implementations are still called, exactly as those of
    ``tocsin_mute`` are, and registering one warns (DeprecationWarning).
    """


# ---------------------------------------------------------------------------
# Delivery: called by the dispatcher when an aggregation group flushes.
# ---------------------------------------------------------------------------


@hookspec
def tocsin_notify(runtime: Facade, notification: Notification) -> Awaitable[bool | None] | bool | None:
    """Deliver a flushed group's notification.

    :param runtime: the :class:`tocsin.core.facade.Facade`.
    :param notification: the group's receiver, group key and labels, its
        unmuted alerts at the flush (``alerts``), ``now``, and the route's
        intervals.
    :returns: False (or raise) when delivery failed: the group then keeps its
        resolved alerts and tries again at its next flush; True or None
        otherwise. May be async.

    All implementations run concurrently, on the flush's task; one raising does
    not stop the others. Not called when every alert of the group is muted. The
    built-in implementation (``tocsin.notify.delivery``) sends to every
    integration of ``notification.receiver``, each with its own
    notification-log check, retries and record.
    """


@hookspec
def tocsin_remediate(runtime: Facade, notification: Notification) -> Awaitable[None] | None:
    """Act on the firing alerts of a flushed group (roll back, restart a unit...).

    :param runtime: the :class:`tocsin.core.facade.Facade`.
    :param notification: as given to :func:`tocsin_notify`.
    :returns: None, or an awaitable (may be async).

    Called after :func:`tocsin_notify`, on the flush's task, for every flush that
    has firing alerts; implementations one after the other, one raising logged
    and skipped. Guards (cooldowns, approval, dry runs) are the implementation's
    business; the built-in engine (``tocsin.remediation.engine``) runs the
    remediations the group's route names.
    """


# ---------------------------------------------------------------------------
# Observation.
# ---------------------------------------------------------------------------


@hookspec
def tocsin_observe(runtime: Facade, event: Event) -> Awaitable[None] | None:
    """See every event on the bus (:mod:`tocsin.core.events`), in publication order.

    :param runtime: the :class:`tocsin.core.facade.Facade`.
    :param event: an alert received, updated, resolved, acknowledged; a group
        flushed; a notification sent or failed; the config reloaded...
    :returns: None, or an awaitable (may be async).

    Called on a dedicated bus subscriber's task, never from the publisher, so a
    slow observer delays only other observers (and, once the bounded queue is
    full, the publishers). Implementations one after the other; errors are
    logged.
    """


# ---------------------------------------------------------------------------
# The HTTP API.
# ---------------------------------------------------------------------------


@hookspec
def tocsin_register_routes(runtime: Facade) -> list[HTTPRoute]:
    """Add routes to tocsin's HTTP API, such as a channel's signed callbacks.

    :param runtime: the :class:`tocsin.core.facade.Facade`, for the handlers to use.
    :returns: a list of :class:`tocsin.core.routes.HTTPRoute`.

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
