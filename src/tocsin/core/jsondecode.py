"""Decoding request bodies with msgspec, deep nesting included."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["decode"]


def decode(decoder: msgspec.json.Decoder[Any], data: bytes | str | msgspec.Raw) -> Any:
    """``decoder.decode(data)``, where JSON nested deeper than the decoder can follow
    (msgspec raises ``RecursionError``) is a :class:`msgspec.DecodeError` like any
    other malformed body, so one ``except msgspec.DecodeError`` answers both."""
    try:
        return decoder.decode(data)
    except RecursionError:
        raise msgspec.DecodeError("JSON is nested too deeply") from None
