"""Finding, loading and calling plugins.

Plugins come from the ``tocsin.plugins`` entry-point group (built-ins too).
One that fails to import is logged, remembered and skipped. Names listed in
``TOCSIN_DISABLE_PLUGINS`` (comma separated) or the config's
``plugins.disable`` are not loaded. ``TOCSIN_TRACE_HOOKS=1`` logs every hook call.

A reload looks again: the plugins installed since start (and those that failed to
import before) are loaded then; one already loaded is never imported again, so new
code of an upgraded plugin needs a restart.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
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

    def load_entry_points(self, disable: Iterable[str] = (), *, reloading: bool = False) -> list[str]:
        """Register the entry points' plugins that are not registered yet; the names of
        those registered now. Called again (``reloading``), it finds what was installed
        since the last call (the import system's caches are cleared first); a plugin
        imported before is not imported again."""
        importlib.invalidate_caches()
        disabled = set(disable) | {
            n.strip() for n in os.environ.get("TOCSIN_DISABLE_PLUGINS", "").split(",") if n.strip()
        }
        added: list[str] = []
        # A distribution's name and version, read once: each read parses its metadata,
        # and tocsin's own entry points are thirty.
        named: dict[int, tuple[str | None, str | None]] = {}
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in disabled or self.has_plugin(ep.name):
                continue
            if id(ep.dist) not in named:
                named[id(ep.dist)] = (ep.dist.name, ep.dist.version) if ep.dist is not None else (None, None)
            info = self._load(ep, reloading, *named[id(ep.dist)])
            if info.loaded:
                added.append(ep.name)
            self._remember(info)
        return added

    def _remember(self, info: PluginInfo) -> None:
        """Keep ``info``, in place of what an earlier attempt found under its name."""
        for i, old in enumerate(self.infos):
            if old.name == info.name:
                self.infos[i] = info
                return
        self.infos.append(info)

    def _load(self, ep: EntryPoint, reloading: bool, dist: str | None, version: str | None) -> PluginInfo:
        try:
            self.register(ep.load(), name=ep.name)
        except Exception as exc:  # a broken plugin must not stop the daemon
            err = f"{type(exc).__name__}: {exc}"
            if reloading and isinstance(exc, ModuleNotFoundError) and exc.name == ep.module.split(".")[0]:
                # Its metadata is found but not its code: an editable install (a .pth
                # file) or a new directory on the path, which Python reads only at start.
                err += " (installed after tocsin started? restart tocsin to load it)"
            log.error("plugin failed to load; skipped", plugin=ep.name, error=err)
            return PluginInfo(ep.name, ep.value, dist, version, err)
        return PluginInfo(ep.name, ep.value, dist, version)

    def failures(self) -> dict[str, str]:
        """The plugins found that failed to load, with the error."""
        return {i.name: i.error for i in self.infos if i.error is not None}

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
