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

from tocsin.channels.data import notice_line
from tocsin.core.models import Notification

__all__ = [
    "ALERTMANAGER_URL", "DISCORD_MESSAGE", "DISCORD_TITLE", "SNS_MESSAGE", "SNS_SUBJECT", "SUBJECT",
    "TELEGRAM_MESSAGE", "WEBEX_MESSAGE", "WECHAT_MESSAGE", "with_notice",
]

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
