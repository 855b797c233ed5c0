"""Calling hooks: each implementation on its own, awaiting what answers with an awaitable.

pluggy is synchronous and stops at the first exception; tocsin's hooks may
answer with an awaitable, and one plugin raising must not keep the others
(the built-ins among them) from running. These helpers do both.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["call_each", "call_impls", "first_result", "maybe_await", "positional_results", "settled",
           "wanted_impls"]


def first_result(pm: pluggy.PluginManager, name: str) -> Callable[..., Any]:
    """A caller for the ``firstresult`` hook ``name`` that skips pluggy's machinery
    when one plain implementation is all there is (the common case: the built-in
    dedupe and route), which is most of a hook call's cost on the ingest path.
    Otherwise pluggy's own caller. Ask again after plugins change."""
    caller = getattr(pm.hook, name)
    impls = caller.get_hookimpls()
    if getattr(pm, "tracing", False) or len(impls) != 1 or impls[0].hookwrapper or impls[0].wrapper:
        return caller
    fn, names = impls[0].function, impls[0].argnames
    return lambda **kwargs: fn(*[kwargs[n] for n in names])


def positional_results(
    pm: pluggy.PluginManager, name: str, order: tuple[str, ...]
) -> Callable[..., list[Any]]:
    """A caller for the hook ``name`` that answers as pluggy's does (each implementation
    in pluggy's order, the answers that are not None, the first exception raised) without
    its machinery: a group flush asks the mute hooks once per alert, and in a storm of
    one-alert groups pluggy's per-call work was a tenth of the flush. The arguments are
    passed by position, in ``order``; an implementation that takes them in that order (the
    usual case) is called as it is, with no keyword dictionary or argument list built per
    call. Pluggy's own caller when an implementation wraps the others, or tracing. Ask
    again after plugins change."""
    caller = getattr(pm.hook, name)
    impls = caller.get_hookimpls()
    if getattr(pm, "tracing", False) or any(i.hookwrapper or i.wrapper for i in impls):
        return lambda *args: caller(**dict(zip(order, args, strict=True)))
    plan: list[Callable[..., Any]] = []
    for impl in reversed(impls):  # pluggy calls the last first
        fn, names = impl.function, tuple(impl.argnames)
        if names == order:
            plan.append(fn)
        else:
            index = [order.index(n) for n in names]
            plan.append(lambda *args, fn=fn, index=index: fn(*[args[i] for i in index]))

    def call(*args: Any) -> list[Any]:
        out = []
        for fn in plan:
            res = fn(*args)
            if res is not None:
                out.append(res)
        return out

    return call


async def maybe_await(value: Any) -> Any:
    """Hooks may answer with a value or an awaitable; give back the value."""
    if inspect.isawaitable(value):
        return await value
    return value


async def _settle(answer: Any) -> Any:
    if isinstance(answer, BaseException):
        raise answer
    return await maybe_await(answer)


async def settled(answers: list[Any]) -> list[Any]:
    """The answers of :func:`call_impls` awaited, each exception (given, or raised while
    awaited) in its answer's place, as ``gather(..., return_exceptions=True)`` gives them;
    a single answer (delivery alone, the usual case) is awaited in place, with no task."""
    if len(answers) != 1:
        return await asyncio.gather(*(_settle(a) for a in answers), return_exceptions=True)
    try:
        return [await _settle(answers[0])]
    except Exception as exc:
        return [exc]


def call_impls(caller: pluggy.HookCaller, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call every implementation of a hook, in pluggy's order, each on its own: one
    that raises gives its exception as its answer instead of stopping the others.
    Returns ``(plugin name, answer or exception)``; answers may be awaitables."""
    impls = caller.get_hookimpls()
    if any(i.hookwrapper or i.wrapper for i in impls):  # wrappers need pluggy's own loop
        try:
            return [("?", res) for res in caller(**kwargs)]
        except Exception as exc:
            return [("?", exc)]
    out: list[tuple[str, Any]] = []
    for impl in reversed(impls):
        try:
            out.append((impl.plugin_name, impl.function(*(kwargs[a] for a in impl.argnames))))
        except Exception as exc:
            out.append((impl.plugin_name, exc))
    return out


async def call_each(
    caller: pluggy.HookCaller,
    on_error: Callable[[str, BaseException], None],
    *,
    timeout: float | None = None,
    impls: list[pluggy.HookImpl] | None = None,
    **kwargs: Any,
) -> list[Any]:
    """Call and await the implementations of a hook one after the other; one that
    raises (at once or when awaited), or whose awaitable does not finish within
    ``timeout``, is reported to ``on_error`` and skipped; the others still run.
    ``impls`` (from :func:`wanted_impls`) limits the call to those implementations.
    Returns the answers that came back."""
    chosen = caller.get_hookimpls() if impls is None else impls
    if any(i.hookwrapper or i.wrapper for i in chosen):
        pending = call_impls(caller, **kwargs)
    else:
        pending = [(i.plugin_name, i) for i in reversed(chosen)]
    results = []
    for name, item in pending:
        try:
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, pluggy.HookImpl):
                item = item.function(*(kwargs[a] for a in item.argnames))
            if timeout is not None and inspect.isawaitable(item):
                results.append(await asyncio.wait_for(item, timeout))
            else:
                results.append(await maybe_await(item))
        except TimeoutError:
            on_error(name, TimeoutError(f"did not finish within {timeout:g}s"))
        except Exception as exc:
            on_error(name, exc)
    return results


def wanted_impls(caller: pluggy.HookCaller, runtime: Any) -> list[pluggy.HookImpl]:
    """The implementations that have something to do: a plugin may define
    ``wanted(runtime) -> bool`` to be left out (an enricher with no config)."""
    out = []
    for impl in caller.get_hookimpls():
        wanted = getattr(impl.plugin, "wanted", None)
        if wanted is None or wanted(runtime):
            out.append(impl)
    return out
