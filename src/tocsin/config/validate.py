"""Decode plain data (from YAML) into msgspec Structs, collecting every error.

``msgspec.convert`` stops at the first problem; an operator fixing a config file
wants all of them at once, each with its path. ``decode`` walks the target type
alongside the data, converts leaves with msgspec (custom types go through
``dec_hook``) and builds the Structs itself, so ``__post_init__`` checks run and
their errors are reported at the Struct's path too.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import inspect as mi

from tocsin.core.jsondecode import split_error

__all__ = ["ConfigError", "Problem", "Scalar", "decode", "join_path", "plain"]


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path or '<root>'}: {self.message}"


class ConfigError(ValueError):
    """One or more problems in a configuration document."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        prefix = f"{self.source}: " if self.source else ""
        return "\n".join(f"{prefix}{p}" for p in self.problems)


def join_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


@dataclass(frozen=True, slots=True)
class Scalar:
    """A plain scalar YAML 1.1 reads as a boolean or a number, with the text it was written
    as. Alertmanager's fields are typed in Go, and yaml.v2 gives a string field the text:
    ``receiver: yes`` names the receiver ``yes`` and ``match: {flag: on}`` matches ``on``.
    The decoder (:func:`decode`) takes :attr:`text` for a string field and
    :attr:`value` for any other."""

    value: bool | int | float
    text: str

    def __str__(self) -> str:
        return self.text


def plain(data: Any) -> Any:
    """``data`` with every :class:`Scalar` replaced by its value, as PyYAML reads it."""
    if isinstance(data, Scalar):
        return data.value
    if isinstance(data, dict):
        return {plain(k): plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [plain(v) for v in data]
    return data


_SCALARS_AS_STR = (int, float, bool)


class _Walker:
    def __init__(self, dec_hook: Callable[[type, Any], Any] | None) -> None:
        self.dec_hook = dec_hook
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def walk(self, data: Any, t: mi.Type, path: str) -> Any:
        if isinstance(data, Scalar):
            data = data.text if _wants_text(t, data.value) else data.value
        if isinstance(t, mi.StructType):
            return self.struct(data, t, path)
        if isinstance(t, mi.ListType):
            if not isinstance(data, list):
                self.fail(path, f"expected a list, got {_kind(data)}")
                return None
            return [self.walk(item, t.item_type, join_path(path, i)) for i, item in enumerate(data)]
        if isinstance(t, mi.DictType):
            if not isinstance(data, dict):
                self.fail(path, f"expected a mapping, got {_kind(data)}")
                return None
            return {
                self.walk(k, t.key_type, path): self.walk(v, t.value_type, join_path(path, str(k)))
                for k, v in data.items()
            }
        if isinstance(t, mi.UnionType):
            if data is None and t.includes_none:
                return None
            others = [u for u in t.types if not isinstance(u, mi.NoneType)]
            if isinstance(data, list):  # ``word | list[Struct]``: the list's items, each checked
                others = [u for u in others if isinstance(u, mi.ListType)] or others
            if len(others) == 1:
                return self.walk(data, others[0], path)
        if isinstance(t, mi.StrType) and isinstance(data, _SCALARS_AS_STR):
            # YAML reads `severity: 1` as an int; Alertmanager takes it as text.
            data = str(data).lower() if isinstance(data, bool) else str(data)
        return self.leaf(data, t, path)

    def leaf(self, data: Any, t: mi.Type, path: str) -> Any:
        target = _python_type(t)
        try:
            return msgspec.convert(plain(data), target, dec_hook=self.dec_hook)
        except msgspec.ValidationError as exc:
            self.fail(path, split_error(exc)[1])
            return None

    def struct(self, data: Any, t: mi.StructType, path: str) -> Any:
        if not isinstance(data, dict):
            self.fail(path, f"expected a mapping, got {_kind(data)}")
            return None
        before = len(self.problems)
        self.unknown_keys(data, t, path)
        kwargs, bad_fields, complete = self.fields(data, t, path)
        if not complete:
            return None
        value = self.construct(t, kwargs, path, bad_fields)
        return None if len(self.problems) > before else value

    def unknown_keys(self, data: dict[Any, Any], t: mi.StructType, path: str) -> None:
        names = [f.encode_name for f in t.fields]
        for key in data:
            if key not in names:
                hint = difflib.get_close_matches(str(key), names, n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                self.fail(join_path(path, str(key)), f"unknown field{extra}")

    def fields(
        self, data: dict[Any, Any], t: mi.StructType, path: str
    ) -> tuple[dict[str, Any], set[str], bool]:
        """The good fields' values, the names of the bad ones, and whether every required
        field has a good value. A bad optional field is left at its default, so the
        Struct's own checks still run and report their problems too."""
        kwargs: dict[str, Any] = {}
        bad_fields: set[str] = set()
        complete = True
        for f in t.fields:
            where = join_path(path, f.encode_name)
            if f.encode_name not in data:
                if f.required:
                    self.fail(where, "missing required field")
                    complete = False
                continue
            n = len(self.problems)
            value = self.walk(data[f.encode_name], f.type, where)
            if len(self.problems) == n:
                kwargs[f.name] = value
            else:
                bad_fields.add(f.encode_name)
                complete = complete and not f.required
        return kwargs, bad_fields, complete

    def construct(self, t: mi.StructType, kwargs: dict[str, Any], path: str, bad_fields: set[str]) -> Any:
        """The Struct, or None with its ``__post_init__`` problem reported."""
        try:
            return t.cls(**kwargs)
        except (ValueError, TypeError) as exc:
            sub, _, msg = str(exc).partition("\0")
            if msg and sub.split(".")[0].split("[")[0] in bad_fields:
                return None  # a consequence of a problem already reported
            if msg:  # a check that names the field it is about
                self.fail(join_path(path, sub), msg)
            else:
                self.fail(path, str(exc))
            return None


def _wants_text(t: mi.Type, value: Any) -> bool:
    """Whether a field of type ``t`` takes a YAML scalar's text rather than its value."""
    if isinstance(t, mi.StrType):
        return True
    if isinstance(t, mi.UnionType):
        kinds = {type(u) for u in t.types}
        own = {bool: mi.BoolType, int: mi.IntType, float: mi.FloatType}[type(value)]
        return mi.StrType in kinds and own not in kinds and not (own is mi.IntType and mi.FloatType in kinds)
    return False


def field_error(field: str, message: str) -> ValueError:
    """An error raised from ``__post_init__`` that points at one of the Struct's fields."""
    return ValueError(f"{field}\0{message}")


@functools.lru_cache(maxsize=256)
def _type_info(cls: type) -> mi.Type:
    return mi.type_info(cls)


def _python_type(t: mi.Type) -> Any:
    """Map msgspec's type description back to an annotation ``convert`` accepts."""
    simple = {
        mi.StrType: str,
        mi.IntType: int,
        mi.FloatType: float,
        mi.BoolType: bool,
        mi.AnyType: Any,
        mi.NoneType: type(None),
    }
    for k, v in simple.items():
        if isinstance(t, k):
            return v
    if isinstance(t, mi.CustomType | mi.StructType | mi.EnumType):
        return t.cls
    if isinstance(t, mi.LiteralType):
        from typing import Literal

        return Literal[tuple(t.values)]
    if isinstance(t, mi.UnionType):
        from typing import Union

        return Union[tuple(_python_type(u) for u in t.types)]  # noqa: UP007
    if isinstance(t, mi.ListType):
        return list[_python_type(t.item_type)]  # type: ignore[misc]
    if isinstance(t, mi.DictType):
        return dict[_python_type(t.key_type), _python_type(t.value_type)]  # type: ignore[misc]
    raise TypeError(f"unsupported config type {t!r}")


def _kind(data: Any) -> str:
    if data is None:
        return "nothing"
    if isinstance(data, dict):
        return "a mapping"
    if isinstance(data, list):
        return "a list"
    if isinstance(data, bool):
        return "a boolean"
    if isinstance(data, int | float):
        return "a number"
    if isinstance(data, str):
        return "a string"
    return type(data).__name__


def decode(
    data: Any,
    cls: type,
    *,
    path: str = "",
    dec_hook: Callable[[type, Any], Any] | None = None,
) -> tuple[Any, list[Problem]]:
    """Convert ``data`` to ``cls``; return the value (None on error) and every problem."""
    walker = _Walker(dec_hook)
    value = walker.walk(data, _type_info(cls), path)
    return value, walker.problems
