"""The functions of Go templates in Alertmanager 0.25: ``text/template``'s builtins
and Alertmanager's ``DefaultFuncs`` (``toUpper``, ``toLower``, ``title``, ``join``,
``match``, ``safeHtml``, ``reReplaceAll``, ``stringSlice``).

Each function declares its parameters' Go types, which the evaluator checks as Go
does (``any``, ``string``, ``int``, ``[]string``); ``and`` and ``or`` are evaluated
by the evaluator itself, lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from tocsin.notify.gotemplate import compare
from tocsin.notify.gotemplate.gofmt import sprint, sprintf, sprintln
from tocsin.notify.gotemplate.goregexp import match_string, replace_all
from tocsin.notify.gotemplate.values import HTML, ExecError, StrSlice, is_true, type_name, zero_of

__all__ = ["FUNCS", "ExecError", "Func", "html_escape", "html_text_escape"]


@dataclass(frozen=True, slots=True)
class Func:
    fn: Callable[..., Any]
    params: tuple[str, ...]
    #: The type of the further arguments a variadic function takes.
    variadic: str | None = None


def _eval_args(args: tuple[Any, ...]) -> str:
    """``text/template``'s ``evalArgs``: one string as it is, else ``fmt.Sprint``."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(args)


_HTML = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\0": "\ufffd"}


def html_escape(text: str) -> str:
    """``template.HTMLEscapeString``."""
    return "".join(_HTML.get(c, c) for c in text)


_HTML_TEXT = {**_HTML, "+": "&#43;"}


def html_text_escape(text: str) -> str:
    """What ``html/template`` writes for a value in HTML text (``+`` escaped too)."""
    return "".join(_HTML_TEXT.get(c, c) for c in text)


_JS = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026",
       "=": "\\u003D"}


def js_escape(text: str) -> str:
    """``template.JSEscapeString``."""
    out = []
    for c in text:
        if c in _JS:
            out.append(_JS[c])
        elif ord(c) < 0x20 or (ord(c) >= 0x80 and not c.isprintable()):
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def _length(item: Any) -> int:
    if item is None:
        raise ExecError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, list | tuple | dict):
        return len(item)
    raise ExecError(f"len of type {type_name(item)}")


def _index_one(item: Any, key: Any) -> Any:
    if isinstance(item, dict):
        if not isinstance(key, str):
            raise ExecError(f"value has type {type_name(key)}; should be string")
        return item.get(key, zero_of(item))
    if isinstance(item, list | tuple | str):
        if not isinstance(key, int) or isinstance(key, bool):
            raise ExecError(f"cannot index slice/array with type {type_name(key)}")
        seq = item.encode() if isinstance(item, str) else item
        if not 0 <= key < len(seq):
            raise ExecError(f"index out of range: {key}")
        return seq[key]
    if item is None:
        raise ExecError("index of untyped nil")
    raise ExecError(f"can't index item of type {type_name(item)}")


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        item = _index_one(item, key)
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise ExecError("slice of untyped nil")
    if len(indexes) > 3 or (isinstance(item, str) and len(indexes) > 2):
        raise ExecError(f"too many slice indexes: {len(indexes)}")
    if not isinstance(item, list | tuple | str):
        raise ExecError(f"can't slice item of type {type_name(item)}")
    seq = item.encode() if isinstance(item, str) else item
    bounds = [int(i) for i in indexes]
    ends = [0, len(seq), len(seq)][len(bounds):]
    lo, hi = (bounds + ends)[:2]
    if any(not 0 <= b <= len(seq) for b in bounds) or lo > hi:
        raise ExecError(f"index out of range: {bounds}")
    part = seq[lo:hi]
    return part.decode(errors="replace") if isinstance(part, bytes) else type(item)(part)


def _title(text: str) -> str:
    """``cases.Title(language.AmericanEnglish)``: in each word the first letter in title
    case, the others in lower case. Letters, digits and ``_`` make words; ``.``, ``:``
    and an apostrophe between two letters do not end one."""
    out: list[str] = []
    in_word = titled = False
    for i, c in enumerate(text):
        if c.isalnum() or c == "_":
            if not in_word:
                in_word, titled = True, False
            if c.isalpha():
                out.append(c.lower() if titled else c.title())
                titled = True
            else:
                out.append(c)
            continue
        joins = c in ".:'\u2019" and in_word and text[i + 1: i + 2].isalpha()
        in_word = in_word and joins
        out.append(c)
    return "".join(out)


def _not(value: Any) -> bool:
    return not is_true(value)


def _unsupported_call(*args: Any) -> Any:
    raise ExecError("call of a function value: no data holds functions")


FUNCS: dict[str, Func] = {
    "and": Func(lambda *a: a[-1], ("any",), "any"),
    "or": Func(lambda *a: a[-1], ("any",), "any"),
    "not": Func(_not, ("any",)),
    "call": Func(_unsupported_call, ("any",), "any"),
    "html": Func(lambda *a: html_escape(_eval_args(a)), (), "any"),
    "js": Func(lambda *a: js_escape(_eval_args(a)), (), "any"),
    "urlquery": Func(lambda *a: quote_plus(_eval_args(a), safe=""), (), "any"),
    "print": Func(lambda *a: sprint(a), (), "any"),
    "printf": Func(lambda f, *a: sprintf(f, a), ("string",), "any"),
    "println": Func(lambda *a: sprintln(a), (), "any"),
    "len": Func(_length, ("any",)),
    "index": Func(_index, ("any",), "any"),
    "slice": Func(_slice, ("any",), "int"),
    "eq": Func(compare.eq, ("any",), "any"),
    "ne": Func(compare.ne, ("any", "any")),
    "lt": Func(compare.lt, ("any", "any")),
    "le": Func(compare.le, ("any", "any")),
    "gt": Func(compare.gt, ("any", "any")),
    "ge": Func(compare.ge, ("any", "any")),
    # Alertmanager's.
    "toUpper": Func(str.upper, ("string",)),
    "toLower": Func(str.lower, ("string",)),
    "title": Func(_title, ("string",)),
    "join": Func(lambda sep, items: sep.join(items), ("string", "[]string")),
    "match": Func(match_string, ("string", "string")),
    "safeHtml": Func(HTML, ("string",)),
    "reReplaceAll": Func(replace_all, ("string", "string", "string")),
    "stringSlice": Func(lambda *s: StrSlice(s), (), "string"),
}
