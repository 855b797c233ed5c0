"""What a run answers: its output, captured up to ``max_output`` bytes, and failures.

A program's stdout and stderr, or an HTTP response body, are captured the same
way: the first ``max_output`` bytes are kept, the rest counted, and the text
says how much was cut.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tocsin.config.validate import field_error
from tocsin.remediation import Outcome, truncate_output

__all__ = ["OutputCapture", "check_max_output", "fail"]


class OutputCapture:
    """The first ``limit`` bytes of a stream, and how many came in all."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.total = 0
        #: Set when the reader gave up before the end (the text then says "more than").
        self.stopped = False

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept += chunk[:room]

    def text(self) -> str:
        text = self.kept.decode("utf-8", "replace")
        cut = self.total - len(self.kept)
        if self.stopped:
            return f"{text}\n[... more than {cut} bytes cut]"
        if cut:
            return f"{text}\n[... {cut} more bytes cut]"
        return truncate_output(text, self.limit)  # never cuts: at most `limit` bytes were kept

    async def drain(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            self.feed(chunk)


def fail(error: str, **kw: Any) -> Outcome:
    """A failed run's :class:`Outcome`."""
    return Outcome(ok=False, error=error, **kw)


def check_max_output(value: int) -> None:
    """The ``max_output`` config field's check."""
    if value < 1:
        raise field_error("max_output", "must be at least 1 (bytes)")
