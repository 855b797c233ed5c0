"""The data every channel renders from: Alertmanager's template data."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tocsin.core.models import Alert, Notification
from tocsin.core.timefmt import format_ts_nano

__all__ = ["alert_data", "common", "link_url", "message_data", "notice_line", "quote_meta"]

#: The characters Go's ``regexp.QuoteMeta`` escapes.
_GO_REGEXP_META = frozenset("\\.+*?()|[]{}^$")


def quote_meta(s: str) -> str:
    """Go's ``regexp.QuoteMeta``, which Alertmanager applies to the receiver name."""
    return "".join("\\" + c if c in _GO_REGEXP_META else c for c in s)


def common(maps: list[dict[str, str]]) -> dict[str, str]:
    """The pairs present, with the same value, in every map."""
    if not maps:
        return {}
    out = dict(maps[0])
    for m in maps[1:]:
        for k in [k for k, v in out.items() if m.get(k) != v]:
            del out[k]
        if not out:
            break
    return out


def alert_data(alert: Alert, now: float) -> dict[str, Any]:
    return {
        "status": alert.status(now),
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": format_ts_nano(alert.starts_at),
        "endsAt": format_ts_nano(alert.ends_at),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


_NOTICE_WORDS = {"acknowledged": "Acknowledged", "unacknowledged": "Unacknowledged",
                 "escalated": "Escalated", "remediation": "Remediation"}


def notice_line(n: Notification) -> str:
    """One line about a lifecycle notice (``Acknowledged by alice: on it``); empty for a
    group's ordinary notification."""
    if not n.event:
        return ""
    word = _NOTICE_WORDS.get(n.event, n.event.capitalize())
    if n.event == "remediation":  # the note says what ran and how it went
        return f"{word} {n.note}" if n.note else word
    text = f"{word} by {n.actor}" if n.actor and n.event != "escalated" else word
    return f"{text}: {n.note}" if n.note else text


def message_data(n: Notification, alerts: list[Alert], external_url: str) -> dict[str, Any]:
    """Alertmanager's template data; a lifecycle notice adds ``notice`` (event, actor, note, text)."""
    firing = any(not a.resolved(n.now) for a in alerts)
    out = _message_data(n, alerts, external_url, firing)
    if n.event:
        out["notice"] = {"event": n.event, "actor": n.actor, "note": n.note, "text": notice_line(n)}
    return out


def _message_data(n: Notification, alerts: list[Alert], external_url: str, firing: bool) -> dict[str, Any]:
    return {
        "receiver": quote_meta(n.receiver),  # as Alertmanager's template.Data
        "status": "firing" if firing else "resolved",
        "alerts": [alert_data(a, n.now) for a in alerts],
        "groupLabels": n.group_labels,
        "commonLabels": common([a.labels for a in alerts]),
        "commonAnnotations": common([a.annotations for a in alerts]),
        "externalURL": external_url,
    }


def link_url(value: str | None, max_length: int) -> str | None:
    """``value`` stripped, if a chat service takes it as a link: an absolute http(s) URL of
    at most ``max_length`` characters, without white space. None otherwise."""
    if not value:
        return None
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > max_length:
        return None
    if any(c.isspace() for c in value):
        return None
    return value
