"""Alertmanager API v2: alert groups, status, receivers."""

from __future__ import annotations

import platform
from typing import Any

import msgspec
import yaml
from aiohttp import web

from tocsin import __version__
from tocsin.core.models import labelset_key, sort_key
from tocsin.core.pacing import Pacer, encode_list_paced, sorted_paced
from tocsin.core.routes import HTTPRoute
from tocsin.core.timefmt import format_ts
from tocsin.web import json_list_response, json_response
from tocsin.web.amv2.alerts import AlertQuery, gettable
from tocsin.web.keys import RUNTIME

__all__ = ["ALERTMANAGER_VERSION", "mask_secrets", "routes"]

#: The Alertmanager release whose API v2 and behaviour tocsin follows.
ALERTMANAGER_VERSION = "0.25.0"

#: Keys whose values are secrets wherever they appear in a config document.
SECRET_KEYS = frozenset({
    "password", "credentials", "bearer_token", "secret", "api_key", "routing_key", "service_key",
    "auth_password", "auth_secret", "token", "api_url", "webhook_url", "signing_secret",
    "basic_auth_users", "webhook_secrets", "hmac_secret",
})
#: ... and keys ending like these (``smtp_auth_password``, ``slack_api_url``); ``*_file`` keys
#: hold paths, which are not.
SECRET_SUFFIXES = ("password", "secret", "secrets", "token", "_key", "credentials", "api_url", "webhook_url")
#: Under these list keys, ``url`` is a secret too (it often embeds a token), as Alertmanager has it.
SECRET_URL_PARENTS = frozenset({"webhook_configs", "slack_configs", "discord_configs", "msteams_configs",
                                "remediations"})


def is_secret_key(key: Any, parent: str = "") -> bool:
    if not isinstance(key, str) or key.endswith("_file"):
        return False
    return key in SECRET_KEYS or key.endswith(SECRET_SUFFIXES) or (
        key == "url" and parent in SECRET_URL_PARENTS)


def mask_secrets(data: Any, parent: str = "") -> Any:
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if is_secret_key(k, parent) and v not in (None, "", [], {}):
                out[k] = ({u: "<secret>" for u in v} if isinstance(v, dict)
                          else ["<secret>"] * len(v) if isinstance(v, list) else "<secret>")
            else:
                out[k] = mask_secrets(v, parent)
        return out
    if isinstance(data, list):
        return [mask_secrets(v, parent) for v in data]
    return data


def _mask_document(text: str) -> str:
    data = yaml.safe_load(text) or {}

    def walk(node: Any, key: str = "") -> Any:
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list) and (key.endswith("_configs") or key in SECRET_URL_PARENTS):
            return [mask_secrets(item, key) for item in node]
        if isinstance(node, list):
            return [walk(v, key) for v in node]
        return node

    return yaml.safe_dump(mask_secrets(walk(data)), sort_keys=False, allow_unicode=True)


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
    return json_response({
        "cluster": {"status": "disabled", "peers": []},
        # ``version`` is the Alertmanager API tocsin speaks (amtool warns when its major and
        # minor differ from its own); tocsin's own version is in ``revision``.
        "versionInfo": {
            "version": ALERTMANAGER_VERSION, "revision": f"tocsin {__version__}", "branch": "tocsin",
            "buildUser": "", "buildDate": "", "goVersion": f"python{platform.python_version()}",
        },
        "config": {"original": _mask_document(rt.config.original)},
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
