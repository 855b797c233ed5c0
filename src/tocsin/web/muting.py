"""Whether each alert held is muted, computed once per change rather than once per request.

Answering "is this alert silenced or inhibited?" calls every mute hook for the alert; a
page or API call listing 10,000 alerts did that 10,000 times per request. :func:`muted`
answers what ``Runtime.muted(alert, None, now)`` answers, from verdicts computed for
every alert at once and kept while nothing they depend on changes:

* the alerts (``AlertState.version``: an alert is replaced, never changed in place),
  the silences (``Silences.version``), the inhibition rules' indexes
  (``Inhibitor.version``, and the inhibitor itself, which a reload replaces) and the mute
  hooks (``Runtime.muters``, rebuilt at a reload);
* time: a silence starts or ends, or an alert's end passes (it stops firing, and stops
  inhibiting), at the earliest of those times the verdicts are computed again.

Only tocsin's own mute hooks (silences, inhibitions, time intervals, which answer nothing
without a route) are known to depend on no more than that: when a plugin implements
``tocsin_mute`` (or ``tocsin_inhibit``), nothing is kept and every call asks the hooks.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tocsin.core.matchers import matches_all
from tocsin.core.models import Alert
from tocsin.core.mute import MuteReason
from tocsin.runtime import Runtime

__all__ = ["BUILTIN_MUTERS", "muted", "muter"]

#: The modules of tocsin's own mute hooks.
BUILTIN_MUTERS = frozenset({"tocsin.mute.silences", "tocsin.mute.inhibit", "tocsin.mute.timeintervals"})


@dataclass(slots=True)
class _Verdicts:
    key: tuple[Any, ...]
    since: float
    until: float
    #: Each alert held, and its reasons (empty: not muted).
    by_fp: dict[str, tuple[Alert, list[MuteReason]]] = field(default_factory=dict)


class _Cache:
    def __init__(self) -> None:
        self.held: _Verdicts | None = None
        self.muters: object = None
        self.cacheable = False


_CACHES: weakref.WeakKeyDictionary[Runtime, _Cache] = weakref.WeakKeyDictionary()


def _builtin_only(rt: Runtime) -> bool:
    if rt.hooks.has_impls("tocsin_inhibit"):
        return False
    impls = rt.hooks.hook.tocsin_mute.get_hookimpls()
    return all(getattr(i.function, "__module__", "") in BUILTIN_MUTERS for i in impls)


def _key(rt: Runtime) -> tuple[Any, ...]:
    # The inhibitor and the hooks themselves, not their ids: an id may be reused.
    return (rt.alerts.version, rt.silences.version, rt.inhibitor, rt.inhibitor.version, rt.muters)


def _compute(rt: Runtime, now: float, before: _Verdicts | None) -> _Verdicts:
    """Every alert's verdict. An alert unchanged since ``before`` keeps its verdict when the
    silences are the same and no inhibition rule targets it (its verdict depends on nothing
    else); an equal verdict is kept as the same list, so what was drawn from it stays."""
    alerts = list(rt.alerts)
    ends = min((a.ends_at for a in alerts if a.ends_at > now), default=float("inf"))
    out = _Verdicts(_key(rt), now, min(ends, rt.silences.next_change(now)))
    old = before.by_fp if before is not None else {}
    same_silences = before is not None and before.key[1:3] == out.key[1:3] \
        and before.since <= now < before.until
    targets = [rule.target for rule in rt.inhibitor.rules]
    for a in alerts:
        last = old.get(a.fingerprint)
        if last is not None and same_silences and last[0] is a \
                and not any(matches_all(t, a.labels) for t in targets):
            out.by_fp[a.fingerprint] = last
            continue
        reasons = rt.muted(a, None, now)
        if last is not None and last[1] == reasons:
            reasons = last[1]
        out.by_fp[a.fingerprint] = (a, reasons)
    return out


def _held(rt: Runtime, now: float) -> _Verdicts | None:
    """The verdicts in force at ``now``, or None when they may not be kept."""
    cache = _CACHES.get(rt)
    if cache is None:
        cache = _CACHES[rt] = _Cache()
    if cache.muters is not rt.muters:
        cache.muters, cache.cacheable, cache.held = rt.muters, _builtin_only(rt), None
    if not cache.cacheable:
        return None
    held = cache.held
    if held is None or held.key != _key(rt) or not held.since <= now < held.until:
        held = cache.held = _compute(rt, now, held)
    return held


def muter(rt: Runtime, now: float) -> Callable[[Alert], list[MuteReason]]:
    """A function answering, for an alert, what ``rt.muted(alert, None, now)`` answers (a
    list the caller must not change): to ask about many alerts at the same ``now``."""
    held = _held(rt, now)
    if held is None:
        return lambda alert: rt.muted(alert, None, now)
    by_fp = held.by_fp

    def reasons(alert: Alert) -> list[MuteReason]:
        found = by_fp.get(alert.fingerprint)
        if found is None or found[0] is not alert:  # not one of the alerts held
            return rt.muted(alert, None, now)
        return found[1]

    return reasons


def muted(rt: Runtime, alert: Alert, now: float) -> list[MuteReason]:
    """What ``rt.muted(alert, None, now)`` answers (a list the caller must not change)."""
    return muter(rt, now)(alert)
