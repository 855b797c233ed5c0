"""Heartbeats: dead man's switches.

A heartbeat expects a beat at least every ``every`` (plus ``grace``): an alert
matching its ``matchers`` (Prometheus' always-firing ``Watchdog``; one heartbeat
per distinct value of its ``per`` labels), or ``POST
/api/tocsin/v1/heartbeats/{name}`` from a cron job. When none comes in time,
tocsin raises its own alert, ``alertname="HeartbeatMissing"``, through the
ingest path, so that it routes, groups, escalates and notifies like any other;
it is posted again while the beats stay away, and resolved when one returns.

After a start (or a reload that adds a heartbeat), none is declared missing
before a full ``every + grace`` has passed, whatever the stored last-seen time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from tocsin.config.types import ConfigBase, Duration, MatcherList
from tocsin.config.validate import field_error
from tocsin.core.clock import Clock
from tocsin.core.labels import valid_label_name
from tocsin.core.matchers import matches_all
from tocsin.core.models import Alert, PostableAlert
from tocsin.core.scheduler import Scheduler, Timer
from tocsin.store import HeartbeatSeen, Store

__all__ = ["CHECK_EVERY", "MISSING", "REPOST_EVERY", "HeartbeatConfig", "HeartbeatError", "Heartbeats"]

log = structlog.get_logger("tocsin.incidents.heartbeats")

#: The alertname of the alert a missed heartbeat raises.
MISSING = "HeartbeatMissing"
#: How often the heartbeats are looked at (seconds).
CHECK_EVERY = 1.0
#: How often the alert of a missing heartbeat is posted again; it ends 4 of these later.
REPOST_EVERY = 60.0

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: Labels tocsin sets on the alert it raises.
_OWN = ("alertname", "heartbeat")


class HeartbeatConfig(ConfigBase, kw_only=True):
    name: str
    #: A beat is expected at least this often...
    every: Duration
    #: ...give or take this much.
    grace: Duration = Duration(0)
    #: Alerts matching every entry are beats (none: only ``POST .../heartbeats/{name}`` beats).
    matchers: list[MatcherList] = []
    #: One heartbeat per distinct value of these labels (of the matching alerts).
    per: list[str] = []
    #: Added to the labels and annotations of the ``HeartbeatMissing`` alert.
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise field_error("name", "must be letters, digits, '.', '_' or '-' (it is part of a URL)")
        if self.every <= 0:
            raise field_error("every", "must be greater than zero")
        if self.grace < 0:
            raise field_error("grace", "must not be negative")
        for i, label in enumerate(self.per):
            if not valid_label_name(label) or label in _OWN:
                raise field_error(f"per[{i}]", f"{label!r} is not a label name tocsin leaves to alerts")
        if len(set(self.per)) != len(self.per):
            raise field_error("per", "names a label twice")
        for key, names in (("labels", self.labels), ("annotations", self.annotations)):
            for name in names:
                if not valid_label_name(name):
                    raise field_error(f"{key}.{name}", f"invalid {key[:-1]} name {name!r}")
        for name in self.labels:
            if name in _OWN or name in self.per:
                raise field_error(f"labels.{name}", "is set by tocsin on the alert it raises")

    def matches(self, labels: Mapping[str, str]) -> bool:
        return bool(self.matchers) and all(matches_all(m, labels) for m in self.matchers)


class HeartbeatError(ValueError):
    """A beat tocsin cannot take: ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _key(per: Mapping[str, str]) -> str:
    return json.dumps(per, sort_keys=True, separators=(",", ":")) if per else ""


def _iso(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


Post = Callable[[list[PostableAlert]], Awaitable[Any]]
Spawn = Callable[[Coroutine[Any, Any, Any]], Any]


class Heartbeats:
    """Every heartbeat's last beat, the check that declares one missing, and the alert it raises
    (``post``: the ingest path). ``configure`` at start and at each reload; ``load`` what the
    store holds; ``persist`` writes what changed."""

    def __init__(self, *, clock: Clock, scheduler: Scheduler, store: Store, post: Post, spawn: Spawn) -> None:
        self.clock = clock
        self.scheduler = scheduler
        self.store = store
        self.post = post
        self.spawn = spawn
        self.configs: dict[str, HeartbeatConfig] = {}
        self.seen: dict[tuple[str, str], HeartbeatSeen] = {}
        #: When each heartbeat began to be watched (the start, or the reload that added it).
        self.watched_since: dict[str, float] = {}
        self.dirty: set[tuple[str, str]] = set()
        self.gone: set[tuple[str, str]] = set()
        self._posted: dict[tuple[str, str], float] = {}
        self._timer: Timer | None = None

    # -- config, store ---------------------------------------------------------------

    def configure(self, heartbeats: Iterable[HeartbeatConfig]) -> None:
        now = self.clock.now()
        old = self.configs
        self.configs = {h.name: h for h in heartbeats}
        for name in self.configs:
            self.watched_since.setdefault(name, now)
        for name in set(old) - set(self.configs):
            self.watched_since.pop(name, None)
        for key in [k for k in self.seen if k[0] not in self.configs]:
            entry = self.seen.pop(key)
            self.gone.add(key)
            self.dirty.discard(key)
            if entry.missing:  # no longer watched: its alert is over
                self._send([self._alert(old[entry.name], entry, now, firing=False)])
        for cfg in self.configs.values():
            if not cfg.per:
                self.seen.setdefault((cfg.name, ""), HeartbeatSeen(name=cfg.name, key=""))

    def load(self, found: Iterable[HeartbeatSeen]) -> None:
        for entry in found:
            key = (entry.name, entry.key)
            if entry.name in self.configs:
                self.seen[key] = entry
            else:
                self.gone.add(key)

    async def persist(self) -> None:
        """Write the heartbeats that changed, forget those no longer configured; on a failed
        write they stay to write at the next try."""
        dirty, gone = self.dirty, self.gone
        self.dirty, self.gone = set(), set()
        try:
            await self.store.save_heartbeats([self.seen[k] for k in dirty if k in self.seen])
            await self.store.delete_heartbeats(gone)
        except Exception:
            self.dirty |= dirty
            self.gone |= gone
            raise

    def start(self) -> None:
        """Watch from now: none is missing before a full ``every + grace`` from here."""
        now = self.clock.now()
        self.watched_since = dict.fromkeys(self.configs, now)
        self._timer = self.scheduler.call_later(CHECK_EVERY, self.check)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- beats -----------------------------------------------------------------------

    def observe(self, alert: Alert, now: float) -> None:
        """An alert was posted: a beat of each heartbeat it matches (while it fires)."""
        if not self.configs or alert.labels.get("alertname") == MISSING or alert.resolved(now):
            return
        for cfg in self.configs.values():
            if cfg.matches(alert.labels):
                self._beat(cfg, {k: alert.labels.get(k, "") for k in cfg.per}, now)

    def beat(self, name: str, labels: Mapping[str, str]) -> HeartbeatSeen:
        """A beat posted for heartbeat ``name``: ``labels`` gives a value to each of its ``per``
        labels. Raises HeartbeatError."""
        cfg = self.configs.get(name)
        if cfg is None:
            raise HeartbeatError("name", f"no heartbeat named {name!r} is configured")
        for label in labels:
            if label not in cfg.per:
                raise HeartbeatError(f"labels.{label}", f"not a per label of heartbeat {name!r}")
        for label in cfg.per:
            if not labels.get(label):
                raise HeartbeatError(f"labels.{label}",
                                     f"heartbeat {name!r} is kept per {label}: give its value")
        return self._beat(cfg, dict(labels), self.clock.now())

    def _beat(self, cfg: HeartbeatConfig, per: dict[str, str], now: float) -> HeartbeatSeen:
        key = (cfg.name, _key(per))
        entry = self.seen.get(key)
        if entry is None:
            entry = self.seen[key] = HeartbeatSeen(name=cfg.name, key=key[1], labels=per)
        entry.last_seen = now
        self.dirty.add(key)
        if entry.missing:
            entry.missing = False
            self._posted.pop(key, None)
            log.info("heartbeat back", heartbeat=cfg.name, labels=per)
            self._send([self._alert(cfg, entry, now, firing=False)])
        return entry

    # -- the check ---------------------------------------------------------------------

    def due(self, entry: HeartbeatSeen) -> float:
        """When ``entry`` is missing without another beat."""
        cfg = self.configs[entry.name]
        since = max(entry.last_seen or 0.0, self.watched_since.get(entry.name, 0.0))
        return since + float(cfg.every) + float(cfg.grace)

    def check(self) -> None:
        """Declare missing what is overdue; post the alerts of those still missing again."""
        self._timer = self.scheduler.call_later(CHECK_EVERY, self.check)
        now = self.clock.now()
        firing: list[PostableAlert] = []
        for key, entry in self.seen.items():
            cfg = self.configs.get(entry.name)
            if cfg is None:
                continue
            if not entry.missing and now >= self.due(entry):
                entry.missing = True
                self.dirty.add(key)
                log.warning("heartbeat missing", heartbeat=entry.name, labels=entry.labels,
                            last_seen=entry.last_seen)
            elif not entry.missing or now - self._posted.get(key, -REPOST_EVERY) < REPOST_EVERY:
                continue
            self._posted[key] = now
            firing.append(self._alert(cfg, entry, now, firing=True))
        if firing:
            self._send(firing)

    def _alert(self, cfg: HeartbeatConfig, entry: HeartbeatSeen, now: float, *,
               firing: bool) -> PostableAlert:
        labels = {**cfg.labels, **entry.labels, "alertname": MISSING, "heartbeat": cfg.name}
        last = "never" if entry.last_seen is None else _iso(entry.last_seen).isoformat(timespec="seconds")
        annotations = {"summary": f"heartbeat {cfg.name} missed: no beat within {cfg.every} "
                                  f"(+ {cfg.grace} grace); last beat: {last}", **cfg.annotations}
        ends = now + 4 * REPOST_EVERY if firing else now
        starts = min(self.due(entry), now) if firing else None
        return PostableAlert(labels=labels, annotations=annotations,
                             starts_at=None if starts is None else _iso(starts), ends_at=_iso(ends))

    def _send(self, alerts: list[PostableAlert]) -> None:
        self.spawn(self._post(alerts))

    async def _post(self, alerts: list[PostableAlert]) -> None:
        try:
            await self.post(alerts)
        except Exception:
            log.exception("heartbeat alert not taken", alerts=len(alerts))

    # -- what the API lists ---------------------------------------------------------------

    def listing(self) -> list[dict[str, Any]]:
        out = []
        for entry in sorted(self.seen.values(), key=lambda e: (e.name, e.key)):
            if entry.name not in self.configs:
                continue
            state = "missing" if entry.missing else ("waiting" if entry.last_seen is None else "ok")
            out.append({"name": entry.name, "labels": entry.labels, "lastSeen": entry.last_seen,
                        "due": self.due(entry), "state": state})
        return out
