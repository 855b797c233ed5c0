"""YAML as Go's ``gopkg.in/yaml.v2`` (2.4) writes it: what Alertmanager's ``/api/v2/status``
answers in ``config.original``, and what ``amtool config show`` prints of it.

yaml.v2's emitter is a port of libyaml's, as PyYAML's is, so PyYAML lays the document
out (indentation, folding at 80 columns, the fallback to single quotes where a plain
scalar is not allowed). What differs is how a string is chosen to be quoted: yaml.v2
double-quotes a string that its own resolver would read back as something else
(``"yes"``, ``"010"``, ``"1:30"``, ``""``), writes one with a line break as a literal
block, and leaves the rest plain. That choice is made here, node by node, and PyYAML
is told to take every scalar as the string it is.

Input: ``dict`` (a mapping in its order: sort a Go map with :func:`go_map_order`),
``list`` (a block sequence), :class:`Flow` (a flow sequence, as yaml.v2's ``,flow``
tag), ``str``, ``bool``, ``int`` and ``None`` (``null``).
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable
from datetime import date
from typing import Any

import yaml

__all__ = ["Flow", "dump", "go_map_order", "plain_allowed"]

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


class Flow(list[Any]):
    """A sequence written in flow style: ``[a, b]``."""


# yaml.v2's resolve.go: the first character hints at what a plain scalar may be.
_HINT = {**dict.fromkeys("+-", "S"), **dict.fromkeys("0123456789", "D"), **dict.fromkeys("yYnNtTfFoO~", "M"),
         ".": "."}
_NOT_STR = frozenset({
    "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
    "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
    "", "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF",
    "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
})
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_GO_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_BINARY = re.compile(r"-?0b[01]+")
_DATE = r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
_CLOCK = r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:\.[0-9]+)?"
_TIMESTAMPS = (
    re.compile(_DATE),
    re.compile(_DATE + " " + _CLOCK),
    re.compile(_DATE + "[Tt]" + _CLOCK + r"(?:Z|[+-][0-9]{2}:[0-9]{2})"),
)


def _go_int(text: str) -> bool:
    """strconv.ParseInt(text, 0, 64) or ParseUint(text, 0, 64) succeeds."""
    if _GO_INT.fullmatch(text) is None:
        return False
    value = int(text, 0) if not re.fullmatch(r"[-+]?0[0-7]+", text) else int(text, 8)
    return -(2**63) <= value < 2**64


def _finite(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _timestamp(text: str) -> bool:
    """One of the layouts yaml.v2 reads as a timestamp (time.Parse, short date fields)."""
    for layout in _TIMESTAMPS:
        m = layout.fullmatch(text)
        if m is None:
            continue
        year, month, day, *clock = m.groups()
        try:
            date(int(year), int(month), int(day))
        except ValueError:
            continue
        if clock and (int(clock[0]) > 23 or int(clock[1]) > 59 or int(clock[2]) > 59):
            continue
        return True
    return False


def plain_allowed(text: str) -> bool:
    """Whether yaml.v2 writes the string ``text`` plain: its resolver reads it back as a
    string, and it is no base-60 float (``1:30``), which other parsers would read as a
    number."""
    if _BASE60.fullmatch(text) and text[0] in "+-0123456789":
        return False
    if text in _NOT_STR:
        return False
    hint = _HINT.get(text[0])
    if hint is None or hint == "M":
        return True
    if hint == ".":
        return not (_DOT_FLOAT.fullmatch(text) and _finite(text))
    if _timestamp(text):
        return False
    bare = text.replace("_", "")
    if _go_int(bare) or (_YAML_FLOAT.fullmatch(bare) and _finite(bare)):
        return False
    return _BINARY.fullmatch(bare) is None


def _digits(s: str, i: int, n: int) -> tuple[int, int]:
    """The run of decimal digits of ``s`` from ``i`` read onto ``n``, and where it ends."""
    while i < len(s) and unicodedata.category(s[i]) == "Nd":
        n = n * 10 + ord(s[i]) - 48
        i += 1
    return n, i


def _go_less(a: str, b: str) -> bool:
    """yaml.v2's order of string map keys (sorter.go): runs of digits compare as numbers."""
    for i in range(min(len(a), len(b))):
        ca, cb = a[i], b[i]
        if ca == cb:
            continue
        la, lb = ca.isalpha(), cb.isalpha()
        if la or lb:
            return ca < cb if la and lb else lb
        start = 0
        if ca == "0" or cb == "0":
            for j in range(i - 1, -1, -1):
                if unicodedata.category(a[j]) != "Nd":
                    break
                if a[j] != "0":
                    start = 1
                    break
        (an, ai), (bn, bi) = _digits(a, i, start), _digits(b, i, start)
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ca < cb
    return len(a) < len(b)


def _go_cmp(a: str, b: str) -> int:
    return -1 if _go_less(a, b) else 1 if _go_less(b, a) else 0


def go_map_order(keys: Iterable[str]) -> list[str]:
    """String keys in the order yaml.v2 writes a Go map's."""
    return sorted(keys, key=functools.cmp_to_key(_go_cmp))


def _node(value: Any) -> yaml.Node:
    if isinstance(value, dict):
        return yaml.MappingNode(_MAP, [(_node(k), _node(v)) for k, v in value.items()], flow_style=False)
    if isinstance(value, list):
        return yaml.SequenceNode(_SEQ, [_node(v) for v in value], flow_style=isinstance(value, Flow))
    if value is None:
        return yaml.ScalarNode(_STR, "null")
    if isinstance(value, bool):
        return yaml.ScalarNode(_STR, "true" if value else "false")
    if isinstance(value, int):
        return yaml.ScalarNode(_STR, str(value))
    text = str(value)
    style = "|" if "\n" in text else (None if plain_allowed(text) else '"')
    return yaml.ScalarNode(_STR, text, style=style)


class _Dumper(yaml.SafeDumper):
    """Every scalar is a string written as its node says (plain unless styled)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode:
            return _STR
        return str(super().resolve(kind, value, implicit))


def dump(value: Any) -> str:
    """``value`` as yaml.v2's ``yaml.Marshal`` writes it."""
    return str(yaml.serialize(_node(value), Dumper=_Dumper, allow_unicode=True, width=80, indent=2))
