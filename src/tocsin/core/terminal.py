"""Colour on a terminal: only when the stream is one and ``NO_COLOR`` is not set
(https://no-color.org), so that pipes, files and the journal get plain text."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["colour_wanted", "painted"]


def colour_wanted(stream: Any) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except ValueError:  # a closed stream
        return False


def painted(text: str, sgr: str) -> str:
    """``text`` in the SGR style ``sgr`` (``"31"`` red, ``"1"`` bold...), then reset."""
    return f"\x1b[{sgr}m{text}\x1b[0m"
