"""Finding, loading and calling plugins.

Plugins come from the ``tocsin.plugins`` entry-point group (built-ins too).
One that fails to import is logged, remembered and skipped. Names listed in
``TOCSIN_DISABLE_PLUGINS`` (comma separated) or the config's
``plugins.disable`` are not loaded. ``TOCSIN_TRACE_HOOKS=1`` logs every hook call.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import pluggy
import structlog

from tocsin import hookspecs
from tocsin.core.hooks import call_each, call_impls, first_result, maybe_await, wanted_impls

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
        """A fast caller of the ``firstresult`` hook ``name`` (see :func:`tocsin.core.hooks.first_result`)."""
        return first_result(self, name)

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


def remediation_kinds(pm: PluginManager) -> dict[str, RemediationKind]:
    return _by_name(pm.hook.tocsin_remediation_kinds(), "remediation")


def channel_kinds(pm: PluginManager) -> dict[str, ChannelKind]:
    return _by_name(pm.hook.tocsin_channel_kinds(), "channel")


def _by_name(contributions: list[Any], what: str) -> dict[str, Any]:
    """The kinds the plugins contributed, by name; a name claimed twice keeps the first."""
    kinds: dict[str, Any] = {}
    for contributed in contributions:
        for kind in contributed or ():
            if kind.name in kinds and kinds[kind.name] is not kind:
                log.error(f"two plugins provide the same {what} kind; keeping the first", kind=kind.name)
                continue
            kinds[kind.name] = kind
    return kinds
