"""Go's ``fmt`` as templates use it: ``print``, ``println``, ``printf`` and the text
an action writes (``%v``)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from tocsin.notify.gotemplate.values import GoStruct, format_float, type_name

__all__ = ["quote", "sprint", "sprintf", "sprintln", "value_text"]


def quote(s: str) -> str:
    """``strconv.Quote``: double-quoted, Go escapes, printable characters kept."""
    out = ['"']
    for c in s:
        out.append(_quote_char(c, '"'))
    out.append('"')
    return "".join(out)


_SIMPLE = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
           "\\": "\\\\"}


def _quote_char(c: str, q: str) -> str:
    if c == q:
        return "\\" + c
    if c in _SIMPLE:
        return _SIMPLE[c]
    if c == "\ufffd" or _printable(c):
        return c
    code = ord(c)
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _printable(c: str) -> bool:
    if c == " ":
        return True
    return unicodedata.category(c)[0] in "LMNPS"


def _stringer(value: Any) -> str | None:
    method = getattr(value, "String", None)
    return method() if callable(method) and getattr(method, "go_method", False) else None


def value_text(value: Any, verb: str = "v", nested: bool = False) -> str:
    """``%v`` (or ``%s``, ``%d``... inside a slice or map) of a value."""
    if value is None:
        return "<nil>" if verb == "v" else f"%!{verb}(<nil>)"
    text = _stringer(value)
    if text is not None:
        return text
    if isinstance(value, dict):
        pairs = " ".join(f"{value_text(k, verb, True)}:{value_text(value[k], verb, True)}"
                         for k in sorted(value))
        return f"map[{pairs}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(value_text(v, verb, True) for v in value) + "]"
    if isinstance(value, GoStruct):
        inner = " ".join(value_text(getattr(value, f), verb, True) for f in value.go_fields)
        return ("&{" if value.pointer and not nested else "{") + inner + "}"
    return _scalar(value, verb)


def _scalar(value: Any, verb: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value, "g")
    if verb == "q" and isinstance(value, str):
        return quote(value)
    return str(value)


def sprint(args: Sequence[Any]) -> str:
    """``fmt.Sprint``: a space between two operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(value_text(arg))
    return "".join(out)


def sprintln(args: Sequence[Any]) -> str:
    return " ".join(value_text(a) for a in args) + "\n"


_DIRECTIVE = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?(.)?", re.DOTALL)


def sprintf(fmt: str, args: Sequence[Any]) -> str:
    """``fmt.Sprintf`` for the verbs templates use: ``%v %s %q %d %f %e %g %x %X %o %b %c
    %t %T %%``, flags, width and precision (``*`` too); Go's ``%!`` notes for a wrong
    or missing argument and for arguments left over."""
    out: list[str] = []
    pos, used = 0, 0
    while True:
        start = fmt.find("%", pos)
        if start < 0:
            out.append(fmt[pos:])
            break
        out.append(fmt[pos:start])
        m = _DIRECTIVE.match(fmt, start)
        assert m is not None
        pos = m.end()
        flags, width_s, prec_s, verb = m[1], m[2], m[3], m[4]
        if verb is None:
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue
        width, used = _star(width_s, args, used)
        prec, used = (-1, used) if prec_s is None else _star(prec_s or "0", args, used)
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_pad(_format(args[used], verb, flags, prec), width, flags, args[used]))
        used += 1
    if used < len(args):
        extra = ", ".join(f"{type_name(a)}={value_text(a)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _star(spec: str | None, args: Sequence[Any], used: int) -> tuple[int, int]:
    if spec is None:
        return -1, used
    if spec != "*":
        return int(spec), used
    if used < len(args) and isinstance(args[used], int) and not isinstance(args[used], bool):
        return int(args[used]), used + 1
    return -1, used + 1


def _pad(text: str, width: int, flags: str, arg: Any) -> str:
    if width < 0 or len(text) >= width:
        return text
    fill = width - len(text)
    if "-" in flags:
        return text + " " * fill
    if "0" in flags and isinstance(arg, int | float) and not isinstance(arg, bool):
        sign = text[0] if text[:1] in "+- " else ""
        return sign + "0" * fill + text[len(sign):]
    return " " * fill + text


def _bad(verb: str, arg: Any) -> str:
    return f"%!{verb}({type_name(arg)}={value_text(arg)})"


def _format(arg: Any, verb: str, flags: str, prec: int) -> str:
    if verb == "T":
        return type_name(arg)
    if arg is None:
        return "<nil>" if verb == "v" else f"%!{verb}(<nil>)"
    if verb == "v" or (verb in "sq" and _stringer(arg) is not None):
        text = value_text(arg, "v")
        return quote(text) if verb == "q" else text
    if isinstance(arg, bool):
        return ("true" if arg else "false") if verb == "t" else _bad(verb, arg)
    if isinstance(arg, int):
        return _format_int(arg, verb, flags, prec)
    if isinstance(arg, float):
        return _format_float(arg, verb, flags, prec)
    if isinstance(arg, str):
        return _format_str(arg, verb, flags, prec)
    if isinstance(arg, list | tuple | dict) and verb in "sqdxX":
        return value_text(arg, verb)
    return _bad(verb, arg)


_INT_BASES = {"d": "d", "b": "b", "o": "o", "O": "o", "x": "x", "X": "X"}


def _format_int(arg: int, verb: str, flags: str, prec: int) -> str:
    if verb == "c":
        return chr(arg) if 0 <= arg <= 0x10FFFF else "\ufffd"
    if verb == "q":
        return "'" + _quote_char(chr(arg), "'") + "'" if 0 <= arg <= 0x10FFFF else "'\ufffd'"
    if verb == "U":
        return f"U+{arg:04X}"
    if verb not in _INT_BASES:
        return _bad(verb, arg)
    digits = format(abs(arg), _INT_BASES[verb])
    if prec >= 0:
        digits = digits.rjust(prec, "0") if prec or arg else ""
    if "#" in flags and verb in "xXo":
        digits = {"x": "0x", "X": "0X", "o": "0"}[verb] + digits
    if verb == "O":
        digits = "0o" + digits
    sign = "-" if arg < 0 else "+" if "+" in flags else " " if " " in flags else ""
    return sign + digits


def _format_float(arg: float, verb: str, flags: str, prec: int) -> str:
    if verb not in "eEfFgG":
        return _bad(verb, arg)
    text = format_float(arg, verb, prec)
    if arg >= 0 and not text.startswith(("+", "-")):
        text = ("+" if "+" in flags else " " if " " in flags else "") + text
    return text


def _format_str(arg: str, verb: str, flags: str, prec: int) -> str:
    if verb == "s":
        return arg[:prec] if prec >= 0 else arg
    if verb == "q":
        text = arg[:prec] if prec >= 0 else arg
        if "#" in flags and "`" not in text and all(_printable(c) or c == "\t" for c in text):
            return f"`{text}`"
        return quote(text)
    if verb in "xX":
        raw = arg.encode()
        raw = raw[:prec] if prec >= 0 else raw
        sep = " " if " " in flags else ""
        text = sep.join(format(b, "02x") for b in raw)
        return text.upper() if verb == "X" else text
    return _bad(verb, arg)
