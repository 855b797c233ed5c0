"""Alertmanager 0.25's default templates (``template/default.tmpl``) as Jinja2 sources that
render the same text, for the channels that send what Alertmanager sends; and its
helpers that shape what is sent (rune truncation, the group key's hash).

Written with explicit ``\\n``, and ``+%}`` where a newline follows a tag so that Jinja's
``trim_blocks`` keeps it: the whitespace is Alertmanager's, byte for byte.
"""

from __future__ import annotations

import hashlib

__all__ = [
    "ALERTMANAGER_URL", "ALERTS_TEXT", "ALERTS_TEXT_SPACED", "SUBJECT", "group_hash", "truncate_runes",
]

#: What Alertmanager marks a cut text with.
TRUNCATION_MARKER = "…"

#: ``__subject``: ``[FIRING:2] <group label values> (<other common label values>)``; the
#: space after the group label values is Alertmanager's, there with no common labels too.
SUBJECT = (
    '[{{ status|upper }}{% if status == "firing" %}:{{ firing|length }}{% endif %}] '
    '{{ groupLabels|dictsort(true)|map("last")|join(" ") }} '
    '{% if commonLabels|length > groupLabels|length %}'
    '({{ commonLabels|dictsort(true)|rejectattr("0", "in", groupLabels)|map("last")|join(" ") }})'
    '{% endif %}'
)

#: ``__alertmanagerURL``: the alerts page of tocsin's UI for this receiver.
ALERTMANAGER_URL = "{{ externalURL }}/#/alerts?receiver={{ receiver|urlquery }}"


def _alert_list(alerts: str) -> str:
    """``__text_alert_list`` of the alerts ``alerts`` names."""
    return (
        f"{{% for a in {alerts} %}}Labels:\n"
        "{% for k, v in a.labels|dictsort(true) %} - {{ k }} = {{ v }}\n{% endfor %}"
        "Annotations:\n"
        "{% for k, v in a.annotations|dictsort(true) %} - {{ k }} = {{ v }}\n{% endfor %}"
        "Source: {{ a.generatorURL }}\n{% endfor +%}"
    )


_ANNOTATIONS = '{{ commonAnnotations|dictsort(true)|map("last")|join(" ") }}\n'

#: The common annotations' values, then the alerts firing and resolved, as OpsGenie's
#: ``description`` and VictorOps' ``state_message`` have them (``{{- -}}`` trimmed in Go).
ALERTS_TEXT = (
    _ANNOTATIONS
    + "{% if firing %}Alerts Firing:\n" + _alert_list("firing") + "{% endif +%}\n"
    + "{% if resolved %}Alerts Resolved:\n" + _alert_list("resolved") + "{% endif %}"
)

#: The same as Pushover's (and SNS') ``message`` has it: blank lines around each list.
ALERTS_TEXT_SPACED = (
    _ANNOTATIONS
    + "{% if firing +%}\nAlerts Firing:\n" + _alert_list("firing") + "\n{% endif +%}\n"
    # The last newline written as an expression: Jinja drops a template's final newline.
    + "{% if resolved +%}\nAlerts Resolved:\n" + _alert_list("resolved") + "\n{% endif %}{{ '\\n' }}"
)


def truncate_runes(text: str, limit: int) -> tuple[str, bool]:
    """Alertmanager's ``TruncateInRunes``: at most ``limit`` characters, the last one ``…``
    when cut; and whether it was cut."""
    if len(text) <= limit:
        return text, False
    if limit <= 3:
        return text[:limit], True
    return text[: limit - 1] + TRUNCATION_MARKER, True


def group_hash(group_key: str) -> str:
    """Alertmanager's ``Key.Hash()``: the SHA-256 of the group key, hex (OpsGenie's alias,
    VictorOps' entity_id)."""
    return hashlib.sha256(group_key.encode()).hexdigest()
