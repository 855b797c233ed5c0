"""Finding, loading and calling plugins.

Plugins come from the ``tocsin.plugins`` entry-point group (built-ins too).
One that fails to import is logged, remembered and skipped. Names listed in
``TOCSIN_DISABLE_PLUGINS`` (comma separated) or the config's
``plugins.disable`` are not loaded. ``TOCSIN_TRACE_HOOKS=1`` logs every hook call.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import pluggy
import structlog

from tocsin import hookspecs

if TYPE_CHECKING:
    from tocsin.channels import ChannelKind
    from tocsin.remediation import RemediationKind

ENTRY_POINT_GROUP = "tocsin.plugins"
log = structlog.get_logger("tocsin.plugins")

__all__ = [
    "ENTRY_POINT_GROUP", "PluginInfo", "PluginManager", "call_each", "call_impls", "channel_kinds",
    "maybe_await", "remediation_kinds", "wanted_impls",
]


@dataclass(frozen=True, slots=True)
class PluginInfo:
    name: str
    module: str
    distribution: str | None
    version: str | None
    error: str | None = None

    @property
    def loaded(self) -> bool:
        return self.error is None


class PluginManager(pluggy.PluginManager):
    def __init__(self) -> None:
        super().__init__("tocsin")
        self.add_hookspecs(hookspecs)
        self.infos: list[PluginInfo] = []
        self.tracing = bool(os.environ.get("TOCSIN_TRACE_HOOKS"))
        if self.tracing:
            self.trace.root.setwriter(lambda msg: log.debug("hook", trace=msg.rstrip()))
            self.enable_tracing()

    def first_result(self, name: str) -> Callable[..., Any]:
        """A caller for the ``firstresult`` hook ``name`` that skips pluggy's machinery
        when one plain implementation is all there is (the common case: the built-in
        dedupe and route), which is most of a hook call's cost on the ingest path.
        Otherwise pluggy's own caller. Ask again after plugins change."""
        caller = getattr(self.hook, name)
        impls = caller.get_hookimpls()
        if self.tracing or len(impls) != 1 or impls[0].hookwrapper or impls[0].wrapper:
            return caller
        fn, names = impls[0].function, impls[0].argnames
        return lambda **kwargs: fn(*[kwargs[n] for n in names])

    def load_entry_points(self, disable: Iterable[str] = ()) -> None:
        disabled = set(disable) | {
            n.strip() for n in os.environ.get("TOCSIN_DISABLE_PLUGINS", "").split(",") if n.strip()
        }
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in disabled or self.has_plugin(ep.name):
                continue
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            try:
                plugin = ep.load()
                self.register(plugin, name=ep.name)
            except Exception as exc:  # a broken plugin must not stop the daemon
                err = f"{type(exc).__name__}: {exc}"
                log.error("plugin failed to load; skipped", plugin=ep.name, error=err)
                self.infos.append(PluginInfo(ep.name, ep.value, dist, version, err))
                continue
            self.infos.append(PluginInfo(ep.name, ep.value, dist, version))

    def has_impls(self, hook_name: str) -> bool:
        return bool(getattr(self.hook, hook_name).get_hookimpls())


async def maybe_await(value: Any) -> Any:
    """Hooks may answer with a value or an awaitable; give back the value."""
    if inspect.isawaitable(value):
        return await value
    return value


def call_impls(caller: pluggy.HookCaller, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call every implementation of a hook, in pluggy's order, each on its own: one
    that raises gives its exception as its answer instead of stopping the others.
    Returns ``(plugin name, answer or exception)``; answers may be awaitables."""
    impls = caller.get_hookimpls()
    if any(i.hookwrapper or i.wrapper for i in impls):  # wrappers need pluggy's own loop
        try:
            return [("?", res) for res in caller(**kwargs)]
        except Exception as exc:
            return [("?", exc)]
    out: list[tuple[str, Any]] = []
    for impl in reversed(impls):
        try:
            out.append((impl.plugin_name, impl.function(*(kwargs[a] for a in impl.argnames))))
        except Exception as exc:
            out.append((impl.plugin_name, exc))
    return out


async def call_each(
    caller: pluggy.HookCaller,
    on_error: Callable[[str, BaseException], None],
    *,
    timeout: float | None = None,
    impls: list[pluggy.HookImpl] | None = None,
    **kwargs: Any,
) -> list[Any]:
    """Call and await the implementations of a hook one after the other; one that
    raises (at once or when awaited), or whose awaitable does not finish within
    ``timeout``, is reported to ``on_error`` and skipped; the others still run.
    ``impls`` (from :func:`wanted_impls`) limits the call to those implementations.
    Returns the answers that came back."""
    chosen = caller.get_hookimpls() if impls is None else impls
    if any(i.hookwrapper or i.wrapper for i in chosen):
        pending = call_impls(caller, **kwargs)
    else:
        pending = [(i.plugin_name, i) for i in reversed(chosen)]
    results = []
    for name, item in pending:
        try:
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, pluggy.HookImpl):
                item = item.function(*(kwargs[a] for a in item.argnames))
            if timeout is not None and inspect.isawaitable(item):
                results.append(await asyncio.wait_for(item, timeout))
            else:
                results.append(await maybe_await(item))
        except TimeoutError:
            on_error(name, TimeoutError(f"did not finish within {timeout:g}s"))
        except Exception as exc:
            on_error(name, exc)
    return results


def wanted_impls(caller: pluggy.HookCaller, runtime: Any) -> list[pluggy.HookImpl]:
    """The implementations that have something to do: a plugin may define
    ``wanted(runtime) -> bool`` to be left out (an enricher with no config)."""
    out = []
    for impl in caller.get_hookimpls():
        wanted = getattr(impl.plugin, "wanted", None)
        if wanted is None or wanted(runtime):
            out.append(impl)
    return out


def remediation_kinds(pm: PluginManager) -> dict[str, RemediationKind]:
    kinds: dict[str, RemediationKind] = {}
    for contributed in pm.hook.tocsin_remediation_kinds():
        for kind in contributed or ():
            if kind.name in kinds and kinds[kind.name] is not kind:
                log.error("two plugins provide the same remediation kind; keeping the first",
                          kind=kind.name)
                continue
            kinds[kind.name] = kind
    return kinds


def channel_kinds(pm: PluginManager) -> dict[str, ChannelKind]:
    kinds: dict[str, ChannelKind] = {}
    for contributed in pm.hook.tocsin_channel_kinds():
        for kind in contributed or ():
            if kind.name in kinds and kinds[kind.name] is not kind:
                log.error("two plugins provide the same channel kind; keeping the first",
                          kind=kind.name)
                continue
            kinds[kind.name] = kind
    return kinds
