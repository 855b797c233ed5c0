"""Label matchers in Alertmanager's syntax.

``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex``; values may be
double-quoted with OpenMetrics escapes (``\\"``, ``\\n``, ``\\\\``); a list may be
wrapped in braces and separated by commas: ``{a="b", c=~"d|e"}``. Regexes are
anchored at both ends. A label missing from an alert matches as the empty string.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["MatchType", "Matcher", "MatcherError", "matches_all", "parse_matcher", "parse_matchers"]

# Go's RE2 \s is ASCII-only ([\t\n\f\r ]); Python's would also strip e.g. U+00A0.
_MATCHER_RE = re.compile(
    r"^[\t\n\f\r ]*([a-zA-Z_:][a-zA-Z0-9_:]*)[\t\n\f\r ]*(=~|=|!=|!~)[\t\n\f\r ]*(.*?)[\t\n\f\r ]*$",
    re.DOTALL,
)
# Inline flags such as (?i) at the start of a pattern; see compile_anchored.
_LEADING_FLAGS_RE = re.compile(r"(?:\(\?[a-zA-Z]+\))+")


class MatcherError(ValueError):
    """A matcher could not be parsed; the message points at the problem."""


class MatchType(enum.Enum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"

    @property
    def is_regex(self) -> bool:
        return self in (MatchType.REGEX, MatchType.NOT_REGEX)

    @property
    def is_negative(self) -> bool:
        return self in (MatchType.NOT_EQUAL, MatchType.NOT_REGEX)


# Sort order of types when name and value tie, as Alertmanager's enum order.
_TYPE_ORDER = {MatchType.EQUAL: 0, MatchType.NOT_EQUAL: 1, MatchType.REGEX: 2, MatchType.NOT_REGEX: 3}


def compile_anchored(pattern: str) -> re.Pattern[str]:
    """Compile a regex anchored at both ends, as Alertmanager does; match it with ``search``.

    Alertmanager compiles ``^(?:pattern)$``, adding the anchors as text; the
    same is done here with \\A and \\Z (Python's $ would also accept a trailing
    newline). Python accepts flags like ``(?i)`` only at the very start of an
    expression, so leading ones move in front of the anchor: in Go they apply
    to the rest of the group, which is the whole pattern.
    """
    flags = _LEADING_FLAGS_RE.match(pattern)
    head = flags.group() if flags else ""
    try:
        # re.ASCII: Go's \d, \w, \s and \b are ASCII-only classes.
        return re.compile(f"{head}\\A(?:{pattern[len(head):]})\\Z", re.ASCII)
    except re.error as exc:
        raise MatcherError(f"invalid regex {_quote(pattern)}: {exc.msg}") from None


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    type: MatchType
    value: str
    _re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def create(cls, name: str, type: MatchType, value: str) -> Matcher:
        regex = compile_anchored(value) if type.is_regex else None
        return cls(name, type, value, regex)

    @classmethod
    def legacy_regex(cls, name: str, pattern: str) -> Matcher:
        """A ``match_re`` entry. Alertmanager keeps these as the anchored text
        ``^(?:pattern)$``, which is what route keys (and so group keys) show."""
        return cls(name, MatchType.REGEX, f"^(?:{pattern})$", compile_anchored(pattern))

    def matches(self, value: str) -> bool:
        t = self.type
        if t is MatchType.EQUAL:
            return value == self.value
        if t is MatchType.NOT_EQUAL:
            return value != self.value
        assert self._re is not None
        found = self._re.search(value) is not None
        return found if t is MatchType.REGEX else not found

    def matches_labels(self, labels: Mapping[str, str]) -> bool:
        return self.matches(labels.get(self.name, ""))

    def sort_key(self) -> tuple[str, str, int]:
        return (self.name, self.value, _TYPE_ORDER[self.type])

    def __str__(self) -> str:
        return f'{self.name}{self.type.value}"{_escape(self.value)}"'


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _quote(value: str) -> str:
    return f'"{_escape(value)}"'


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    # A loop, not all() over a generator, which costs 40% more on this path of every
    # route, silence and inhibition check.
    for m in matchers:  # noqa: SIM110
        if not m.matches(labels.get(m.name, "")):
            return False
    return True


def matchers_string(matchers: Iterable[Matcher]) -> str:
    """``{a="b",c=~"d"}``: the form Alertmanager uses in route keys."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as ``severity=~"crit|page"``."""
    m = _MATCHER_RE.match(text)
    if m is None:
        raise MatcherError(
            f"bad matcher format: {text!r} (expected name, one of = != =~ !~, then a value)"
        )
    name, op, raw = m.groups()
    quoted = raw.startswith('"')
    if quoted:
        raw = raw[1:]
    out: list[str] = []
    escaped = False
    closed = False
    last = len(raw) - 1
    for i, ch in enumerate(raw):
        if escaped:
            escaped = False
            if ch == "n":
                out.append("\n")
            elif ch in ('"', "\\"):
                out.append(ch)
            else:  # a spurious escape keeps its backslash
                out.append("\\" + ch)
            continue
        if ch == "\\":
            if i < last:
                escaped = True
            else:
                out.append("\\")
        elif ch == '"':
            if not quoted or i < last:
                raise MatcherError(
                    f"matcher value contains unescaped double quote at offset {i}: {m.group(3)}"
                )
            closed = True
        else:
            out.append(ch)
    if quoted and not closed:
        raise MatcherError(f"matcher value is missing its closing double quote: {m.group(3)}")
    return Matcher.create(name, MatchType(op), "".join(out))


def split_matchers(text: str) -> list[str]:
    """Split a comma-separated matcher list, ignoring commas inside quotes."""
    if text.startswith("{"):
        text = text[1:]
    if text.endswith("}"):
        text = text[:-1]
    tokens: list[str] = []
    token: list[str] = []
    inside = escaped = False
    for ch in text:
        if ch == "," and not inside:
            tokens.append("".join(token))
            token = []
            continue
        if ch == '"':
            if escaped:
                escaped = False
            else:
                inside = not inside
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(ch)
    last = "".join(token).strip()
    if last:
        tokens.append(last)
    return tokens


def parse_matchers(text: str) -> list[Matcher]:
    """Parse ``{a="b", c!~"d"}`` or ``a=b,c!~d`` into matchers, in written order."""
    return [parse_matcher(tok) for tok in split_matchers(text)]
