"""Go ``text/template`` source split into text and the tokens of its actions.

The text between actions is kept as it is, less the white space that a trim
marker (``{{-`` or ``-}}``, the dash next to a space) asks to remove. Comments
(``{{/* ... */}}``) leave nothing. Each action gives its tokens, then an
``end_action`` token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["GoTemplateSyntaxError", "Token", "tokenize", "unquote"]

LEFT, RIGHT = "{{", "}}"
_SPACE = " \t\r\n"
KEYWORDS = frozenset({"block", "break", "continue", "define", "else", "end", "if", "range", "nil",
                      "template", "with"})


class GoTemplateSyntaxError(ValueError):
    """A template that does not parse; the message gives the line."""


@dataclass(slots=True)
class Token:
    #: text, start_action, field, var, dot, ident, keyword, bool, string, number, char, op, end_action
    kind: str
    value: str
    line: int
    #: For ``field`` and ``var``: the names of ``.A.B`` (``$x.A`` gives ``A`` after the variable).
    parts: tuple[str, ...] = ()
    #: Whether white space came before it in its action (``$x .A`` is two arguments,
    #: ``$x.A`` one).
    spaced: bool = True


_TOKEN = re.compile(r"""
    (?P<space>[ \t\r\n]+)
  | (?P<var>\$\w*)
  | (?P<field>(?:\.[^\W\d]\w*)+)
  | (?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|0[oObB][0-7_]+|(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][+-]?\d+)?)
       (?!\w))
  | (?P<dot>\.)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\[^\n]+?)')
  | (?P<op>:=|=|\||\(|\)|,)
  | (?P<ident>[^\W\d]\w*)
""", re.VERBOSE)

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\", "'": "'", '"': '"'}
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.DOTALL)


def unquote(literal: str, line: int) -> str:
    """A Go string or rune literal's value (``"a\\n"``, ``'x'``, a raw string)."""
    if literal.startswith("`"):
        return literal[1:-1].replace("\r", "")
    body = literal[1:-1]
    octets: list[int] = []

    def escape(m: re.Match[str]) -> str:
        code = m[1]
        if code[0] in "xuU01234567" and len(code) > 1:
            value = int(code[1:], 16) if code[0] in "xuU" else int(code, 8)
            if code[0] in "x01234567":  # a byte: kept as a private marker, joined as UTF-8 below
                octets.append(value)
                return f"\x00{len(octets) - 1}\x00"
            return chr(value)
        if code not in _ESCAPES:
            raise GoTemplateSyntaxError(f"line {line}: unknown escape sequence \\{code} in {literal}")
        return _ESCAPES[code]

    text = _ESCAPE.sub(escape, body)
    if octets:
        text = _join_octets(text, octets)
    return text


def _join_octets(text: str, octets: list[int]) -> str:
    out = bytearray()
    for i, piece in enumerate(re.split(r"\x00(\d+)\x00", text)):
        out += bytes([octets[int(piece)]]) if i % 2 else piece.encode()
    return out.decode(errors="replace")


def _trim_left(source: str, start: int) -> tuple[bool, int]:
    """Whether the action at ``start`` (just after ``{{``) opens with a trim marker, and
    where its content begins."""
    if source.startswith("-", start) and start + 1 < len(source) and source[start + 1] in _SPACE:
        return True, start + 2
    return False, start


def _action_end(source: str, start: int, line: int) -> tuple[int, int, bool]:
    """Where the action's content ends, where the text after it begins, and whether it
    closes with a trim marker; quotes and raw strings may hold ``}}``."""
    i, n = start, len(source)
    while i < n:
        c = source[i]
        if c in "\"'`":
            close = source.find(c, i + 1) if c == "`" else _quote_end(source, i)
            if close < 0:
                raise GoTemplateSyntaxError(f"line {line}: unterminated quoted string")
            i = close + 1
            continue
        if source.startswith(RIGHT, i):
            trimmed = i >= 2 and source[i - 1] == "-" and source[i - 2] in _SPACE
            return (i - 1 if trimmed else i), i + 2, trimmed
        i += 1
    raise GoTemplateSyntaxError(f"line {line}: unclosed action")


def _quote_end(source: str, i: int) -> int:
    quote, j = source[i], i + 1
    while j < len(source) and source[j] != quote:
        if source[j] == "\n":
            return -1
        j += 2 if source[j] == "\\" else 1
    return j if j < len(source) else -1


def _action_tokens(body: str, line: int) -> list[Token]:
    tokens: list[Token] = []
    pos, spaced = 0, True
    while pos < len(body):
        m = _TOKEN.match(body, pos)
        if m is None:
            raise GoTemplateSyntaxError(f"line {line}: unexpected {body[pos]!r} in action")
        kind, text = m.lastgroup or "", m[0]
        pos = m.end()
        if kind == "space":
            line += text.count("\n")
            spaced = True
            continue
        token = _token(kind, text, line)
        token.spaced, spaced = spaced, False
        tokens.append(token)
    return tokens


def _token(kind: str, text: str, line: int) -> Token:
    if kind == "field":
        return Token("field", text, line, tuple(text[1:].split(".")))
    if kind == "var":
        return Token("var", text, line)
    if kind == "raw":
        return Token("string", text, line)
    if kind == "ident" and text in ("true", "false"):
        return Token("bool", text, line)
    if kind == "ident" and text in KEYWORDS:
        return Token("keyword", text, line)
    return Token(kind, text, line)


def tokenize(source: str) -> list[Token]:
    """The source as ``text`` tokens and actions (their tokens, then ``end_action``)."""
    out: list[Token] = []
    pos, line, trim_next = 0, 1, False
    while True:
        start = source.find(LEFT, pos)
        text = source[pos:] if start < 0 else source[pos:start]
        if trim_next:
            text = text.lstrip(_SPACE)
        if start < 0:
            if text:
                out.append(Token("text", text, line))
            return out
        inner, body_start = _trim_left(source, start + 2)
        if inner:
            text = text.rstrip(_SPACE)
        if text:
            out.append(Token("text", text, line))
        line += source.count("\n", pos, start)
        comment = _comment_end(source, body_start, line)
        if comment is not None:
            line += source.count("\n", start, comment[0])
            pos, trim_next = comment
            continue
        body_end, pos, trim_next = _action_end(source, body_start, line)
        body = source[body_start:body_end]
        out.extend(_action(body, line))
        line += source.count("\n", start, pos)


def _comment_end(source: str, start: int, line: int) -> tuple[int, bool] | None:
    """For a comment action (``/*`` at ``start``): where the text after it begins and
    whether it closes with a trim marker; None when the action is no comment."""
    if not source.startswith("/*", start):
        return None
    close = source.find("*/", start + 2)
    if close < 0:
        raise GoTemplateSyntaxError(f"line {line}: unclosed comment")
    rest = close + 2
    for marker, trimmed in ((RIGHT, False), (" -" + RIGHT, True)):
        if source.startswith(marker, rest):
            return rest + len(marker), trimmed
    raise GoTemplateSyntaxError(f"line {line}: comment ends before closing delimiter")


def _action(body: str, line: int) -> list[Token]:
    tokens = [Token("start_action", "", line), *_action_tokens(body, line)]
    tokens.append(Token("end_action", "", line + body.count("\n")))
    return tokens
