"""PagerDuty's v3 webhooks calling tocsin back.

``POST /api/tocsin/v1/integrations/pagerduty/webhook``
    A PagerDuty v3 webhook subscription's URL. ``X-PagerDuty-Signature`` is a
    comma-separated list of ``v1=<hex HMAC-SHA256(secret, raw body)>``; one of them
    must match one of ``integrations.pagerduty.webhook_secrets`` (several while a
    secret is rotated; ``webhook_secret_file`` holds one a line). An incident event's
    ``event.data.incident_key`` is the dedup key tocsin sent (the SHA-256 of a group
    key, :func:`tocsin.channels.pagerduty.channel.dedup_key`), so ``incident.acknowledged`` /
    ``incident.unacknowledged`` / ``incident.resolved`` acknowledge / unacknowledge /
    resolve the open alerts of that group, as ``event.agent.summary`` (else
    ``pagerduty``), source ``pagerduty``. Other event types are answered 200 and
    ignored. The answer is ``{"matched": <open alerts of the group>, "changed": <alerts
    changed>}``; an unknown key is matched 0 (still 200: PagerDuty would retry). The last
    10,000 event ids (else ``X-Webhook-Id`` headers) are remembered, so a redelivered
    event changes nothing.

The route is open (PagerDuty cannot send a token): the signature is the check. The
secrets never appear in answers or logs; a configured secret file that cannot be
read is a 500 and an error in the log.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from aiohttp import web

from tocsin.channels.inbound import (
    INBOUND,
    PREFIX,
    Inbound,
    SecretUnavailable,
    change_all,
    read_secrets,
    same_secret,
)
from tocsin.channels.pagerduty.channel import dedup_key
from tocsin.core.routes import HTTPRoute, error_answers, json_answer, json_body, json_error, json_response

if TYPE_CHECKING:
    from tocsin.core.facade import Facade

__all__ = ["EVENTS", "PATH", "RecentIds", "open_alerts_of", "routes", "signature_ok"]

log = structlog.get_logger("tocsin.integrations")

PATH = f"{PREFIX}/pagerduty/webhook"

#: PagerDuty event ids remembered against redeliveries.
REMEMBERED_EVENTS = 10_000
#: PagerDuty event type -> what it does to the group's alerts.
EVENTS = {"incident.acknowledged": "ack", "incident.unacknowledged": "unack",
          "incident.resolved": "resolve"}

_any_dec = msgspec.json.Decoder()


class RecentIds:
    """The last ``limit`` ids seen, oldest forgotten first."""

    def __init__(self, limit: int = REMEMBERED_EVENTS) -> None:
        self.limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, key: str) -> bool:
        """Remember ``key``; False if it was remembered already."""
        if key in self._ids:
            return False
        self._ids[key] = None
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)
        return True

    def discard(self, key: str) -> None:
        self._ids.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._ids

    def __len__(self) -> int:
        return len(self._ids)


def signature_ok(secrets: list[str], header: str, body: bytes) -> bool:
    """Whether any ``v1=`` signature of the header is the HMAC of the body under any secret."""
    given = [s.strip() for s in header.split(",") if s.strip().startswith("v1=")]
    ok = False
    for secret in secrets:  # every pair, not stopping at a match
        expected = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        for sig in given:
            ok |= same_secret(expected, sig)
    return ok


def open_alerts_of(inbound: Inbound, key: str) -> tuple[bool, list[str]]:
    """Whether a group has dedup key ``key``, and the fingerprints of its open alerts."""
    fps: dict[str, None] = {}
    found = False
    for group in inbound.dispatcher.groups.values():
        if dedup_key(group.key) == key:
            found = True
            fps.update(group.alerts)
    return found, [fp for fp in fps if (inc := inbound.lifecycle.get(fp)) is not None and inc.open]


def _actor(event: dict[str, Any]) -> str:
    agent = event.get("agent")
    summary = agent.get("summary") if isinstance(agent, dict) else None
    return summary.strip()[:200] if isinstance(summary, str) and summary.strip() else "pagerduty"


async def _event(inbound: Inbound, event: dict[str, Any], action: str, seen: RecentIds,
                 webhook_id: str) -> web.Response:
    # PagerDuty repeats both the event id and the X-Webhook-Id header when it redelivers.
    event_id: str = event["id"] if isinstance(event.get("id"), str) and event["id"] else webhook_id
    if event_id and not seen.add(event_id):
        log.info("pagerduty event delivered again; ignored", event_id=event_id)
        return json_response({"matched": 0, "changed": 0, "duplicate": True})
    data = event.get("data")
    key = data.get("incident_key") if isinstance(data, dict) else None
    found, fps = open_alerts_of(inbound, key.strip()) if isinstance(key, str) and key.strip() else (False, [])
    if not fps:
        log.info("pagerduty event matches no open alert" if found else
                 "pagerduty event for an incident key of no tocsin group",
                 event_type=event.get("event_type"), event_id=event_id, incident_key=key)
        return json_response({"matched": 0, "changed": 0})
    actor = _actor(event)
    tally = await change_all(inbound.lifecycle, action, fps, by=actor, source="pagerduty")
    log.info("pagerduty event", event_type=event.get("event_type"), event_id=event_id, by=actor,
             matched=len(fps), changed=tally.changed, fingerprints=list(fps)[:20])
    if tally.failed:
        seen.discard(event_id)  # let PagerDuty's retry try again
        return json_error(503, "not stored; PagerDuty will retry", matched=len(fps), changed=tally.changed)
    return json_response({"matched": len(fps), "changed": tally.changed})


def routes(runtime: Facade) -> list[HTTPRoute]:
    """The webhook subscription's URL, acting through ``runtime`` (the hooks' facade); it
    remembers its own event ids."""
    seen = RecentIds()

    async def webhook(request: web.Request) -> web.Response:
        cfg = runtime.config.document.integrations.pagerduty
        if not cfg.webhook_secrets and not cfg.webhook_secret_file:
            return json_error(403, "PagerDuty webhooks are not configured")
        try:
            secrets = read_secrets(cfg.webhook_secrets, cfg.webhook_secret_file, "pagerduty webhook secret")
        except SecretUnavailable:
            return json_error(500, "the PagerDuty webhook secret cannot be read (see tocsin's log)")
        body = await request.read()
        if not signature_ok(secrets, request.headers.get("X-PagerDuty-Signature", ""), body):
            log.warning("pagerduty webhook refused", reason="invalid signature", remote=request.remote)
            return json_error(401, "invalid signature")
        doc = json_body(_any_dec, body, "invalid webhook")
        if isinstance(doc, web.Response):
            return doc
        event = doc.get("event") if isinstance(doc, dict) else None
        if not isinstance(event, dict):
            return json_error(400, "expected a v3 webhook: an object with an event")
        action = EVENTS.get(str(event.get("event_type")))
        if action is None:
            return json_response({"matched": 0, "changed": 0, "ignored": event.get("event_type")})
        return await _event(runtime[INBOUND], event, action, seen, request.headers.get("X-Webhook-Id", ""))

    # open: PagerDuty cannot send a token; the handler checks PagerDuty's signature.
    return [HTTPRoute(
        "POST", PATH, webhook, access="open", summary="PagerDuty v3 webhooks (signed)",
        openapi={"responses": {"200": json_answer({"type": "object"}), **error_answers(400, 401, 403)}},
    )]
