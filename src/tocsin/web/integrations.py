"""Two-way integrations: Slack's interactive buttons and PagerDuty's v3 webhooks.

``POST /api/tocsin/v1/integrations/slack/actions``
    Slack's interactivity *Request URL*. Slack signs each request with the app's
    signing secret (``integrations.slack.signing_secret``, or ``..._file`` read at
    each request): ``X-Slack-Signature`` is ``v0=`` and the hex HMAC-SHA256 of
    ``v0:<X-Slack-Request-Timestamp>:<raw body>``. A request whose signature does
    not match, or whose timestamp is more than five minutes from tocsin's clock,
    is refused (401). The body is a form with ``payload=<JSON>``; a ``block_actions``
    payload's buttons (see :mod:`tocsin.channels.slack`, ``actions: interactive``)
    act as the clicking user, source ``slack``:

    ``tocsin_ack`` / ``tocsin_resolve``
        acknowledge / resolve the alerts whose fingerprints the button's ``value``
        lists (comma-separated);
    ``tocsin_silence``
        silence for one hour the labels the button's ``value`` holds as JSON
        (``{"alertname":"X","job":"y"}``, equality matchers).

    Slack gets its 200 (empty) at once; the message is then replaced through the
    payload's ``response_url``: the original message with a context line saying
    what happened (or why not) and without the buttons that no longer apply.
    Other buttons (runbook, dashboard) and unknown actions are ignored.

``POST /api/tocsin/v1/integrations/pagerduty/webhook``
    A PagerDuty v3 webhook subscription's URL. ``X-PagerDuty-Signature`` is a
    comma-separated list of ``v1=<hex HMAC-SHA256(secret, raw body)>``; one of them
    must match one of ``integrations.pagerduty.webhook_secrets`` (several while a
    secret is rotated; ``webhook_secret_file`` holds one a line). An incident event's
    ``event.data.incident_key`` is the dedup key tocsin sent (the SHA-256 of a group
    key), so ``incident.acknowledged`` / ``incident.unacknowledged`` /
    ``incident.resolved`` acknowledge / unacknowledge / resolve the open alerts of
    that group, as ``event.agent.summary`` (else ``pagerduty``), source
    ``pagerduty``. Other event types are answered 200 and ignored. The answer is
    ``{"matched": <open alerts of the group>, "changed": <alerts changed>}``; an
    unknown key is matched 0 (still 200: PagerDuty would retry). The last
    10,000 event ids (else ``X-Webhook-Id`` headers) are remembered, so a redelivered
    event changes nothing.

Secrets never appear in answers or logs; a configured secret file that cannot
be read is a 500 and an error in the log.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import structlog
from aiohttp import web

from tocsin.channels import DeliveryError
from tocsin.channels.http import post_json
from tocsin.channels.pagerduty import dedup_key
from tocsin.channels.slack import (
    ACK_ACTION,
    BLUE,
    GREEN,
    MAX_BLOCKS,
    MAX_CONTEXT_TEXT,
    RESOLVE_ACTION,
    SILENCE_ACTION,
    cut,
    mrkdwn,
)
from tocsin.core.jsondecode import decode
from tocsin.core.routes import HTTPRoute, error_answers, json_answer
from tocsin.incidents.plan import ACKNOWLEDGED, FIRING, RESOLVED, IncidentConflict, IncidentNotFound
from tocsin.mute.silences import Silence, SilenceError, SilenceMatcher
from tocsin.runtime import Runtime
from tocsin.store import StorageError
from tocsin.web import json_error, json_response
from tocsin.web.keys import RUNTIME

__all__ = [
    "RecentIds", "Tally", "change_all", "open_alerts_of", "pagerduty_signature_ok", "routes", "slack_actor",
    "slack_signature", "updated_message",
]

log = structlog.get_logger("tocsin.integrations")

PREFIX = "/api/tocsin/v1/integrations"

#: How far Slack's request timestamp may be from tocsin's clock (either way).
SLACK_MAX_SKEW = 5 * 60
#: How long a silence from a Slack button lasts.
SLACK_SILENCE = 3600.0
#: The response_url update: its timeout, and what it may be.
REPLY_TIMEOUT = 10.0
#: Actions and fingerprints taken from one Slack request at most.
MAX_ACTIONS = 5
MAX_REFS = 200
#: PagerDuty event ids remembered against redeliveries.
REMEMBERED_EVENTS = 10_000

_enc = msgspec.json.Encoder()
_any_dec = msgspec.json.Decoder()
_labels_dec = msgspec.json.Decoder(dict[str, str])
_HEX_COLOR = re.compile(r"[0-9a-fA-F]{6}")
#: The attachment fields a replaced message keeps (Slack adds ``id`` and such to what it sends).
_ATTACHMENT_KEYS = ("color", "fallback", "pretext", "title", "title_link", "text", "fields", "footer",
                    "mrkdwn_in", "blocks")


# -- secrets -----------------------------------------------------------------------------------


class SecretUnavailable(Exception):
    """A configured secret file could not be read (logged where raised)."""


def _secrets(values: Iterable[str | None], path: str | None, what: str) -> list[str]:
    """The configured secrets and those of ``path`` (one a line, read now)."""
    out = [v.strip() for v in values if v and v.strip()]
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            log.error(f"{what} file cannot be read; refusing callbacks", path=path, error=exc.strerror)
            raise SecretUnavailable(what) from None
        except UnicodeDecodeError:
            log.error(f"{what} file is not UTF-8 text; refusing callbacks", path=path)
            raise SecretUnavailable(what) from None
        found = [line.strip() for line in text.splitlines() if line.strip()]
        if not found:
            log.error(f"{what} file is empty; refusing callbacks", path=path)
            raise SecretUnavailable(what)
        out.extend(found)
    return out


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))


# -- lifecycle changes shared by both ------------------------------------------------------------


@dataclass
class Tally:
    """What acting on a list of alerts did."""

    changed: int = 0
    #: Already in the wanted state (acknowledging twice is a no-op).
    unchanged: int = 0
    #: Resolved already (or no longer held), so the change does not apply.
    resolved: int = 0
    missing: int = 0
    failed: int = 0

    @property
    def done(self) -> int:
        return self.changed + self.unchanged


#: action -> (lifecycle method name, the state that means "already done").
_CHANGES = {"ack": ("acknowledge", ACKNOWLEDGED), "unack": ("unacknowledge", FIRING),
            "resolve": ("resolve", RESOLVED)}


async def change_all(rt: Runtime, action: str, refs: Iterable[str], *, by: str, source: str) -> Tally:
    """Acknowledge, unacknowledge or resolve each alert; count what happened."""
    name, done_state = _CHANGES[action]
    method: Callable[..., Awaitable[Any]] = getattr(rt.lifecycle, name)
    tally = Tally()
    with rt.lifecycle.batched():
        for ref in refs:
            await _change_one(rt, action, ref, method, done_state, by=by, source=source, tally=tally)
    return tally


async def _change_one(rt: Runtime, action: str, ref: str, method: Callable[..., Awaitable[Any]],
                      done_state: str, *, by: str, source: str, tally: Tally) -> None:
    current = rt.lifecycle.get(ref)
    if current is not None and current.state == done_state and action != "resolve":
        tally.unchanged += 1
        return
    try:
        await method(ref, by=by, source=source)
    except IncidentNotFound:
        tally.missing += 1
    except IncidentConflict:
        tally.resolved += 1
    except StorageError as exc:
        log.error("alert change not stored", action=action, ref=ref, error=str(exc))
        tally.failed += 1
    else:
        tally.changed += 1


# -- Slack -------------------------------------------------------------------------------------


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=`` and the hex HMAC-SHA256 of ``v0:<timestamp>:<body>``, as Slack signs."""
    mac = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()


def _slack_refusal(secrets: list[str], headers: Mapping[str, str], body: bytes, now: float) -> str | None:
    """Why the request is not Slack's (a message safe to answer), or None."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not signature or not timestamp or not (timestamp.isascii() and timestamp.isdigit()):
        return "invalid signature"
    if abs(now - int(timestamp)) > SLACK_MAX_SKEW:
        return "stale timestamp"
    ok = False
    for secret in secrets:  # every one, not stopping at a match
        ok |= _same(slack_signature(secret, timestamp, body), signature)
    return None if ok else "invalid signature"


def _slack_payload(body: bytes) -> dict[str, Any] | None:
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=20)
        payload = decode(_any_dec, form["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, msgspec.DecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def slack_actor(user: Any) -> str:
    """The clicking user: username, else name, else id."""
    if isinstance(user, dict):
        for key in ("username", "name", "id"):
            value = user.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:200]
    return "slack"


@dataclass
class Outcome:
    """One button's effect: a line for the message, buttons to drop, a new colour."""

    line: str
    remove: set[str] = field(default_factory=set)
    color: str | None = None


def _refs(value: str) -> list[str]:
    refs = dict.fromkeys(r.strip() for r in value.split(",") if r.strip() and len(r.strip()) <= 64)
    return list(refs)[:MAX_REFS]


def _problems(t: Tally, total: int) -> list[str]:
    one = total == 1
    out = []
    if t.resolved:
        out.append("already resolved" if one else f"{t.resolved} already resolved")
    if t.missing:
        out.append("alert no longer exists" if one else f"{t.missing} no longer exist")
    if t.failed:
        out.append("not recorded (storage error), try again" if one else
                   f"{t.failed} not recorded (storage error), try again")
    return out


def _state_after(rt: Runtime, refs: list[str]) -> Outcome:
    """The buttons that no longer apply to these alerts, and the colour they now deserve."""
    incs = [rt.lifecycle.get(r) for r in refs]
    firing = any(i is not None and i.state == FIRING for i in incs)
    open_ = any(i is not None and i.open for i in incs)
    out = Outcome("")
    if not firing:
        out.remove.add(ACK_ACTION)
        out.color = BLUE
    if not open_:
        out.remove.add(RESOLVE_ACTION)
        out.color = GREEN
    return out


async def _slack_change(rt: Runtime, action: str, value: str, actor: str) -> Outcome:
    verb, did = {"ack": ("acknowledge", "✅ Acknowledged"), "resolve": ("resolve", "Resolved")}[action]
    refs = _refs(value)
    if not refs:
        return Outcome(f"Could not {verb}: the button names no alert")
    tally = await change_all(rt, action, refs, by=actor, source="slack")
    log.info("slack action", action=action, by=actor, alerts=len(refs), changed=tally.changed,
             refs=list(refs)[:20])
    problems = _problems(tally, len(refs))
    if tally.done:
        line = f"{did} by {mrkdwn(actor)}"
        if len(refs) > 1:
            line += f" ({tally.done} of {len(refs)} alerts)"
        if problems:
            line += " · " + ", ".join(problems)
    else:
        line = f"Could not {verb}: " + ", ".join(problems)
    out = _state_after(rt, refs)
    out.line = line
    return out


async def _slack_silence(rt: Runtime, value: str, actor: str) -> Outcome:
    try:
        labels = decode(_labels_dec, value)
    except msgspec.DecodeError:
        return Outcome("Could not silence: the button holds no usable matchers")
    now = rt.clock.now()
    sil = Silence(matchers=tuple(SilenceMatcher(k, v) for k, v in sorted(labels.items())),
                  starts_at=now, ends_at=now + SLACK_SILENCE, created_by=actor,
                  comment="Silenced for 1h from Slack")
    try:
        sid = await rt.silences.set(sil, now)
    except SilenceError as exc:
        return Outcome(f"Could not silence: {mrkdwn(exc)}")
    except StorageError as exc:
        log.error("silence from slack not stored", error=str(exc))
        return Outcome("Could not silence: not recorded (storage error), try again")
    log.info("slack action", action="silence", by=actor, silence=sid)
    return Outcome(f"🔕 Silenced for 1h by {mrkdwn(actor)} (silence {sid})", remove={SILENCE_ACTION})


async def _slack_action(rt: Runtime, action: Any, actor: str) -> Outcome | None:
    if not isinstance(action, dict):
        return None
    action_id = action.get("action_id")
    value = action.get("value") if isinstance(action.get("value"), str) else ""
    if action_id == ACK_ACTION:
        return await _slack_change(rt, "ack", value, actor)
    if action_id == RESOLVE_ACTION:
        return await _slack_change(rt, "resolve", value, actor)
    if action_id == SILENCE_ACTION:
        return await _slack_silence(rt, value, actor)
    # URL buttons (runbook, dashboard, links-mode silence) call back too.
    log.info("slack action ignored", action_id=action_id, by=actor)
    return None


def _blocks(blocks: Any, remove: set[str]) -> list[dict[str, Any]]:
    """Blocks without the removed buttons (and without an emptied actions block). Block ids
    are dropped: Slack wants new ones for an updated message."""
    out = []
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, dict):
            continue
        block = {k: v for k, v in block.items() if k != "block_id"}
        if block.get("type") == "actions":
            elements = [e for e in block.get("elements") or []
                        if not (isinstance(e, dict) and e.get("action_id") in remove)]
            if not elements:
                continue
            block["elements"] = elements
        out.append(block)
    return out


def _attachment(att: dict[str, Any], remove: set[str], color: str | None) -> dict[str, Any]:
    out = {k: att[k] for k in _ATTACHMENT_KEYS if k in att}
    if "blocks" in out:
        out["blocks"] = _blocks(out["blocks"], remove)
    if color:
        out["color"] = color
    elif isinstance(out.get("color"), str) and _HEX_COLOR.fullmatch(out["color"]):
        out["color"] = "#" + out["color"]  # Slack hands the colour back without its '#'
    return out


def updated_message(message: Any, outcomes: list[Outcome]) -> dict[str, Any]:
    """What to POST to ``response_url``: the original message, the outcomes added as a
    context line each, the buttons that no longer apply removed."""
    lines = [cut(o.line, MAX_CONTEXT_TEXT) for o in outcomes][:10]
    if not isinstance(message, dict):  # e.g. an ephemeral message: say it to the user alone
        return {"replace_original": False, "response_type": "ephemeral", "text": "\n".join(lines)}
    remove = set().union(*(o.remove for o in outcomes))
    color = next((o.color for o in reversed(outcomes) if o.color), None)
    blocks = _blocks(message.get("blocks"), remove)
    attachments = [_attachment(a, remove, color) for a in message.get("attachments") or []
                   if isinstance(a, dict)]
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": line} for line in lines]}
    holders = [a for a in attachments if isinstance(a.get("blocks"), list)]
    if holders:
        holders[-1]["blocks"] = [*holders[-1]["blocks"][: MAX_BLOCKS - 1], context]
    else:
        blocks = [*blocks[: MAX_BLOCKS - 1], context]
    text = message.get("text") if isinstance(message.get("text"), str) and message["text"].strip() else None
    out: dict[str, Any] = {"replace_original": True, "text": text or lines[0], "blocks": blocks}
    if attachments:
        out["attachments"] = attachments
    return out


def _web_url(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


async def _post_reply(rt: Runtime, url: str, body: dict[str, Any]) -> None:
    if rt.session is None:
        return
    try:
        # The response_url is a credential for 30 minutes: only its host is logged.
        await post_json(rt.session, url, _enc.encode(body), http=None, timeout=REPLY_TIMEOUT,
                        secret_url=True)
    except DeliveryError as exc:
        log.warning("slack message not updated", error=str(exc))


async def slack_actions(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    cfg = rt.config.document.integrations.slack
    if not cfg.signing_secret and not cfg.signing_secret_file:
        return json_error(403, "Slack actions are not configured")
    try:
        secrets = _secrets([cfg.signing_secret], cfg.signing_secret_file, "slack signing secret")
    except SecretUnavailable:
        return json_error(500, "the Slack signing secret cannot be read (see tocsin's log)")
    body = await request.read()
    refusal = _slack_refusal(secrets, request.headers, body, rt.clock.now())
    if refusal is not None:
        log.warning("slack callback refused", reason=refusal, remote=request.remote)
        return json_error(401, refusal)
    payload = _slack_payload(body)
    if payload is None:
        return json_error(400, "expected a form with a JSON payload")
    if payload.get("type") != "block_actions":
        log.info("slack interaction ignored", type=payload.get("type"))
        return web.Response(status=200)
    actor = slack_actor(payload.get("user"))
    actions = payload.get("actions")
    outcomes = []
    for action in actions[:MAX_ACTIONS] if isinstance(actions, list) else []:
        outcome = await _slack_action(rt, action, actor)
        if outcome is not None:
            outcomes.append(outcome)
    if outcomes:
        url = _web_url(payload.get("response_url"))
        if url is None:
            log.warning("slack action without a usable response_url; the message stays as it was")
        else:
            rt.spawn(_post_reply(rt, url, updated_message(payload.get("message"), outcomes)),
                     name="slack response_url")
    return web.Response(status=200)


# -- PagerDuty ---------------------------------------------------------------------------------


#: PagerDuty event type -> what it does to the group's alerts.
PAGERDUTY_EVENTS = {"incident.acknowledged": "ack", "incident.unacknowledged": "unack",
                    "incident.resolved": "resolve"}


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


def pagerduty_signature_ok(secrets: list[str], header: str, body: bytes) -> bool:
    """Whether any ``v1=`` signature of the header is the HMAC of the body under any secret."""
    given = [s.strip() for s in header.split(",") if s.strip().startswith("v1=")]
    ok = False
    for secret in secrets:  # every pair, not stopping at a match
        expected = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        for sig in given:
            ok |= _same(expected, sig)
    return ok


def open_alerts_of(rt: Runtime, key: str) -> tuple[bool, list[str]]:
    """Whether a group has dedup key ``key``, and the fingerprints of its open alerts."""
    fps: dict[str, None] = {}
    found = False
    for group in rt.dispatcher.groups.values():
        if dedup_key(group.key) == key:
            found = True
            fps.update(group.alerts)
    return found, [fp for fp in fps if (inc := rt.lifecycle.get(fp)) is not None and inc.open]


def _pagerduty_actor(event: dict[str, Any]) -> str:
    agent = event.get("agent")
    summary = agent.get("summary") if isinstance(agent, dict) else None
    return summary.strip()[:200] if isinstance(summary, str) and summary.strip() else "pagerduty"


async def _pagerduty_event(rt: Runtime, event: dict[str, Any], action: str, seen: RecentIds,
                           webhook_id: str) -> web.Response:
    # PagerDuty repeats both the event id and the X-Webhook-Id header when it redelivers.
    event_id = event.get("id") if isinstance(event.get("id"), str) and event["id"] else webhook_id
    if event_id and not seen.add(event_id):
        log.info("pagerduty event delivered again; ignored", event_id=event_id)
        return json_response({"matched": 0, "changed": 0, "duplicate": True})
    data = event.get("data")
    key = data.get("incident_key") if isinstance(data, dict) else None
    found, fps = open_alerts_of(rt, key.strip()) if isinstance(key, str) and key.strip() else (False, [])
    if not fps:
        log.info("pagerduty event matches no open alert" if found else
                 "pagerduty event for an incident key of no tocsin group",
                 event_type=event.get("event_type"), event_id=event_id, incident_key=key)
        return json_response({"matched": 0, "changed": 0})
    actor = _pagerduty_actor(event)
    tally = await change_all(rt, action, fps, by=actor, source="pagerduty")
    log.info("pagerduty event", event_type=event.get("event_type"), event_id=event_id, by=actor,
             matched=len(fps), changed=tally.changed, fingerprints=list(fps)[:20])
    if tally.failed:
        seen.discard(event_id)  # let PagerDuty's retry try again
        return json_error(503, "not stored; PagerDuty will retry", matched=len(fps), changed=tally.changed)
    return json_response({"matched": len(fps), "changed": tally.changed})


async def pagerduty_webhook(request: web.Request, seen: RecentIds) -> web.Response:
    rt = request.app[RUNTIME]
    cfg = rt.config.document.integrations.pagerduty
    if not cfg.webhook_secrets and not cfg.webhook_secret_file:
        return json_error(403, "PagerDuty webhooks are not configured")
    try:
        secrets = _secrets(cfg.webhook_secrets, cfg.webhook_secret_file, "pagerduty webhook secret")
    except SecretUnavailable:
        return json_error(500, "the PagerDuty webhook secret cannot be read (see tocsin's log)")
    body = await request.read()
    if not pagerduty_signature_ok(secrets, request.headers.get("X-PagerDuty-Signature", ""), body):
        log.warning("pagerduty webhook refused", reason="invalid signature", remote=request.remote)
        return json_error(401, "invalid signature")
    try:
        doc = decode(_any_dec, body)
    except msgspec.DecodeError as exc:
        return json_error(400, f"invalid JSON: {exc}")
    event = doc.get("event") if isinstance(doc, dict) else None
    if not isinstance(event, dict):
        return json_error(400, "expected a v3 webhook: an object with an event")
    action = PAGERDUTY_EVENTS.get(event.get("event_type"))
    if action is None:
        return json_response({"matched": 0, "changed": 0, "ignored": event.get("event_type")})
    return await _pagerduty_event(rt, event, action, seen, request.headers.get("X-Webhook-Id", ""))


def routes() -> list[HTTPRoute]:
    seen = RecentIds()

    async def pagerduty(request: web.Request) -> web.Response:
        return await pagerduty_webhook(request, seen)

    # open: Slack and PagerDuty cannot send a token; each handler checks its own signature.
    return [
        HTTPRoute(
            "POST", f"{PREFIX}/slack/actions", slack_actions, access="open",
            summary="Slack interactivity callbacks (signed with the app's signing secret)",
            openapi={"responses": {"200": {"description": "Accepted"}, **error_answers(401, 403)}},
        ),
        HTTPRoute(
            "POST", f"{PREFIX}/pagerduty/webhook", pagerduty, access="open",
            summary="PagerDuty v3 webhooks (signed)",
            openapi={"responses": {"200": json_answer({"type": "object"}), **error_answers(400, 401, 403)}},
        ),
    ]
