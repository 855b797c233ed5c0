"""Alertmanager 0.25's default templates for the channels that send what Alertmanager
sends, and its helpers that shape what is sent (rune and byte truncation, the group
key's hash).

A default is Alertmanager's own template call (``{{ template "telegram.default.message" . }}``,
:func:`default`), which renders through the Go engine's definitions of
``default.tmpl`` (:mod:`tocsin.notify.gotemplate.defaults`; compared with
``amtool template render`` by ``tests/conformance/test_go_templates_amtool.py``), so a
receiver moved from Alertmanager gets the same titles and messages, and a
``templates:`` file that defines one of these names again changes it, as in
Alertmanager. :func:`with_notice` puts tocsin's lifecycle notices (acknowledged,
escalated...) before a rendered text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from tocsin.channels import ChannelContext
from tocsin.channels.data import notice_line
from tocsin.core.models import Notification
from tocsin.notify.templates import Templates

__all__ = [
    "ALERTMANAGER_URL", "DISCORD_MESSAGE", "DISCORD_TITLE", "SNS_MESSAGE", "SNS_SUBJECT", "SUBJECT",
    "TELEGRAM_MESSAGE", "TRUNCATION_MARKER", "WEBEX_MESSAGE", "WECHAT_MESSAGE", "default", "group_hash",
    "render", "truncate_bytes", "truncate_runes", "with_notice",
]

#: What Alertmanager ends a shortened text with.
TRUNCATION_MARKER = "\u2026"


def default(name: str) -> str:
    """The Go template that renders Alertmanager's template ``name``, as ``amtool config
    show`` writes a default: ``{{ template "name" . }}``."""
    return f'{{{{ template "{name}" . }}}}'


#: ``__subject``: ``[FIRING:2] <group label values> (<other common label values>)``; as in
#: Alertmanager, a space follows the group label values even when nothing comes after them.
SUBJECT = default("__subject")
#: ``__alertmanagerURL``: the external URL's alert list for this receiver.
ALERTMANAGER_URL = default("__alertmanagerURL")
TELEGRAM_MESSAGE = default("telegram.default.message")
DISCORD_TITLE = default("discord.default.title")
DISCORD_MESSAGE = default("discord.default.message")
WEBEX_MESSAGE = default("webex.default.message")
SNS_SUBJECT = default("sns.default.subject")
SNS_MESSAGE = default("sns.default.message")
WECHAT_MESSAGE = default("wechat.default.message")


def with_notice(n: Notification, text: str, separator: str = "\n") -> str:
    """``text`` after the line about a lifecycle notice (``Acknowledged by alice: on it``),
    or as it is for a group's ordinary notification."""
    notice = notice_line(n)
    return f"{notice}{separator}{text}" if notice else text


def render(ctx: ChannelContext, source: str, data: Mapping[str, Any], what: str, *,
           html: bool = False) -> str:
    """``source`` rendered with the config's templates (a template that fails is logged and
    replaced by a plain summary, naming ``receiver/integration.what``)."""
    templates = ctx.templates or Templates()
    return templates.render(source, data, html=html, what=f"{ctx.receiver}/{ctx.integration}.{what}")


def truncate_runes(s: str, n: int) -> tuple[str, bool]:
    """Alertmanager's ``TruncateInRunes``: at most ``n`` code points, the last one ``…``
    when shortened; and whether it was."""
    if len(s) <= n:
        return s, False
    if n <= 3:
        return s[:n], True
    return s[: n - 1] + TRUNCATION_MARKER, True


def truncate_bytes(s: str, n: int) -> tuple[str, bool]:
    """Alertmanager's ``TruncateInBytes``: at most ``n`` bytes of UTF-8, never a split
    character, ``…`` at the end when shortened; and whether it was."""
    raw = s.encode(errors="replace")
    if len(raw) <= n:
        return s, False
    if n <= 3:
        return (TRUNCATION_MARKER if n == 3 else "." * n), True
    kept = raw[: n - 3].decode(errors="ignore")  # drops a character cut in two
    return kept + TRUNCATION_MARKER, True


def group_hash(group_key: str) -> str:
    """Alertmanager's ``Key.Hash()``: the SHA-256 of the group key, hex (OpsGenie's alias,
    VictorOps' entity_id)."""
    return hashlib.sha256(group_key.encode()).hexdigest()
