"""Alertmanager API v2: the alert endpoints."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from tocsin.core.jsondecode import decode, split_error
from tocsin.core.matchers import Matcher, MatcherError, compile_anchored, matches_all, parse_matchers
from tocsin.core.models import Alert, PostableAlert
from tocsin.core.pacing import Pacer
from tocsin.core.routes import HTTPRoute
from tocsin.core.timefmt import format_ts
from tocsin.ingest.pipeline import AlertError
from tocsin.runtime import Runtime
from tocsin.store import StorageError
from tocsin.web import json_list_response, muting
from tocsin.web.amv2.errors import am_error, coded_error
from tocsin.web.keys import RUNTIME
from tocsin.web.limits import split_by_limits, too_many_message

__all__ = ["AlertQuery", "decode_alerts", "filter_matchers", "gettable", "routes"]

_batch_dec = msgspec.json.Decoder(list[PostableAlert])
_raw_dec = msgspec.json.Decoder(list[msgspec.Raw])
_one_dec = msgspec.json.Decoder(PostableAlert)


def decode_alerts(body: bytes) -> tuple[list[tuple[int, PostableAlert]], list[AlertError]]:
    """Decode a batch; on a bad item, decode item by item so the good ones are kept."""
    try:
        return list(enumerate(decode(_batch_dec, body))), []
    except msgspec.ValidationError:
        pass  # at least one bad alert (or not a list): sort them out below
    try:
        raws = decode(_raw_dec, body)
    except msgspec.ValidationError:
        raise ValueError("expected a JSON array of alerts") from None
    good: list[tuple[int, PostableAlert]] = []
    bad: list[AlertError] = []
    for i, raw in enumerate(raws):
        try:
            good.append((i, decode(_one_dec, raw)))
        except msgspec.ValidationError as exc:
            field, msg = split_error(exc)
            bad.append(AlertError(i, field or "alert", msg))
    return good, bad


async def post_alerts(request: web.Request) -> web.Response:
    """Alertmanager's answers: 200; 400 with a JSON string naming each invalid alert by
    index and field (the valid ones are stored, as Alertmanager stores them); 422 when an
    alert lacks a required field (Alertmanager then stores none of the batch; tocsin stores
    the valid ones all the same)."""
    rt = request.app[RUNTIME]
    body = await request.read()
    try:
        good, bad = decode_alerts(body)
    except (msgspec.DecodeError, ValueError) as exc:
        return coded_error(400, f'parsing alerts body from "" failed, because {exc}')
    limits = rt.config.server.limits
    refused = too_many_message(len(good) + len(bad), limits)
    if refused is not None:
        return am_error(413, refused)
    good, over = split_by_limits(good, limits)
    try:
        result = await rt.ingester.ingest(good)
    except StorageError as exc:
        return am_error(503, f"alerts not stored: {exc}")
    missing = next((e for e in bad if e.message.startswith("Object missing required field")), None)
    if missing is not None:  # go-swagger's words for it
        return coded_error(422, f"{missing.index}.{missing.field} in body is required", 602)
    errors = sorted(bad + over + result.errors, key=lambda e: e.index)
    if errors:
        more = f"; and {len(errors) - 20} more" if len(errors) > 20 else ""
        return am_error(400, f"{len(errors)} invalid alert(s); {result.accepted} accepted: "
                             + "; ".join(str(e) for e in errors[:20]) + more)
    return web.Response(status=200)


def gettable(
    rt: Runtime, alert: Alert, now: float, receivers: list[str] | None = None
) -> dict[str, Any]:
    reasons = muting.muted(rt, alert, now)
    silenced = [i for r in reasons if r.kind == "silence" for i in r.ids]
    inhibited = [i for r in reasons if r.kind == "inhibition" for i in r.ids]
    if receivers is None:  # in route-tree order, once per matching route, as Alertmanager lists them
        receivers = [route.receiver for route in rt.routes_for(alert)]
    out: dict[str, Any] = {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": format_ts(alert.starts_at),
        "endsAt": format_ts(alert.ends_at),
        "updatedAt": format_ts(alert.updated_at),
        "fingerprint": alert.fingerprint,
        "receivers": [{"name": r} for r in receivers],
        "status": {
            "state": "suppressed" if silenced or inhibited else "active",
            "silencedBy": silenced,
            "inhibitedBy": inhibited,
        },
    }
    if alert.generator_url:  # Alertmanager leaves the field out when empty
        out["generatorURL"] = alert.generator_url
    return out


def filter_matchers(request: web.Request) -> list[Matcher] | web.Response:
    """The ``filter=`` query parameters, one matcher each as Alertmanager reads them (a
    list in braces is refused there too), or its 400 naming the bad one."""
    matchers: list[Matcher] = []
    for f in request.query.getall("filter", []):
        try:
            parsed = [] if f.lstrip().startswith("{") else parse_matchers(f)
        except MatcherError as exc:
            return am_error(400, str(exc))
        if len(parsed) != 1:
            return am_error(400, f"bad matcher format: {f}")
        matchers.extend(parsed)
    return matchers


#: What go-swagger reads as true in a boolean query parameter; anything else is false, and
#: an empty value is the default (true).
_TRUE = frozenset({"true", "1", "yes", "ok", "y", "on", "selected", "checked", "t", "enabled"})


@dataclass(frozen=True, slots=True)
class AlertQuery:
    """The filters ``GET /api/v2/alerts`` and ``/alerts/groups`` share."""

    matchers: list[Matcher]
    active: bool
    silenced: bool
    inhibited: bool
    unprocessed: bool
    receiver: re.Pattern[str] | None

    @classmethod
    def from_request(cls, request: web.Request) -> AlertQuery | web.Response:
        matchers = filter_matchers(request)
        if isinstance(matchers, web.Response):
            return matchers
        flags = {}
        for name in ("active", "silenced", "inhibited", "unprocessed"):
            flags[name] = (request.query.get(name, "").strip().lower() or "true") in _TRUE
        receiver = None
        if "receiver" in request.query:
            try:
                receiver = compile_anchored(request.query["receiver"])
            except MatcherError as exc:
                return am_error(400, f"failed to parse receiver param: {exc}")
        return cls(matchers=matchers, receiver=receiver, **flags)

    def wants(self, alert: Alert, item: dict[str, Any], now: float) -> bool:
        """Everything but the receiver filter, which needs the receivers."""
        # Alertmanager hides an alert once endsAt is strictly before now.
        if alert.ends_at < now or not matches_all(self.matchers, alert.labels):
            return False
        status = item["status"]
        if status["silencedBy"] and not self.silenced:
            return False
        if status["inhibitedBy"] and not self.inhibited:
            return False
        return not (status["state"] == "active" and not self.active)


async def get_alerts(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    query = AlertQuery.from_request(request)
    if isinstance(query, web.Response):
        return query
    now = rt.clock.now()
    pacer = Pacer()  # tens of thousands of alerts: other requests are answered meanwhile
    out = []
    for alert in list(rt.alerts):  # a copy: ingest may change the alerts while this pauses
        await pacer.tick()
        if alert.ends_at < now or not matches_all(query.matchers, alert.labels):
            continue  # cheap checks before computing the status
        item = gettable(rt, alert, now)
        if not query.wants(alert, item, now):
            continue
        if query.receiver is not None and not any(
            query.receiver.search(r["name"]) for r in item["receivers"]
        ):
            continue
        out.append(item)
    out.sort(key=lambda a: a["fingerprint"])
    return await json_list_response(out, pacer)


def routes() -> list[HTTPRoute]:
    return [
        HTTPRoute("POST", "/api/v2/alerts", post_alerts, access="ingest", summary="Post alerts"),
        HTTPRoute("GET", "/api/v2/alerts", get_alerts, access="read", summary="Alerts not yet resolved"),
    ]
