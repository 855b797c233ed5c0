"""Silences, with Alertmanager's semantics.

A silence mutes the alerts all of its matchers match while it is active
(``starts_at <= now < ends_at``). Posting a silence with the id of an
existing one updates it in place when its matchers are unchanged and the
change of times is allowed for its state; otherwise the old one is expired
and a new one is created with a new id. Expired silences are kept for the
retention period, then forgotten.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import msgspec

from tocsin import hookimpl
from tocsin.config.types import ConfigBase
from tocsin.core.facade import Key
from tocsin.core.labels import valid_label_name
from tocsin.core.matchers import Matcher, MatcherError, MatchType
from tocsin.core.models import Alert
from tocsin.core.mute import MuteReason
from tocsin.core.records import Silence, SilenceMatcher
from tocsin.dispatch.route import Route

if TYPE_CHECKING:
    from tocsin.core.facade import Facade
    from tocsin.store import Store

__all__ = ["Silence", "SilenceError", "SilenceMatcher", "SilenceNotFound", "Silences", "SilencesConfig"]


class SilencesConfig(ConfigBase):
    """The ``silences`` section."""

    #: Accept silences whose matchers are all negative (``env!="prod"``), as Alertmanager
    #: 0.25 does. Off by default: such a silence mutes every alert without the label too.
    allow_negative_only: bool = False


class SilenceError(ValueError):
    """A silence that cannot be stored as given; the message says why."""


class SilenceNotFound(KeyError):
    pass


def _am_matches_empty(m: Matcher) -> bool:
    """Alertmanager 0.25's test: only ``=`` and ``=~`` count, negative matchers never do."""
    if m.type is MatchType.EQUAL:
        return m.value == ""
    return m.type is MatchType.REGEX and m.matches("")


def validate(sil: Silence, *, allow_negative_only: bool = False) -> tuple[Matcher, ...]:
    """Check a silence as Alertmanager does, with its messages; return its compiled matchers.

    A silence must have a matcher that does not match the empty string, or it would mute
    alerts that lack the label. Alertmanager 0.25 counts negative matchers as never
    matching it, and so accepts ``env!="prod"`` alone; with ``allow_negative_only`` so
    does this."""
    if sil.ends_at <= sil.starts_at:
        raise SilenceError("Failed to create silence: start time must be before end time")
    compiled = _compiled(sil)
    if all(m.matches("") for m in compiled) and (
            not allow_negative_only or all(_am_matches_empty(m) for m in compiled)):
        hint = ""
        if not all(_am_matches_empty(m) for m in compiled):
            hint = " (negative matchers alone are accepted with silences.allow_negative_only: true)"
        raise SilenceError(f"silence invalid: at least one matcher must not match the empty string{hint}")
    return compiled


def _compiled(sil: Silence) -> tuple[Matcher, ...]:
    if not sil.matchers:
        raise SilenceError("silence invalid: at least one matcher required")
    compiled = []
    for i, m in enumerate(sil.matchers):
        if not valid_label_name(m.name):
            raise SilenceError(f"silence invalid: invalid label matcher {i}: invalid label name {m.name!r}")
        try:
            compiled.append(m.to_matcher())
        except MatcherError as exc:
            raise SilenceError(f"silence invalid: invalid label matcher {i}: {exc}") from None
    return tuple(compiled)


def _can_update(prev: Silence, new: Silence, now: float) -> bool:
    if prev.matchers != new.matchers:
        return False
    state = prev.state(now)
    if state == "active":
        return int(new.starts_at) == int(prev.starts_at) and new.ends_at >= now
    if state == "pending":
        return new.starts_at >= now
    return False


class Silences:
    """In memory, written through to the store before any change is answered."""

    def __init__(self, store: Store, retention: float = 120 * 3600.0) -> None:
        self.store = store
        self.retention = retention
        #: ``silences.allow_negative_only`` of the config in force.
        self.allow_negative_only = False
        self._by_id: dict[str, Silence] = {}
        self._compiled: dict[str, tuple[Matcher, ...]] = {}
        #: Counts the changes: what a cache of mute verdicts compares.
        self.version = 0

    def load(self, silences: Iterable[Silence]) -> None:
        for s in silences:
            self._put(s)

    def _put(self, s: Silence) -> None:
        self._by_id[s.id] = s
        self._compiled[s.id] = s.compiled()
        self.version += 1

    def get(self, silence_id: str) -> Silence:
        try:
            return self._by_id[silence_id]
        except KeyError:
            raise SilenceNotFound(silence_id) from None

    def __len__(self) -> int:
        return len(self._by_id)

    async def set(self, sil: Silence, now: float) -> str:
        """Create or update; return the id the silence is stored under."""
        validate(sil, allow_negative_only=self.allow_negative_only)
        if sil.ends_at < now:
            raise SilenceError("Failed to create silence: end time can't be in the past")
        prev = self._by_id.get(sil.id) if sil.id else None
        if sil.id and prev is None:
            raise SilenceNotFound(sil.id)
        writes: list[Silence] = []
        if prev is not None:
            if _can_update(prev, sil, now):
                updated = msgspec.structs.replace(sil, updated_at=now)
                await self.store.save_silences([updated])
                self._put(updated)
                return updated.id
            if prev.state(now) != "expired":
                writes.append(self._expired(prev, now))
        new = msgspec.structs.replace(
            sil, id=str(uuid.uuid4()), starts_at=max(sil.starts_at, now), updated_at=now
        )
        writes.append(new)
        await self.store.save_silences(writes)
        for s in writes:
            self._put(s)
        return new.id

    @staticmethod
    def _expired(sil: Silence, now: float) -> Silence:
        if sil.state(now) == "pending":
            return msgspec.structs.replace(sil, starts_at=now, ends_at=now, updated_at=now)
        return msgspec.structs.replace(sil, ends_at=now, updated_at=now)

    async def expire(self, silence_id: str, now: float) -> None:
        sil = self.get(silence_id)
        if sil.state(now) == "expired":
            return
        done = self._expired(sil, now)
        await self.store.save_silences([done])
        self._put(done)

    def mutes(self, labels: dict[str, str], now: float) -> list[str]:
        """Ids of the active silences that match ``labels``, sorted."""
        out = []
        for sid, sil in self._by_id.items():
            if sil.starts_at <= now < sil.ends_at:
                for m in self._compiled[sid]:
                    if not m.matches(labels.get(m.name, "")):
                        break
                else:
                    out.append(sid)
        out.sort()
        return out

    def next_change(self, now: float) -> float:
        """The first time after ``now`` a silence starts or ends (what :meth:`mutes` answers
        changes only then, or with :attr:`version`); infinity when none will."""
        times = [t for s in self._by_id.values() for t in (s.starts_at, s.ends_at) if t > now]
        return min(times, default=float("inf"))

    def query(self, filters: Sequence[Matcher], now: float) -> list[Silence]:
        """Silences that have, for every filter, a matcher of the same name, operator and
        text (as Alertmanager 0.25 compares them: ``inst=~"1|3"`` finds the silence with
        that very matcher, not those whose value the pattern matches), in Alertmanager's
        order: active (soonest end first), pending (soonest start first), expired (latest
        end first)."""
        wanted = [SilenceMatcher.from_matcher(f) for f in filters]
        out = [sil for sil in self._by_id.values() if all(w in sil.matchers for w in wanted)]

        def key(s: Silence) -> tuple[int, float]:
            st = s.state(now)
            if st == "active":
                return (0, s.ends_at)
            if st == "pending":
                return (1, s.starts_at)
            return (2, -s.ends_at)

        out.sort(key=key)
        return out

    async def gc(self, now: float) -> int:
        gone = [sid for sid, s in self._by_id.items() if s.ends_at + self.retention <= now]
        for sid in gone:
            del self._by_id[sid]
            del self._compiled[sid]
            self.version += 1
        if gone:
            await self.store.delete_silences(gone)
        return len(gone)

#: The silences, as the runtime shares them with plugins.
SILENCES: Key[Silences] = Key("silences")


@hookimpl
def tocsin_mute(runtime: Facade, alert: Alert, route: Route | None, now: float) -> MuteReason | None:
    ids = runtime[SILENCES].mutes(alert.labels, now)
    return MuteReason("silence", tuple(ids)) if ids else None
