"""Go's ``regexp`` as ``match`` and ``reReplaceAll`` use it, on Python's ``re``.

The RE2 syntax templates use is Python's too, but for a few spellings translated
here: ``$`` and ``\\z`` (the end of the text, not before a last newline, unless
``(?m)``), ``\\Z`` which RE2 lacks, and the POSIX classes ``[[:alpha:]]``.
Replacement follows ``Regexp.ReplaceAllString``: ``$1``, ``${1}``, ``$name``,
``${name}``, ``$$``, and an empty match right after a match replaced once.
"""

from __future__ import annotations

import functools
import re

from tocsin.notify.gotemplate.values import ExecError

__all__ = ["compile_go", "match_string", "replace_all"]

_POSIX = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~",
    "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_POSIX_CLASS = re.compile(r"\[:(\^?)([a-z]+):\]")


def _translate(pattern: str) -> str:
    multiline = bool(re.match(r"\(\?[a-zA-Z]*m", pattern))
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            pair = pattern[i: i + 2]
            if pair == "\\Z" and not in_class:
                raise ExecError(f"error parsing regexp: invalid escape sequence: `\\Z` in {pattern!r}")
            out.append("\\Z" if pair == "\\z" and not in_class else pair)
            i += 2
            continue
        if in_class and (m := _POSIX_CLASS.match(pattern, i)):
            if m[2] not in _POSIX or m[1]:
                raise ExecError(f"error parsing regexp: invalid character class range: `{m[0]}`")
            out.append(_POSIX[m[2]])
            i = m.end()
            continue
        if c == "[" and not in_class:
            in_class = True
            out.append(c)
            if pattern[i + 1: i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1: i + 2] == "]":  # a leading ] is a member
                out.append("\\]")
                i += 1
        elif c == "]" and in_class:
            in_class = False
            out.append(c)
        elif c == "$" and not in_class and not multiline:
            out.append("\\Z")
        else:
            out.append(c)
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=256)
def compile_go(pattern: str) -> re.Pattern[str]:
    """The pattern compiled with Go's meaning; an error names the pattern."""
    try:
        return re.compile(_translate(pattern))
    except re.error as exc:
        raise ExecError(f"error parsing regexp: {exc.msg}: {pattern!r}") from None


def match_string(pattern: str, text: str) -> bool:
    """``regexp.MatchString``: whether the pattern matches anywhere in the text."""
    return compile_go(pattern).search(text) is not None


_NAME = re.compile(r"[A-Za-z0-9_]+")


def _group(m: re.Match[str], name: str) -> str:
    pattern = m.re
    if name.isdigit():
        index = int(name)
        if index > pattern.groups:
            return ""
        return m.group(index) or ""
    if name in pattern.groupindex:
        return m.group(name) or ""
    return ""


def expand(template: str, m: re.Match[str]) -> str:
    """``Regexp.Expand``: ``$name`` is the longest run of letters, digits and ``_``."""
    out: list[str] = []
    rest = template
    while True:
        before, sep, rest = rest.partition("$")
        out.append(before)
        if not sep:
            return "".join(out)
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        if rest.startswith("{"):
            close = rest.find("}")
            name = rest[1:close] if close > 0 else ""
            if not name or not _NAME.fullmatch(name):
                out.append("$")
                continue
            rest = rest[close + 1:]
        else:
            nm = _NAME.match(rest)
            if nm is None:
                out.append("$")
                continue
            name, rest = nm[0], rest[nm.end():]
        out.append(_group(m, name))


def replace_all(pattern: str, replacement: str, text: str) -> str:
    """``regexp.MustCompile(pattern).ReplaceAllString(text, replacement)``."""
    compiled = compile_go(pattern)
    out: list[str] = []
    last_end, pos = 0, 0
    while pos <= len(text):
        m = compiled.search(text, pos)
        if m is None:
            break
        out.append(text[last_end: m.start()])
        if m.end() > last_end or m.start() == 0:
            out.append(expand(replacement, m))
        last_end = m.end()
        pos = pos + 1 if pos + 1 > m.end() else m.end()
    out.append(text[last_end:])
    return "".join(out)
