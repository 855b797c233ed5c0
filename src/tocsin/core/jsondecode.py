"""Decoding with msgspec: request bodies (deep nesting included), and its errors told
as the offending field's path and what is wrong there."""

from __future__ import annotations

import re
from typing import Any

import msgspec

__all__ = ["decode", "split_error"]

_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_NAMED_FIELD = re.compile(r"^Object (?:missing required|contains unknown) field `(?P<name>[^`]+)`")


def decode(decoder: msgspec.json.Decoder[Any], data: bytes | str | msgspec.Raw) -> Any:
    """``decoder.decode(data)``, where JSON nested deeper than the decoder can follow
    (msgspec raises ``RecursionError``) is a :class:`msgspec.DecodeError` like any
    other malformed body, so one ``except msgspec.DecodeError`` answers both."""
    try:
        return decoder.decode(data)
    except RecursionError:
        raise msgspec.DecodeError("JSON is nested too deeply") from None


def split_error(error: msgspec.MsgspecError | str) -> tuple[str, str]:
    """A msgspec error as ``(path, message)``: ``"Expected `int`, got `str` - at `$.a[0].b`"``
    -> ``("a[0].b", "Expected `int`, got `str`")``. The path is ``""`` at the top; a missing
    or unknown field is in it (``"a.b"``, not the object ``"a"`` that lacks or has ``b``)."""
    text = str(error)
    m = _AT.search(text)
    path, message = ("", text) if m is None else (m["path"].removeprefix("."), text[: m.start()])
    named = _NAMED_FIELD.match(message)
    if named is not None:
        path = f"{path}.{named['name']}" if path else named["name"]
    return path, message
