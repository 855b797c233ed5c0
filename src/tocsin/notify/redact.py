"""Redaction of sensitive data in annotations before they leave the host.

Alerts carry whatever their senders put in annotations, and a log excerpt
in a description can hold a password or a card number. Before a
notification is sent (and before a remediation's request is rendered),
every annotation value passes through the configured patterns: built-in
ones for tokens, passwords and card numbers, and your own regular
expressions. The alert tocsin keeps, and its API, are unchanged.

Delivery and remediations redact with the ``*_paced`` methods, which hand the
event loop back between annotations, and between the rules run on a long one
(:class:`~tocsin.core.pacing.Pacer`): a group of ten thousand alerts, or an
alert of crafted megabytes, is redacted without holding up the rest of the
daemon. One rule on one annotation is the unit that runs at once.

Your own patterns (``redact.patterns``) are run by the ``regex`` engine with a time
budget (:data:`PATTERN_BUDGET`) on each value: a pattern that backtracks without end on
a crafted annotation is stopped, that value is replaced whole (nothing it may hold
leaves), and a warning names the pattern. So no annotation holds the event loop for
long, whatever the patterns.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Literal

import msgspec
import structlog

from tocsin.config.types import ConfigBase
from tocsin.config.validate import field_error
from tocsin.core.models import Alert, Notification
from tocsin.core.pacing import Pacer

__all__ = ["BUILTIN", "LONG_TEXT", "PATTERN_BUDGET", "RedactConfig", "Redactor"]

log = structlog.get_logger("tocsin.redact")

#: Seconds one of your patterns may take on one value before it is stopped and the
#: value replaced whole.
PATTERN_BUDGET = 0.02
#: Seconds between two warnings about the same slow pattern.
_WARN_EVERY = 60.0

Builtin = Literal["tokens", "passwords", "card_numbers"]

#: A text at least this long is redacted one rule at a time, with a pause between rules;
#: a shorter one with all its rules at once.
LONG_TEXT = 4096

#: Redacted short texts remembered (built-in rules only); the memo starts over when full.
MEMO_SIZE = 8192

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


#: A rule takes a text and the replacement and gives the text redacted.
Rule = Callable[[str, str], str]


def _user_pattern(index: int, pattern: str) -> Rule:
    """A rule of one of the operator's patterns, run within :data:`PATTERN_BUDGET`; a value
    it cannot finish in time is replaced whole."""
    import regex  # here: only a config with patterns of its own needs the engine

    compiled = regex.compile(pattern)
    warned = [float("-inf")]

    def rule(text: str, mark: str) -> str:
        try:
            return compiled.sub(mark, text, timeout=PATTERN_BUDGET)
        except TimeoutError:
            now = time.monotonic()
            if now - warned[0] >= _WARN_EVERY:
                warned[0] = now
                log.warning("redaction pattern too slow on a value; the value was replaced whole",
                            pattern=f"redact.patterns[{index}]", budget_ms=PATTERN_BUDGET * 1000,
                            length=len(text))
            return mark
    return rule


def _regex(pattern: str, keep_prefix: bool = False) -> Rule:
    """A rule of one regular expression (linear in the text: no nested quantifiers);
    with ``keep_prefix``, group 1 stays and the rest of the match is replaced."""
    compiled = re.compile(pattern)
    if keep_prefix:
        return lambda text, mark: compiled.sub(_keep_prefix(mark), text)
    return lambda text, mark: compiled.sub(mark, text)


_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_KEY_END = re.compile(r"-----END [A-Z ]*PRIVATE KEY-----")


def _private_keys(text: str, mark: str) -> str:
    r"""Each BEGIN ... PRIVATE KEY block, through the first END after it. As the regex
    ``BEGIN[\s\S]*?END`` but linear: that one rescans the rest of the text from every
    BEGIN that has no END (quadratic on a text of repeated BEGIN lines)."""
    out: list[str] = []
    pos = 0
    while (begin := _KEY_BEGIN.search(text, pos)) is not None:
        end = _KEY_END.search(text, begin.end())
        if end is None:  # no END after this BEGIN, so after none of the later ones either
            break
        out += (text[pos:begin.start()], mark)
        pos = end.end()
    return "".join(out) + text[pos:] if out else text


_SCHEME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _has_scheme(text: str, floor: int, colon: int) -> bool:
    r"""Whether ``text[:colon]`` ends with a URL scheme that starts at a word boundary at
    or after ``floor``: ``\b[a-z][a-z0-9+.-]*`` (any case) right before ``://``."""
    start = colon
    while start > floor and text[start - 1] in _SCHEME:
        start -= 1
    return any(text[p] in _LETTERS and (p == 0 or not _is_word(text[p - 1])) for p in range(start, colon))


#: What follows the scheme: ``://user:password@``. Linear: each class stops at the
#: character the next part starts with, and none holds a ``/``, so no match holds a ``://``.
_CREDENTIALS = re.compile(r"://[^/\s:@]+:([^@\s/]+)@")


def _url_passwords(text: str, mark: str) -> str:
    r"""The password of ``scheme://user:password@host``, as the regex
    ``\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^@\s/]+(?=@)`` (any case) finds it, but found from
    each ``://`` instead of tried at every position: that regex is quadratic on a text
    like ``a.a.a.a...``. Each character is looked at a bounded number of times."""
    out: list[str] = []
    pos = 0  # where the next match may start: after the previous one
    for m in _CREDENTIALS.finditer(text):
        if _has_scheme(text, pos, m.start()):
            out += (text[pos:m.start(1)], mark)
            pos = m.end(1)
    return "".join(out) + text[pos:] if out else text


#: name -> its rules
_BUILTIN: dict[str, list[Rule]] = {
    "tokens": [
        _regex(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/-]{8,}=*", keep_prefix=True),
        _regex(rf"(?i)(\b{_SECRET_WORDS}\w*\s*[=:]\s*)[^\s,;&]+", keep_prefix=True),
        _regex(r"\b(?:gh[pousr]|github_pat)_[A-Za-z0-9_]{20,}"),
        _regex(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        _regex(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
        _regex(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        _private_keys,
    ],
    "passwords": [
        _regex(r"(?i)(\b(?:password|passwd|pwd|pass)\s*[=:]\s*)[^\s,;&]+", keep_prefix=True),
        _url_passwords,
    ],
}
BUILTIN: tuple[Builtin, ...] = ("tokens", "passwords", "card_numbers")

#: name -> what every match of one of its rules contains, as (words in any case, words as
#: they are, whether thirteen digits): an ASCII text with none of them is left as it is by
#: all of them, which one look tells before each rule is run in turn.
_TRIGGERS: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = {
    "tokens": (("bearer", "api", "access", "secret", "token", "auth"),
               ("gh", "github_pat_", "xox", "AKIA", "ASIA", "eyJ", "-----BEGIN "), False),
    "passwords": (("pass", "pwd"), ("://",), False),
    "card_numbers": ((), (), True),
}
_THIRTEEN_DIGITS = re.compile(r"\d(?:[ -]?\d){12}")


def _untouched(names: Iterable[str]) -> Callable[[str], bool] | None:
    """A test that a text is left as it is by every rule of the built-in sets ``names``:
    ASCII (other scripts' letters may match a keyword in another case), and none of their
    triggers in it. None when no set is chosen."""
    chosen = [_TRIGGERS[n] for n in dict.fromkeys(names) if n in _TRIGGERS]
    if not chosen:
        return None
    folded = tuple(w for c in chosen for w in c[0])
    exact = tuple(w for c in chosen for w in c[1])
    digits = any(c[2] for c in chosen)

    def untouched(text: str) -> bool:
        if not text.isascii():
            return False
        low = text.lower()
        if any(w in low for w in folded) or any(w in text for w in exact):
            return False
        return not (digits and _THIRTEEN_DIGITS.search(text))

    return untouched


#: The most alerts a notification redacted at once may have (:func:`_small`).
SMALL_GROUP = 8


def _small(n: Notification) -> bool:
    """Whether ``n`` is redacted at once: at most :data:`SMALL_GROUP` alerts, and every
    annotation (and the note) shorter than :data:`LONG_TEXT`. The built-in rules on
    that much text take a few microseconds, and an alert storm's notifications are
    mostly of one alert each."""
    if len(n.alerts) > SMALL_GROUP or len(n.note) >= LONG_TEXT:
        return False
    return all(len(v) < LONG_TEXT for a in n.alerts for v in a.annotations.values())


class RedactConfig(ConfigBase, kw_only=True):
    #: Built-in pattern sets to apply (all by default; ``[]`` for none).
    builtin: list[Builtin] = msgspec.field(default_factory=lambda: list(BUILTIN))
    #: Your own regular expressions; each match is replaced.
    patterns: list[str] = []
    replacement: str = "<redacted>"

    def __post_init__(self) -> None:
        if not self.patterns:
            return
        import regex  # here: only a config with patterns of its own needs the engine

        for i, pattern in enumerate(self.patterns):
            try:
                regex.compile(pattern)
            except regex.error as exc:
                raise field_error(f"patterns[{i}]", f"invalid regular expression: {exc}") from None


class Redactor:
    """Applies a :class:`RedactConfig` to strings, annotation maps, alerts and notifications."""

    def __init__(self, config: RedactConfig | None = None) -> None:
        config = config or RedactConfig()
        self.mark = config.replacement
        self._rules: list[Rule] = []
        for name in config.builtin:
            self._rules.extend(_BUILTIN.get(name, ()))
        self._cards = "card_numbers" in config.builtin
        self._own = bool(config.patterns)
        # The operator's own patterns, each stopped when it runs past its time budget.
        self._rules.extend(_user_pattern(i, p) for i, p in enumerate(config.patterns))
        #: Short texts already redacted with the built-in rules alone (an annotation goes
        #: to each receiver of its alert, and again at each flush of its group).
        self._memo: dict[str, str] = {}
        #: Whether no built-in rule could change a text (None: every text goes through them).
        self._untouched = None if self._own else _untouched(config.builtin)

    @property
    def active(self) -> bool:
        return bool(self._rules) or self._cards

    def text(self, value: str) -> str:
        memo = self._memo if not self._own and len(value) < LONG_TEXT else None
        if memo is not None and (known := memo.get(value)) is not None:
            return known
        if self._untouched is not None and self._untouched(value):
            return value  # no rule could match it
        out = value
        for rule in self._rules:
            out = rule(out, self.mark)
        out = _cards(out, self.mark) if self._cards else out
        if memo is not None:
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[value] = out
        return out

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

    # -- the same, handing the event loop back as it goes ----------------------------------------

    async def text_paced(self, value: str, pacer: Pacer) -> str:
        """:meth:`text`, with a pause between rules when the text is long, or when the
        operator's own patterns are among them (each may take its whole time budget)."""
        if len(value) < LONG_TEXT and not self._own:
            value = self.text(value)
        else:
            for rule in self._rules:
                value = rule(value, self.mark)
                await pacer.tick()
            if self._cards:
                value = _cards(value, self.mark)
        await pacer.tick()
        return value

    async def alert_paced(self, alert: Alert, pacer: Pacer | None = None) -> Alert:
        """:meth:`alert`, handing the loop back between annotations."""
        if not self.active:
            return alert
        pacer = pacer or Pacer()
        cleaned: dict[str, str] = {}
        for k, v in alert.annotations.items():
            if len(v) < LONG_TEXT and not self._own:  # as text_paced does it, without its frame
                cleaned[k] = self.text(v)
                await pacer.tick()
            else:
                cleaned[k] = await self.text_paced(v, pacer)
        if cleaned == alert.annotations:
            return alert
        return msgspec.structs.replace(alert, annotations=cleaned)

    async def notification_paced(self, n: Notification, pacer: Pacer | None = None) -> Notification:
        """:meth:`notification`, handing the loop back between annotations; at once for a
        small one (:func:`_small`), whose redaction with the built-in rules is bounded."""
        if not self.active:
            return n
        if not self._own and _small(n):
            return self.notification(n)
        pacer = pacer or Pacer()
        alerts = [await self.alert_paced(a, pacer) for a in n.alerts]
        note = await self.text_paced(n.note, pacer) if n.note else n.note
        if note == n.note and all(a is b for a, b in zip(alerts, n.alerts, strict=True)):
            return n
        return msgspec.structs.replace(n, alerts=alerts, note=note)
