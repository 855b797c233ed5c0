"""Redaction of sensitive data in annotations before they leave the host.

Alerts carry whatever their senders put in annotations, and a log excerpt
in a description can hold a password or a card number. Before a
notification is sent (and before a remediation's request is rendered),
every annotation value passes through the configured patterns: built-in
ones for tokens, passwords and card numbers, and your own regular
expressions. The alert tocsin keeps, and its API, are unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Literal

import msgspec

from tocsin.config.types import ConfigBase
from tocsin.config.validate import field_error
from tocsin.core.models import Alert, Notification

__all__ = ["BUILTIN", "RedactConfig", "Redactor"]

Builtin = Literal["tokens", "passwords", "card_numbers"]

_SECRET_WORDS = r"(?:api[_-]?key|access[_-]?key|secret|token|auth)"


def _keep_prefix(mark: str) -> Callable[[re.Match[str]], str]:
    return lambda m: m.group(1) + mark


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")


def _cards(text: str, mark: str) -> str:
    def sub(m: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", m.group(0))
        return mark if 13 <= len(digits) <= 19 and _luhn(digits) else m.group(0)

    return _CARD.sub(sub, text)


#: name -> list of (pattern, keeps-a-prefix) pairs
_BUILTIN: dict[str, list[tuple[re.Pattern[str], bool]]] = {
    "tokens": [
        (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/-]{8,}=*"), True),
        (re.compile(rf"(?i)(\b{_SECRET_WORDS}\w*\s*[=:]\s*)[^\s,;&]+"), True),
        (re.compile(r"\b(?:gh[pousr]|github_pat)_[A-Za-z0-9_]{20,}"), False),
        (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), False),
        (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), False),
        (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), False),
        (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"), False),
    ],
    "passwords": [
        (re.compile(r"(?i)(\b(?:password|passwd|pwd|pass)\s*[=:]\s*)[^\s,;&]+"), True),
        (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+(?=@)"), True),
    ],
}
BUILTIN: tuple[Builtin, ...] = ("tokens", "passwords", "card_numbers")


class RedactConfig(ConfigBase, kw_only=True):
    #: Built-in pattern sets to apply (all by default; ``[]`` for none).
    builtin: list[Builtin] = msgspec.field(default_factory=lambda: list(BUILTIN))
    #: Your own regular expressions; each match is replaced.
    patterns: list[str] = []
    replacement: str = "<redacted>"

    def __post_init__(self) -> None:
        for i, pattern in enumerate(self.patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise field_error(f"patterns[{i}]", f"invalid regular expression: {exc}") from None


class Redactor:
    """Applies a :class:`RedactConfig` to strings, annotation maps, alerts and notifications."""

    def __init__(self, config: RedactConfig | None = None) -> None:
        config = config or RedactConfig()
        self.mark = config.replacement
        self._rules: list[tuple[re.Pattern[str], bool]] = []
        for name in config.builtin:
            self._rules.extend(_BUILTIN.get(name, ()))
        self._cards = "card_numbers" in config.builtin
        self._rules.extend((re.compile(p), False) for p in config.patterns)

    @property
    def active(self) -> bool:
        return bool(self._rules) or self._cards

    def text(self, value: str) -> str:
        for pattern, prefix in self._rules:
            value = pattern.sub(_keep_prefix(self.mark) if prefix else self.mark, value)
        return _cards(value, self.mark) if self._cards else value

    def annotations(self, annotations: Mapping[str, str]) -> dict[str, str]:
        return {k: self.text(v) for k, v in annotations.items()}

    def alert(self, alert: Alert) -> Alert:
        cleaned = self.annotations(alert.annotations)
        if cleaned == alert.annotations:
            return alert
        return msgspec.structs.replace(alert, annotations=cleaned)

    def alerts(self, alerts: Iterable[Alert]) -> list[Alert]:
        return [self.alert(a) for a in alerts]

    def notification(self, n: Notification) -> Notification:
        if not self.active:
            return n
        alerts = self.alerts(n.alerts)
        note = self.text(n.note) if n.note else n.note
        if note == n.note and all(a is b for a, b in zip(alerts, n.alerts, strict=True)):
            return n
        return msgspec.structs.replace(n, alerts=alerts, note=note)
