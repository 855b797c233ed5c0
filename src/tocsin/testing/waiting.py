"""Waiting until something is true, within a bound, instead of sleeping a fixed time."""

from __future__ import annotations

import ast
import asyncio
import inspect
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

__all__ = ["wait_until"]

T = TypeVar("T")

#: How much of the predicate's last answer a timeout message shows.
SHOWN = 300


@overload
async def wait_until(
    predicate: Callable[[], Awaitable[T]], timeout: float = ..., interval: float = ..., *,
    message: str | Callable[[], str] | None = ...,
) -> T: ...


@overload
async def wait_until(
    predicate: Callable[[], T], timeout: float = ..., interval: float = ..., *,
    message: str | Callable[[], str] | None = ...,
) -> T: ...


async def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 5.0,
    interval: float = 0.01,
    *,
    message: str | Callable[[], str] | None = None,
) -> Any:
    """Call ``predicate`` (plain or async) until it answers something truthy, and return that.

    It is asked at once, then every ``interval`` seconds of real time: this waits for work
    on sockets, processes and other tasks (a timer on a fake clock is fired with
    ``advance``). After ``timeout`` seconds it raises AssertionError naming what was awaited
    (``message``, or a callable giving it, else the predicate's source) and its last answer.
    An async predicate that does not answer is cut off at the timeout too. An exception the
    predicate raises is not caught: raise one to stop waiting for something that cannot
    happen any more (a process that exited).
    """
    if timeout <= 0 or interval < 0:
        raise ValueError(f"wait_until needs timeout > 0 and interval >= 0, got {timeout}, {interval}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while True:
        answer: Any = predicate()
        if inspect.isawaitable(answer):
            try:
                async with asyncio.timeout_at(deadline) as scope:
                    answer = await answer
            except TimeoutError:
                if not scope.expired():
                    raise  # the predicate's own
                answer = NO_ANSWER
        last = answer
        if last:
            return last
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(_timeout_message(predicate, timeout, last, message))
        await asyncio.sleep(min(interval, remaining))


class _NoAnswer:
    """What an async predicate cut off at the timeout answered."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "none (it was still being awaited)"


NO_ANSWER = _NoAnswer()


def _timeout_message(predicate: Callable[..., Any], timeout: float, last: Any,
                     message: str | Callable[[], str] | None) -> str:
    what = message() if callable(message) else message or describe(predicate)
    shown = repr(last)
    if len(shown) > SHOWN:
        shown = shown[:SHOWN] + "..."
    return f"waited {timeout:g}s for {what}; last answer: {shown}"


def describe(predicate: Callable[..., Any]) -> str:
    """A lambda's source text (``len(server.requests) >= 2``), else the callable's name."""
    name = getattr(predicate, "__qualname__", None) or repr(predicate)
    if getattr(predicate, "__name__", "") != "<lambda>":
        return name
    try:
        lines, _ = inspect.getsourcelines(predicate)
    except (OSError, TypeError):
        return name
    source = textwrap.dedent("".join(lines))
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a call spread over lines: the first line is what there is
        return lines[0].strip()
    lambdas = [node for node in ast.walk(tree) if isinstance(node, ast.Lambda)]
    if len(lambdas) != 1:
        return lines[0].strip()
    return ast.get_source_segment(source, lambdas[0].body) or name
