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
    changed>}``; an unknown key is matched 0 (still 200: PagerDuty would retry).

    Replays: an event's ``event.occurred_at`` (ISO 8601) must be at most
    ``integrations.pagerduty.max_event_age`` (1h) old and at most 5 minutes ahead of
    tocsin's clock, else it is refused (400, ``field: event.occurred_at``; nothing
    changes). Each event's id (``event.id``; the SHA-256 of the body when it has none) is
    recorded in the database before the event acts (:mod:`tocsin.channels.handled`), so the
    same event again, PagerDuty's redelivery or signed bytes replayed after a restart, is
    answered 200 ``{"matched": 0, "changed": 0, "duplicate": true}`` and changes nothing.
    Ids are kept for ``storage.retention``, and never less than ``max_event_age`` and the
    5 minutes. An event that could not be recorded, or whose change could not be stored,
    is answered 503 (PagerDuty retries it).

The route is open (PagerDuty cannot send a token): the signature is the check. The
secrets never appear in answers or logs; a configured secret file that cannot be
read is a 500 and an error in the log.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from aiohttp import web

from tocsin.channels.handled import MAX_SKEW
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
from tocsin.core.durations import Duration
from tocsin.core.routes import HTTPRoute, error_answers, json_answer, json_body, json_error, json_response
from tocsin.core.timefmt import from_datetime
from tocsin.store import StorageError

if TYPE_CHECKING:
    from tocsin.core.facade import Facade

__all__ = ["EVENTS", "PATH", "SOURCE", "event_id", "open_alerts_of", "routes", "signature_ok", "time_refusal"]

log = structlog.get_logger("tocsin.integrations")

PATH = f"{PREFIX}/pagerduty/webhook"

#: The source of PagerDuty's events among the callbacks handled.
SOURCE = "pagerduty"
#: PagerDuty event type -> what it does to the group's alerts.
EVENTS = {"incident.acknowledged": "ack", "incident.unacknowledged": "unack",
          "incident.resolved": "resolve"}

_any_dec = msgspec.json.Decoder()


def signature_ok(secrets: list[str], header: str, body: bytes) -> bool:
    """Whether any ``v1=`` signature of the header is the HMAC of the body under any secret."""
    given = [s.strip() for s in header.split(",") if s.strip().startswith("v1=")]
    ok = False
    for secret in secrets:  # every pair, not stopping at a match
        expected = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        for sig in given:
            ok |= same_secret(expected, sig)
    return ok


def event_id(event: dict[str, Any], body: bytes) -> str:
    """What identifies an event: its ``id``, else the SHA-256 of the signed body (the
    unsigned ``X-Webhook-Id`` header could be changed by whoever replays the body)."""
    given = event.get("id")
    if isinstance(given, str) and given.strip():
        return given.strip()[:200]
    return "sha256:" + hashlib.sha256(body).hexdigest()


def time_refusal(event: dict[str, Any], now: float, max_age: Duration) -> str | None:
    """Why ``event.occurred_at`` rules the event out (a message safe to answer), or None."""
    value = event.get("occurred_at")
    try:
        at = from_datetime(datetime.fromisoformat(value)) if isinstance(value, str) else None
    except (ValueError, OverflowError):
        at = None
    if at is None:
        return "expected an ISO 8601 time"
    if at < now - max_age:
        return f"older than integrations.pagerduty.max_event_age ({max_age}); refused as a replay"
    if at > now + MAX_SKEW:
        return f"more than {Duration(MAX_SKEW)} ahead of tocsin's clock; refused"
    return None


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


async def _claim(inbound: Inbound, ident: str, now: float) -> web.Response | None:
    """The answer when the event must not act (handled before, or not recordable), else None."""
    try:
        if await inbound.handled.claim(SOURCE, ident, now):
            return None
    except StorageError as exc:
        log.error("pagerduty event not recorded; refused for PagerDuty to retry", event_id=ident,
                  error=str(exc))
        return json_error(503, "not stored; PagerDuty will retry")
    log.info("pagerduty event delivered again; ignored", event_id=ident)
    return json_response({"matched": 0, "changed": 0, "duplicate": True})


async def _event(inbound: Inbound, event: dict[str, Any], action: str, ident: str, now: float
                 ) -> web.Response:
    refused = await _claim(inbound, ident, now)
    if refused is not None:
        return refused
    data = event.get("data")
    key = data.get("incident_key") if isinstance(data, dict) else None
    found, fps = open_alerts_of(inbound, key.strip()) if isinstance(key, str) and key.strip() else (False, [])
    if not fps:
        log.info("pagerduty event matches no open alert" if found else
                 "pagerduty event for an incident key of no tocsin group",
                 event_type=event.get("event_type"), event_id=ident, incident_key=key)
        return json_response({"matched": 0, "changed": 0})
    actor = _actor(event)
    tally = await change_all(inbound.lifecycle, action, fps, by=actor, source="pagerduty")
    log.info("pagerduty event", event_type=event.get("event_type"), event_id=ident, by=actor,
             matched=len(fps), changed=tally.changed, fingerprints=list(fps)[:20])
    if tally.failed:
        await inbound.handled.release(SOURCE, ident)  # let PagerDuty's retry try again
        return json_error(503, "not stored; PagerDuty will retry", matched=len(fps), changed=tally.changed)
    return json_response({"matched": len(fps), "changed": tally.changed})


def routes(runtime: Facade) -> list[HTTPRoute]:
    """The webhook subscription's URL, acting through ``runtime`` (the hooks' facade)."""

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
        ident, now = event_id(event, body), runtime.clock.now()
        why = time_refusal(event, now, cfg.max_event_age)
        if why is not None:
            log.warning("pagerduty webhook refused", reason=f"event.occurred_at {why}", event_id=ident,
                        occurred_at=str(event.get("occurred_at"))[:64], remote=request.remote)
            return json_error(400, f"event.occurred_at: {why}", field="event.occurred_at")
        return await _event(runtime[INBOUND], event, action, ident, now)

    # open: PagerDuty cannot send a token; the handler checks PagerDuty's signature.
    return [HTTPRoute(
        "POST", PATH, webhook, access="open", summary="PagerDuty v3 webhooks (signed)",
        openapi={"responses": {"200": json_answer({"type": "object"}), **error_answers(400, 401, 403, 503)}},
    )]
