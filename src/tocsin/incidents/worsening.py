"""``unack_on: [severity]``: an acknowledgement cleared when the alert gets worse.

The severity is a label, so a worse alert is another alert (another fingerprint): one
that opens with the same labels but for a higher ``severity`` (in the order of
:data:`tocsin.core.severity.SEVERITIES`) than an acknowledged one re-opens that one,
when the policy escalating it lists ``severity`` in ``unack_on``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tocsin.core.records import ACKNOWLEDGED, Incident
from tocsin.core.severity import SEVERITIES, severity_level
from tocsin.incidents.policy import EscalationPolicy

__all__ = ["worsened"]


def _rest(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k != "severity"}


def worsened(new: Incident, acked: Iterable[Incident],
             policy_of: Callable[[Incident], EscalationPolicy | None]) -> list[tuple[Incident, str]]:
    """The acknowledged incidents of ``acked`` that ``new`` is a worse form of, each with why."""
    level = severity_level(new.severity)
    if level is None:
        return []
    rest = _rest(new.labels)
    out = []
    for inc in acked:
        policy = policy_of(inc)
        if inc.state != ACKNOWLEDGED or policy is None or "severity" not in policy.unack_on:
            continue
        old = severity_level(inc.severity)
        if old is None or SEVERITIES.index(level) >= SEVERITIES.index(old) or _rest(inc.labels) != rest:
            continue
        out.append((inc, f"severity rose from {old} to {level} (alert {new.id})"))
    return out
