"""Config text shown in an error, with the values of secret keys masked.

A YAML syntax error stops parsing before any type is known, yet its message
quotes the line it is on, and that line may be ``smtp_auth_password: ...``.
So secrets are recognised by key name: a key is secret when a field of that
name is typed :class:`~tocsin.config.types.Secret` or
:class:`~tocsin.config.types.URL` (URLs carry tokens) anywhere in the schema,
built-in or a loaded plugin's (:func:`secret_field_names`), or when its name
looks secret (password, secret, token, key, credential).

On a line that has such a key, everything after the key's colon is masked;
so are the lines after it that belong to its value (more indented, a ``-``
item at the key's indentation, or indented with a tab, which YAML refuses and
which may still be the value). The masked text is also removed from the YAML
library's own messages, which quote tags, aliases and characters.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from msgspec import inspect as mi

from tocsin.config.types import URL, Secret

__all__ = ["SECRET_SHOWN", "SecretMask", "looks_secret", "secret_field_names"]

#: What is shown instead of a secret value.
SECRET_SHOWN = "<secret>"

_SECRET_NAME = re.compile(r"passw|secret|token|credential|key", re.IGNORECASE)

#: A mapping key and its colon: block style, flow style, quoted or not.
_KEY = re.compile(r"""(?<![\w.\-])(?P<q>["']?)(?P<key>[\w.\-]+)(?P=q)[ \t]*:(?=[ \t]|$|[^\w/])""")

#: Where PyYAML breaks lines (its marks count lines this way).
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")

#: What separates the words of a value that a YAML message may quote alone.
_WORD_SPLIT = re.compile(r"""[\s:,{}\[\]"'!&*#|>]+""")

#: Shorter words of a secret are left in messages (they would garble them, and say little).
_MIN_WORD = 4


def looks_secret(name: str) -> bool:
    """Whether a key's name alone says its value is a secret."""
    return bool(_SECRET_NAME.search(name))


def _holds_secret(t: mi.Type) -> bool:
    if isinstance(t, mi.CustomType):
        return issubclass(t.cls, Secret | URL)
    if isinstance(t, mi.UnionType):
        return any(_holds_secret(u) for u in t.types)
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        return _holds_secret(t.item_type)
    if isinstance(t, mi.DictType):
        return _holds_secret(t.value_type)
    return False


def _structs(t: mi.Type) -> Iterable[mi.StructType]:
    if isinstance(t, mi.StructType):
        yield t
    elif isinstance(t, mi.UnionType):
        for u in t.types:
            yield from _structs(u)
    elif isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        yield from _structs(t.item_type)
    elif isinstance(t, mi.DictType):
        yield from _structs(t.value_type)


@functools.lru_cache(maxsize=16)
def secret_field_names(*types: type) -> frozenset[str]:
    """The YAML names of every field typed Secret or URL (alone, optional, or in a list or
    mapping) in these config Structs and the Structs they contain (found once per set of
    types: each config load asks)."""
    names: set[str] = set()
    seen: set[type] = set()
    todo = [t for t in mi.multi_type_info(types) if isinstance(t, mi.StructType)]
    while todo:
        struct = todo.pop()
        if struct.cls in seen:
            continue
        seen.add(struct.cls)
        for f in struct.fields:
            if _holds_secret(f.type):
                names.add(f.encode_name)
            todo.extend(_structs(f.type))
    return frozenset(names)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _continues(line: str, key_column: int) -> bool:
    """Whether ``line`` may still be part of the value of a key at ``key_column``."""
    stripped = line.lstrip(" \t")
    if not stripped:
        return True
    indent = len(line) - len(stripped)
    return (indent > key_column or "\t" in line[:indent]
            or (indent == key_column and stripped.startswith("-")))


@dataclass
class SecretMask:
    """The lines of a config text, with secret values masked (see the module's docstring)."""

    lines: list[str]
    #: Line index -> the column from which that line is masked.
    masked_from: dict[int, int] = field(default_factory=dict)
    #: The masked text, as words to remove from messages.
    words: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, text: str, secret_keys: Iterable[str] = ()) -> SecretMask:
        keys = frozenset(secret_keys)
        mask = cls(_LINE_BREAK.split(text))
        value_of: int | None = None  # the column of the secret key whose value lines follow
        for i, line in enumerate(mask.lines):
            if value_of is not None and _continues(line, value_of):
                if line.strip():
                    mask._hide(i, _indent(line))
                continue
            value_of = None
            for m in _KEY.finditer(line):
                if m["key"] in keys or looks_secret(m["key"]):
                    mask._hide(i, m.end())
                    value_of = m.start()
                    break
        return mask

    def _hide(self, index: int, column: int) -> None:
        line = self.lines[index]
        value = line[column:].lstrip(" \t")
        if not value:
            return
        self.masked_from[index] = len(line) - len(value)
        self.words.add(value.strip())
        self.words.update(w for w in _WORD_SPLIT.split(value) if len(w) >= _MIN_WORD)

    def line(self, index: int) -> str:
        """Line ``index`` (from 0) as it may be shown."""
        if not 0 <= index < len(self.lines):
            return ""
        line = self.lines[index]
        column = self.masked_from.get(index)
        if column is None:
            return line
        space = " " if column and not line[column - 1].isspace() else ""
        return f"{line[:column]}{space}{SECRET_SHOWN}"

    def scrub(self, message: str) -> str:
        """``message`` without any of the masked text (compared ignoring case: YAML's
        messages quote some values lowercased)."""
        if not self.words:
            return message
        variants = self.words | {w.replace("_", "") for w in self.words}
        pattern = "|".join(re.escape(w) for w in sorted(variants, key=len, reverse=True) if w)
        return re.sub(pattern, SECRET_SHOWN, message, flags=re.IGNORECASE)

    def snippet(self, index: int, column: int, *, width: int = 120) -> str:
        """Line ``index`` indented, with a caret under ``column`` (from 0) unless that
        column is in a masked value or past what is shown."""
        shown = self.line(index)
        if len(shown) > width:
            shown = shown[: width - 3] + "..."
        masked = self.masked_from.get(index)
        out = f"    {shown}"
        if (masked is None or column < masked) and column < len(shown):
            # Tabs kept, so the caret lines up under the same column wherever tabs expand.
            pad = "".join(c if c == "\t" else " " for c in shown[:column])
            out += f"\n    {pad}^"
        return out
