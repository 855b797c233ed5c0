"""The status page, ``/status``: what this tocsin runs and how it is doing.

Its version (and the Alertmanager API it speaks), when it started, whether it is ready
(as ``/-/ready`` answers: state loaded and the store taking writes), the last config
reload (as the ``tocsin_config_last_reload_*`` metrics say), the plugins found and
whether each loaded (as ``tocsin plugins list``), the storage (the URL without its
password, as the logs show it), and on PostgreSQL replicas the cluster: the leader, its
epoch and the replicas seen lately (``/api/v2/status``' ``cluster``, what ``tocsin
cluster status`` prints).
"""

from __future__ import annotations

import platform
from typing import Any

from aiohttp import web

from tocsin import __version__
from tocsin.core.routes import HTTPRoute
from tocsin.incidents.stats import humanize_duration
from tocsin.web.amv2.status import ALERTMANAGER_VERSION
from tocsin.web.dashboard.render import page
from tocsin.web.keys import RUNTIME

__all__ = ["routes", "status_context"]


def _readiness(rt: Any) -> tuple[bool, str]:
    """(ready, why not): what ``/-/ready`` answers."""
    if not rt.ready:
        return False, "starting or stopping: state not loaded"
    failure = rt.store.failure
    if failure is not None:
        return False, f"the store refuses writes: {failure}"
    return True, ""


def _storage(rt: Any) -> dict[str, Any]:
    storage = rt.config.storage
    where = storage.location
    out: dict[str, Any] = {"backend": where.kind, "where": str(where),
                           "retention": str(storage.retention),
                           "history_retention": str(storage.history_retention)}
    if where.kind == "sqlite":
        out["writer"] = storage.writer
        out["synchronous"] = storage.synchronous
    else:
        out["replicas"] = storage.replicas
    return out


def _plugins(rt: Any) -> list[dict[str, Any]]:
    return [{"name": i.name, "module": i.module, "distribution": i.distribution or "",
             "version": i.version or "", "loaded": i.loaded, "error": i.error or ""}
            for i in sorted(rt.hooks.infos, key=lambda i: i.name)]


async def status_context(rt: Any) -> dict[str, Any]:
    """What the page shows, as plain values."""
    now = rt.clock.now()
    ready, not_ready = _readiness(rt)
    reload_ok, loaded_at = rt.last_reload()
    cluster = await rt.leadership.cluster() if rt.leadership is not None else None
    return {
        "version": __version__, "api_version": ALERTMANAGER_VERSION,
        "python": platform.python_version(),
        "started_at": rt.started_at, "uptime": humanize_duration(now - rt.started_at),
        "ready": ready, "not_ready": not_ready, "leading": rt.leading,
        "reload_ok": reload_ok, "loaded_at": loaded_at, "config_source": rt.config.source or "",
        "plugins": _plugins(rt), "storage": _storage(rt), "cluster": cluster,
    }


async def status_page(request: web.Request) -> web.Response:
    return page(request, "status.html", "status", **await status_context(request.app[RUNTIME]))


def routes() -> list[HTTPRoute]:
    return [HTTPRoute("GET", "/status", status_page, access="read",
                      summary="Dashboard: version, uptime, plugins, config reload, storage, cluster")]
