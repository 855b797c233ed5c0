"""The hook stages of a group flush, as the runtime hands them to the dispatcher.

A flush asks the mute hooks about each of its alerts, hands the unmuted ones to
``tocsin_notify`` and, when some fire, calls ``tocsin_remediate``. In an alert
storm (a group per alert) these calls are made thousands of times a second, so
each is planned once rather than worked out at every call:

- the mute hooks are called by position (:func:`tocsin.core.hooks.positional_results`);
- ``tocsin_notify`` with delivery as its only implementation (the usual case) is
  called and awaited in place;
- ``tocsin_remediate`` with the remediation engine as its only implementation is
  not called for a flush of a route that names no remediation (the engine would
  return at once): the routes that name one are known from the config.

Each gives the same answers, in the same order, as calling the hooks one by one,
and a plugin that implements a hook (or wraps it) is called as before.
"""

from __future__ import annotations

import inspect
from typing import Any

import structlog

from tocsin.core.facade import Facade
from tocsin.core.hooks import call_each, call_impls, positional_results, settled
from tocsin.core.models import Alert, Notification
from tocsin.core.mute import MuteReason
from tocsin.dispatch.route import Route
from tocsin.plugins import PluginManager
from tocsin.remediation import engine

__all__ = ["MUTE_ARGS", "FlushHooks"]

log = structlog.get_logger("tocsin.runtime")

#: The mute hooks' arguments, in the order they are passed.
MUTE_ARGS = ("runtime", "alert", "route", "now")


class FlushHooks:
    """``muted``, ``notify`` and ``remediate`` for the dispatcher (and the others that ask
    the mute hooks). :meth:`plan` again after plugins change, :meth:`configure` after the
    routing tree does."""

    def __init__(self, hooks: PluginManager, facade: Facade) -> None:
        self.hooks = hooks
        self.facade = facade
        #: The mute hooks that have implementations: ``tocsin_mute``, and its old name.
        self.muters: list[Any] = []
        #: Ids of the routes that name a remediation.
        self._remediating: frozenset[str] = frozenset()
        self.plan()

    def plan(self) -> None:
        self.muters = [positional_results(self.hooks, name, MUTE_ARGS)
                       for name in ("tocsin_mute", "tocsin_inhibit") if self.hooks.has_impls(name)]

    def configure(self, root: Route) -> None:
        self._remediating = frozenset(r.id for r in root.walk() if r.opts.remediations)

    def muted(self, alert: Alert, route: Route | None, now: float) -> list[MuteReason]:
        reasons: list[MuteReason] = []
        for caller in self.muters:
            for res in caller(self.facade, alert, route, now):
                if isinstance(res, list):
                    reasons.extend(res)
                elif res is not None:
                    reasons.append(res)
        return reasons

    async def notify(self, n: Notification) -> bool:
        caller = self.hooks.hook.tocsin_notify
        impls = caller.get_hookimpls()
        if len(impls) == 1 and not (impls[0].hookwrapper or impls[0].wrapper) \
                and tuple(impls[0].argnames) == ("runtime", "notification"):
            return await self._notify_one(impls[0].function, n)
        # Each on its own: one raising must not keep the others (delivery among them) from running.
        outcomes = await settled([r for _, r in call_impls(caller, runtime=self.facade, notification=n)])
        ok = True
        for out in outcomes:
            if isinstance(out, BaseException):
                log.error("notify hook failed", group_key=n.group_key, error=repr(out))
                ok = False
            elif out is False:
                ok = False
        return ok

    async def _notify_one(self, fn: Any, n: Notification) -> bool:
        """The one implementation, called and awaited in place, answering as :meth:`notify`."""
        try:
            out = fn(self.facade, n)
            if isinstance(out, BaseException):
                raise out
            if inspect.isawaitable(out):
                out = await out
            if isinstance(out, BaseException):
                raise out
        except Exception as exc:
            log.error("notify hook failed", group_key=n.group_key, error=repr(exc))
            return False
        return out is not False

    async def remediate(self, n: Notification) -> None:
        """``tocsin_remediate`` for a flush with firing alerts; one failing skips only itself."""
        caller = self.hooks.hook.tocsin_remediate
        impls = caller.get_hookimpls()
        if not impls:
            return
        if n.route_id not in self._remediating and all(
                i.function is engine.tocsin_remediate and not (i.hookwrapper or i.wrapper) for i in impls):
            return  # the engine alone, and this route names no remediation: it would do nothing

        def failed(plugin: str, exc: BaseException) -> None:
            log.error("remediate hook failed", plugin=plugin, group_key=n.group_key, exc_info=exc)

        await call_each(caller, failed, runtime=self.facade, notification=n, impls=impls)
