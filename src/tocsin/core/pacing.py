"""Long work in slices, so that the event loop keeps answering meanwhile.

Every request, timer and delivery shares one event loop: while one of them
computes, the health check, ingest and every other client wait. Work that
grows with its input (an ingest of ten thousand alerts, the redaction and
rendering of a group of ten thousand, an API answer listing them) must
therefore hand the loop back now and then. Two tools:

* :class:`Pacer`, for loops of our own: ``await pacer.tick()`` once per item
  (an alert, an annotation, a slice of an answer) hands the loop back
  (``asyncio.sleep(0)``) whenever :data:`SLICE` seconds of work have passed
  since it last did. For a small input it never does, and costs a clock read.
* :func:`off_loop`, for synchronous code that is not ours to slice (Jinja
  templates, the ``email`` package): it runs in a worker thread. Pure Python
  there gives the loop its turn at every switch interval of the interpreter
  (5 ms), which a C call holding the interpreter lock would not (a regular
  expression, an encoder), so what runs there is Python, or C in pieces.
  :func:`heavy` says when a notification is worth it; a small one is rendered
  on the loop, as it always was.

A long JSON list is encoded :data:`ENCODE_ITEMS` items at a time
(:func:`encode_list`, :func:`encode_list_paced`), into bytes the same as one
``encode`` of the whole list would give; a long list whose sort key is Python
code (Alertmanager's alert order) is sorted in runs that are then merged
(:func:`sorted_paced`), into the order one stable sort would give.
"""

from __future__ import annotations

import asyncio
import heapq
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter
from typing import Any, TypeVar

import msgspec

from tocsin.core.models import Alert

__all__ = [
    "ENCODE_ITEMS", "HEAVY_ALERTS", "HEAVY_TEXT", "SLICE", "SORT_RUN", "Pacer", "encode_list",
    "encode_list_paced", "heavy", "off_loop", "sorted_paced",
]

#: The longest stretch of work a Pacer lets go by before it hands the loop back.
SLICE = 0.005

#: A notification with more alerts than this, or more annotation text (characters), is
#: rendered off the loop (:func:`heavy`).
HEAVY_ALERTS = 100
HEAVY_TEXT = 64 * 1024

#: Items of a list encoded at once (a few hundred kilobytes at most, for API answers).
ENCODE_ITEMS = 256

#: Items sorted at once by sorted_paced, before the sorted runs are merged.
SORT_RUN = 1024

#: Renders at once in worker threads: more would only share the same interpreter lock.
WORKERS = 2

T = TypeVar("T")

#: The pacers' clock (a module attribute, so that tests can turn it by hand).
_clock = perf_counter


class _Turn:
    """When the event loop's current turn (one pass over the callbacks that are ready)
    began, as far as pacers can tell: a marker queued by the first pacer to hand the loop
    back runs ahead of every pacer resuming in the next turn, and notes the time."""

    started = 0.0
    #: The loop a marker is queued on, not run yet.
    queued: object = None

    @classmethod
    def mark(cls) -> None:
        cls.started = _clock()
        cls.queued = None

    @classmethod
    def queue(cls) -> None:
        loop = asyncio.get_running_loop()
        if cls.queued is not loop:
            cls.queued = loop
            loop.call_soon(cls.mark)


class Pacer:
    """Hands the event loop back after every ``every`` seconds of the work it paces.

    One pacer per piece of work (a request, a flush), made when the work starts. When
    several pieces are paced at once, they share each turn of the loop: a piece that
    resumes after others have used the turn's ``every`` seconds hands it back at its first
    tick, so that a turn, and the wait of a request that needs a few, stays short."""

    __slots__ = ("_since", "every", "yields")

    def __init__(self, every: float = SLICE) -> None:
        self.every = every
        self._since = _clock()
        #: How many times it handed the loop back (tests and logs).
        self.yields = 0

    async def tick(self) -> None:
        """Hand the loop back if this work has had it for ``every`` seconds."""
        if _clock() - self._since >= self.every:
            _Turn.queue()
            await asyncio.sleep(0)
            self.yields += 1
            self._since = _Turn.started  # the marker ran ahead of this task, in this turn


async def sorted_paced(items: list[T], key: Callable[[T], Any], pacer: Pacer) -> list[T]:
    """``sorted(items, key=key)``, handing the loop back as it goes: :data:`SORT_RUN` items are
    sorted at a time, then the runs merged (stably: equal items keep their order)."""
    if len(items) <= SORT_RUN:
        return sorted(items, key=key)
    runs = []
    for start in range(0, len(items), SORT_RUN):
        runs.append(sorted(items[start:start + SORT_RUN], key=key))
        await pacer.tick()
    out: list[T] = []
    for item in heapq.merge(*runs, key=key):
        out.append(item)
        await pacer.tick()
    return out


def heavy(alerts: Iterable[Alert]) -> bool:
    """Whether rendering these alerts is worth a worker thread: more than
    :data:`HEAVY_ALERTS` of them, or more than :data:`HEAVY_TEXT` characters of
    annotations. Stops counting as soon as it knows."""
    text = 0
    for count, alert in enumerate(alerts, 1):
        for value in alert.annotations.values():
            text += len(value)
        if count > HEAVY_ALERTS or text > HEAVY_TEXT:
            return True
    return False


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _workers() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="tocsin-render")
        return _executor


async def off_loop(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in a worker thread (at most :data:`WORKERS` at once; the others queue).

    Cancelling the caller abandons a call still queued; one already running finishes in its
    thread and its answer is dropped."""
    return await asyncio.get_running_loop().run_in_executor(_workers(), fn, *args)


_encoder = msgspec.json.Encoder()
_COMMA = ord(",")


def _append(encoder: msgspec.json.Encoder, items: list[Any], buf: bytearray) -> None:
    """Add ``items`` to the JSON list in ``buf``: written over its closing bracket, with a
    comma over their own opening one."""
    at = len(buf) - 1 if buf else 0
    encoder.encode_into(items, buf, at)
    if at:
        buf[at] = _COMMA


def encode_list(items: list[Any], encoder: msgspec.json.Encoder = _encoder) -> bytearray:
    """``encoder.encode(items)``, :data:`ENCODE_ITEMS` at a time (in a worker thread, each
    piece is one hold of the interpreter lock rather than the whole list)."""
    buf = bytearray()
    for start in range(0, len(items), ENCODE_ITEMS):
        _append(encoder, items[start:start + ENCODE_ITEMS], buf)
    return buf or bytearray(b"[]")


async def encode_list_paced(items: list[Any], pacer: Pacer,
                            encoder: msgspec.json.Encoder = _encoder) -> bytearray:
    """:func:`encode_list`, handing the loop back between pieces."""
    buf = bytearray()
    for start in range(0, len(items), ENCODE_ITEMS):
        _append(encoder, items[start:start + ENCODE_ITEMS], buf)
        await pacer.tick()
    return buf or bytearray(b"[]")
