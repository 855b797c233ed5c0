"""Alertmanager 0.25's default templates (``template/default.tmpl``), as Jinja2.

Each renders, character for character, what Alertmanager's Go template renders
from the same data (``tests/conformance/test_default_templates.py`` compares them
with ``amtool template render``), so a receiver moved from Alertmanager gets the
same titles and messages. The Jinja environment trims blocks, so every block tag
here ends ``+%}`` to keep the newline that follows it, as Go's ``{{ }}`` does.

A channel whose ``message`` or ``title`` is unset uses these; a receiver's own
template may say anything. :func:`with_notice` puts tocsin's lifecycle notices
(acknowledged, escalated...) before a rendered text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tocsin.channels import ChannelContext
from tocsin.channels.data import notice_line
from tocsin.core.models import Notification
from tocsin.notify.templates import Templates

__all__ = [
    "ALERTMANAGER_URL", "DISCORD_MESSAGE", "DISCORD_TITLE", "SNS_MESSAGE", "SNS_SUBJECT", "SUBJECT",
    "TELEGRAM_MESSAGE", "TRUNCATION_MARKER", "WEBEX_MESSAGE", "WECHAT_MESSAGE", "render",
    "truncate_bytes", "truncate_runes", "with_notice",
]

#: What Alertmanager ends a shortened text with.
TRUNCATION_MARKER = "…"

#: ``__subject``: ``[FIRING:2] <group label values> (<other common label values>)``. As in
#: Alertmanager, a space follows the group label values even when nothing comes after them.
SUBJECT = (
    '[{{ status|upper }}{% if status == "firing" %}:{{ firing|length }}{% endif %}] '
    '{{ groupLabels|sortedpairs|map("last")|join(" ") }} '
    '{% if commonLabels|length > groupLabels|length %}'
    '({{ commonLabels|sortedpairs|rejectattr("0", "in", groupLabels)|map("last")|join(" ") }})'
    '{% endif +%}'
)

#: ``__alertmanagerURL``: the external URL's alert list for this receiver.
ALERTMANAGER_URL = "{{ externalURL }}/#/alerts?receiver={{ receiver|urlquery }}"

#: ``__text_alert_list`` as a macro each default below defines first (it writes nothing).
_ALERT_LIST = (
    "{% macro text_alert_list(alerts) %}{% for a in alerts %}Labels:\n"
    "{% for k, v in a.labels|sortedpairs %} - {{ k }} = {{ v }}\n"
    "{% endfor %}Annotations:\n"
    "{% for k, v in a.annotations|sortedpairs %} - {{ k }} = {{ v }}\n"
    "{% endfor %}Source: {{ a.generatorURL }}\n"
    "{% endfor %}{% endmacro +%}"
)

#: ``.CommonAnnotations.SortedPairs.Values | join " "``.
_ANNOTATIONS = '{{ commonAnnotations|sortedpairs|map("last")|join(" ") }}'

#: The firing and resolved lists, each after a blank line, as the chat defaults have them.
_LISTS = (
    "{% if firing +%}\nAlerts Firing:\n{{ text_alert_list(firing) }}\n{% endif +%}\n"
    "{% if resolved +%}\nAlerts Resolved:\n{{ text_alert_list(resolved) }}\n{% endif +%}"
    # Jinja drops a template's last newline; Go keeps it.
    "{{ '\\n' }}"
)

#: ``telegram.default.message``.
TELEGRAM_MESSAGE = _ALERT_LIST + "\n" + _LISTS
#: ``discord.default.title`` and ``discord.default.message``.
DISCORD_TITLE = SUBJECT
DISCORD_MESSAGE = TELEGRAM_MESSAGE
#: ``webex.default.message``.
WEBEX_MESSAGE = _ALERT_LIST + _ANNOTATIONS + "\n" + _LISTS
#: ``sns.default.subject`` and ``sns.default.message``.
SNS_SUBJECT = SUBJECT
SNS_MESSAGE = WEBEX_MESSAGE
#: ``wechat.default.message``: the subject, the common annotations, the lists without
#: blank lines, and the link to the alerts.
WECHAT_MESSAGE = (
    _ALERT_LIST + SUBJECT + "\n" + _ANNOTATIONS + "\n"
    "{% if firing %}Alerts Firing:\n{{ text_alert_list(firing) }}{% endif +%}\n"
    "{% if resolved %}Alerts Resolved:\n{{ text_alert_list(resolved) }}{% endif +%}\n"
    "AlertmanagerUrl:\n" + ALERTMANAGER_URL
)


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
