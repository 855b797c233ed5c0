"""``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge`` as Go templates compare: basic kinds
(bool, integers, floats, strings) by value, an integer never with a float; other
values with ``eq`` only when Go could compare them."""

from __future__ import annotations

from typing import Any

from tocsin.notify.gotemplate.values import ExecError, GoStruct, type_name

__all__ = ["eq", "ge", "gt", "le", "lt", "ne"]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "invalid" if value is None else "other"


def _equal(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        if a is not None and b is not None:
            raise ExecError("incompatible types for comparison")
        return a is None and b is None
    if ka == "other":
        if isinstance(a, list | dict) or isinstance(b, list | dict):
            raise ExecError(f"non-comparable type {type_name(a)}")
        if type_name(a) != type_name(b):
            raise ExecError(f"non-comparable types {type_name(a)}, {type_name(b)}")
        if isinstance(a, GoStruct) and a.go_fields:
            return all(_safe_equal(getattr(a, f), getattr(b, f)) for f in a.go_fields)
    return bool(a == b)


def _safe_equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict | list):
        raise ExecError(f"non-comparable type {type_name(a)}")
    return _equal(a, b)


def eq(first: Any, *others: Any) -> bool:
    if not others:
        raise ExecError("missing argument for comparison")
    return any(_equal(first, other) for other in others)


def ne(a: Any, b: Any) -> bool:
    return not _equal(a, b)


def _less(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka not in ("int", "float", "string") or kb not in ("int", "float", "string"):
        raise ExecError("invalid type for comparison")
    if ka != kb:
        raise ExecError("incompatible types for comparison")
    return bool(a < b)


def lt(a: Any, b: Any) -> bool:
    return _less(a, b)


def le(a: Any, b: Any) -> bool:
    return _less(a, b) or _equal(a, b)


def gt(a: Any, b: Any) -> bool:
    return not le(a, b)


def ge(a: Any, b: Any) -> bool:
    return not _less(a, b)
