"""The filter bar's text: Alertmanager matchers, separated by commas or spaces
(``severity="critical" instance=~"db.*"``), with or without braces."""

from __future__ import annotations

from collections.abc import Iterable

from tocsin.core.matchers import Matcher, parse_matcher

__all__ = ["join", "parse", "tokens"]


def _unbraced(text: str) -> str:
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        return text[1:-1]
    return text


def join(filters: Iterable[str]) -> str:
    """Several ``filter`` parameters (the Alertmanager UI's links have one, in braces) as one text."""
    return " ".join(t for t in (_unbraced(f) for f in filters) if t)


def tokens(text: str) -> list[str]:
    """The matchers of ``text``, split at commas and spaces outside double quotes."""
    out: list[str] = []
    token: list[str] = []
    inside = escaped = False
    for ch in text:
        if ch in ", \t\n" and not inside:
            if token:
                out.append("".join(token))
                token = []
            continue
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            inside = not inside
        token.append(ch)
    if token:
        out.append("".join(token))
    return out


def parse(text: str) -> list[Matcher]:
    """The matchers; MatcherError (a ValueError) naming the bad one."""
    return [parse_matcher(t) for t in tokens(_unbraced(text))]
