"""Slack's interactive buttons calling tocsin back.

``POST /api/tocsin/v1/integrations/slack/actions``
    Slack's interactivity *Request URL*. Slack signs each request with the app's
    signing secret (``integrations.slack.signing_secret``, or ``..._file`` read at
    each request): ``X-Slack-Signature`` is ``v0=`` and the hex HMAC-SHA256 of
    ``v0:<X-Slack-Request-Timestamp>:<raw body>``. A request whose signature does
    not match, or whose timestamp is more than five minutes from tocsin's clock,
    is refused (401). The body is a form with ``payload=<JSON>``; a ``block_actions``
    payload's buttons (see :mod:`tocsin.channels.slack.channel`, ``actions: interactive``)
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

    Replays: a signed request verifies again for as long as its timestamp is within
    the five minutes. So before a ``block_actions`` request acts, its identity (the
    SHA-256 of what Slack signed: the timestamp and the body) is recorded in the
    database (:mod:`tocsin.channels.handled`); the same request again, even after a
    restart, is answered 200 (empty) and does nothing (logged as a warning: Slack
    does not send a request twice). A request that could not be recorded is answered
    503 and does nothing.

The route is open (Slack cannot send a token): the signature is the check. The
signing secret never appears in answers or logs; a configured secret file that
cannot be read is a 500 and an error in the log.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import structlog
from aiohttp import web

from tocsin.channels import DeliveryError
from tocsin.channels.handled import MAX_SKEW
from tocsin.channels.http import post_json
from tocsin.channels.inbound import (
    INBOUND,
    PREFIX,
    SecretUnavailable,
    Tally,
    change_all,
    read_secrets,
    same_secret,
)
from tocsin.channels.slack.render import (
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
from tocsin.core.routes import HTTPRoute, error_answers, json_error
from tocsin.incidents.plan import FIRING
from tocsin.mute.silences import SILENCES, Silence, SilenceError, SilenceMatcher
from tocsin.store import StorageError

if TYPE_CHECKING:
    import aiohttp

    from tocsin.core.facade import Facade
    from tocsin.incidents.lifecycle import Lifecycle

__all__ = ["PATH", "SOURCE", "Outcome", "request_id", "routes", "slack_actor", "slack_signature",
           "updated_message"]

log = structlog.get_logger("tocsin.integrations")

PATH = f"{PREFIX}/slack/actions"

#: The source of Slack's requests among the callbacks handled.
SOURCE = "slack"
#: How far Slack's request timestamp may be from tocsin's clock (either way).
SLACK_MAX_SKEW = MAX_SKEW
#: How long a silence from a Slack button lasts.
SLACK_SILENCE = 3600.0
#: The response_url update: its timeout, and what it may be.
REPLY_TIMEOUT = 10.0
#: Actions and fingerprints taken from one Slack request at most.
MAX_ACTIONS = 5
MAX_REFS = 200

_enc = msgspec.json.Encoder()
_any_dec = msgspec.json.Decoder()
_labels_dec = msgspec.json.Decoder(dict[str, str])
_HEX_COLOR = re.compile(r"[0-9a-fA-F]{6}")
#: The attachment fields a replaced message keeps (Slack adds ``id`` and such to what it sends).
_ATTACHMENT_KEYS = ("color", "fallback", "pretext", "title", "title_link", "text", "fields", "footer",
                    "mrkdwn_in", "blocks")


# -- is it Slack? --------------------------------------------------------------------------------


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=`` and the hex HMAC-SHA256 of ``v0:<timestamp>:<body>``, as Slack signs."""
    mac = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()


def _refusal(secrets: list[str], headers: Mapping[str, str], body: bytes, now: float) -> str | None:
    """Why the request is not Slack's (a message safe to answer), or None."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not signature or not timestamp or not (timestamp.isascii() and timestamp.isdigit()):
        return "invalid signature"
    if abs(now - int(timestamp)) > SLACK_MAX_SKEW:
        return "stale timestamp"
    ok = False
    for secret in secrets:  # every one, not stopping at a match
        ok |= same_secret(slack_signature(secret, timestamp, body), signature)
    return None if ok else "invalid signature"


def request_id(headers: Mapping[str, str], body: bytes) -> str:
    """What identifies a request: the SHA-256 of what Slack signed (the timestamp and the
    body), the same for every copy of the request and for nothing else."""
    signed = b"v0:" + headers.get("X-Slack-Request-Timestamp", "").encode() + b":" + body
    return hashlib.sha256(signed).hexdigest()


async def _replayed(runtime: Facade, ident: str) -> web.Response | None:
    """The answer when the request must not act (handled before, or not recordable), else None."""
    try:
        if await runtime[INBOUND].handled.claim(SOURCE, ident, runtime.clock.now()):
            return None
    except StorageError as exc:
        log.error("slack action not recorded; refused", error=str(exc))
        return json_error(503, "not recorded (storage error), try again")
    log.warning("slack action delivered again; ignored", request_id=ident)
    return web.Response(status=200)


def _payload(body: bytes) -> dict[str, Any] | None:
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


# -- what the buttons do ---------------------------------------------------------------------------


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


def _state_after(lifecycle: Lifecycle, refs: list[str]) -> Outcome:
    """The buttons that no longer apply to these alerts, and the colour they now deserve."""
    incs = [lifecycle.get(r) for r in refs]
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


async def _change(lifecycle: Lifecycle, action: str, value: str, actor: str) -> Outcome:
    verb, did = {"ack": ("acknowledge", "✅ Acknowledged"), "resolve": ("resolve", "Resolved")}[action]
    refs = _refs(value)
    if not refs:
        return Outcome(f"Could not {verb}: the button names no alert")
    tally = await change_all(lifecycle, action, refs, by=actor, source="slack")
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
    out = _state_after(lifecycle, refs)
    out.line = line
    return out


async def _silence(runtime: Facade, value: str, actor: str) -> Outcome:
    try:
        labels = decode(_labels_dec, value)
    except msgspec.DecodeError:
        return Outcome("Could not silence: the button holds no usable matchers")
    now = runtime.clock.now()
    sil = Silence(matchers=tuple(SilenceMatcher(k, v) for k, v in sorted(labels.items())),
                  starts_at=now, ends_at=now + SLACK_SILENCE, created_by=actor,
                  comment="Silenced for 1h from Slack")
    try:
        sid = await runtime[SILENCES].set(sil, now)
    except SilenceError as exc:
        return Outcome(f"Could not silence: {mrkdwn(exc)}")
    except StorageError as exc:
        log.error("silence from slack not stored", error=str(exc))
        return Outcome("Could not silence: not recorded (storage error), try again")
    log.info("slack action", action="silence", by=actor, silence=sid)
    return Outcome(f"🔕 Silenced for 1h by {mrkdwn(actor)} (silence {sid})", remove={SILENCE_ACTION})


async def _action(runtime: Facade, action: Any, actor: str) -> Outcome | None:
    if not isinstance(action, dict):
        return None
    action_id = action.get("action_id")
    value: str = action["value"] if isinstance(action.get("value"), str) else ""
    if action_id == ACK_ACTION:
        return await _change(runtime[INBOUND].lifecycle, "ack", value, actor)
    if action_id == RESOLVE_ACTION:
        return await _change(runtime[INBOUND].lifecycle, "resolve", value, actor)
    if action_id == SILENCE_ACTION:
        return await _silence(runtime, value, actor)
    # URL buttons (runbook, dashboard, links-mode silence) call back too.
    log.info("slack action ignored", action_id=action_id, by=actor)
    return None


# -- the message, updated ------------------------------------------------------------------------


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


async def _post_reply(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> None:
    try:
        # The response_url is a credential for 30 minutes: only its host is logged.
        await post_json(session, url, _enc.encode(body), http=None, timeout=REPLY_TIMEOUT,
                        secret_url=True)
    except DeliveryError as exc:
        log.warning("slack message not updated", error=str(exc))


# -- the route -----------------------------------------------------------------------------------


def routes(runtime: Facade) -> list[HTTPRoute]:
    """The interactivity Request URL, acting through ``runtime`` (the hooks' facade)."""

    async def actions(request: web.Request) -> web.Response:
        cfg = runtime.config.document.integrations.slack
        if not cfg.signing_secret and not cfg.signing_secret_file:
            return json_error(403, "Slack actions are not configured")
        try:
            secrets = read_secrets([cfg.signing_secret], cfg.signing_secret_file, "slack signing secret")
        except SecretUnavailable:
            return json_error(500, "the Slack signing secret cannot be read (see tocsin's log)")
        body = await request.read()
        refusal = _refusal(secrets, request.headers, body, runtime.clock.now())
        if refusal is not None:
            log.warning("slack callback refused", reason=refusal, remote=request.remote)
            return json_error(401, refusal)
        payload = _payload(body)
        if payload is None:
            return json_error(400, "expected a form with a JSON payload")
        if payload.get("type") != "block_actions":
            log.info("slack interaction ignored", type=payload.get("type"))
            return web.Response(status=200)
        replayed = await _replayed(runtime, request_id(request.headers, body))
        if replayed is not None:
            return replayed
        actor = slack_actor(payload.get("user"))
        clicked = payload.get("actions")
        outcomes = []
        for action in clicked[:MAX_ACTIONS] if isinstance(clicked, list) else []:
            outcome = await _action(runtime, action, actor)
            if outcome is not None:
                outcomes.append(outcome)
        if outcomes:
            url = _web_url(payload.get("response_url"))
            if url is None:
                log.warning("slack action without a usable response_url; the message stays as it was")
            else:
                inbound = runtime[INBOUND]
                reply = updated_message(payload.get("message"), outcomes)
                inbound.spawn(_post_reply(inbound.session, url, reply), "slack response_url")
        return web.Response(status=200)

    # open: Slack cannot send a token; the handler checks Slack's signature.
    return [HTTPRoute(
        "POST", PATH, actions, access="open",
        summary="Slack interactivity callbacks (signed with the app's signing secret)",
        openapi={"responses": {"200": {"description": "Accepted"}, **error_answers(401, 403, 503)}},
    )]
