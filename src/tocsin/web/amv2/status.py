"""Alertmanager API v2: alert groups, status, receivers."""

from __future__ import annotations

import platform
from typing import Any

import msgspec
from aiohttp import web

from tocsin import __version__
from tocsin.core.models import labelset_key, sort_key
from tocsin.core.pacing import Pacer, encode_list_paced, sorted_paced
from tocsin.core.routes import HTTPRoute
from tocsin.core.timefmt import format_ts
from tocsin.web import json_list_response, json_response
from tocsin.web.amv2.alerts import AlertQuery, gettable
from tocsin.web.amv2.config_show import alertmanager_config
from tocsin.web.keys import RUNTIME

__all__ = ["ALERTMANAGER_VERSION", "routes"]

#: The Alertmanager release whose API v2 and behaviour tocsin follows.
ALERTMANAGER_VERSION = "0.25.0"


async def get_groups(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    query = AlertQuery.from_request(request)
    if isinstance(query, web.Response):
        return query
    now = rt.clock.now()
    pacer = Pacer()  # big groups: other requests are answered meanwhile
    groups = []
    receivers: dict[str, list[str]] = {}
    items: dict[str, dict[str, Any]] = {}
    # Copies, of the groups and of each one's alerts: the dispatcher changes them while this pauses.
    for group in list(rt.dispatcher.groups.values()):
        receiver = group.route.receiver
        if query.receiver is not None and not query.receiver.search(receiver):
            continue
        alerts = []
        for fp in list(group.alerts):
            await pacer.tick()
            alert = rt.alerts.get(fp)
            if alert is None:
                continue
            item = items.get(fp)
            if item is None:
                item = items[fp] = gettable(rt, alert, now, receivers=[])
            if not query.wants(alert, item, now):
                continue
            receivers.setdefault(fp, []).append(receiver)
            alerts.append((alert, item))
        if alerts:
            alerts = await sorted_paced(alerts, lambda pair: sort_key(pair[0]), pacer)
            groups.append((group.labels, receiver, [item for _, item in alerts]))
    for fp, names in receivers.items():  # Alertmanager sorts them by name here
        items[fp]["receivers"] = [{"name": n} for n in sorted(names)]
    groups.sort(key=lambda g: (labelset_key(g[0]), g[1]))
    answer = []
    for labels, receiver, members in groups:
        encoded = msgspec.Raw(await encode_list_paced(members, pacer))
        answer.append({"labels": labels, "receiver": {"name": receiver}, "alerts": encoded})
    return await json_list_response(answer, pacer)


async def get_status(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    # Replicas on PostgreSQL: the replicas seen lately, as Alertmanager lists its peers.
    cluster = await rt.leadership.cluster() if rt.leadership is not None \
        else {"status": "disabled", "peers": []}
    return json_response({
        "cluster": cluster,
        # ``version`` is the Alertmanager API tocsin speaks (amtool warns when its major and
        # minor differ from its own); tocsin's own version is in ``revision``.
        "versionInfo": {
            "version": ALERTMANAGER_VERSION, "revision": f"tocsin {__version__}", "branch": "tocsin",
            "buildUser": "", "buildDate": "", "goVersion": f"python{platform.python_version()}",
        },
        "config": {"original": alertmanager_config(rt.config)},
        "uptime": format_ts(rt.started_at),
    })


async def get_receivers(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    return json_response([{"name": name} for name in rt.config.receivers])


def routes() -> list[HTTPRoute]:
    return [
        HTTPRoute("GET", "/api/v2/alerts/groups", get_groups, access="read", summary="Alert groups"),
        HTTPRoute("GET", "/api/v2/status", get_status, access="read", summary="Status, and the config"),
        HTTPRoute("GET", "/api/v2/receivers", get_receivers, access="read", summary="Receiver names"),
    ]
