"""A replay from end to end: the store opened to read, the configs of the window, the
history run through OLD and NEW (or, for ``--verify``, through the configs in force and
checked against what was recorded)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tocsin.config.server import StorageLocation
from tocsin.replay.history import HistoryReader
from tocsin.replay.report import compare
from tocsin.replay.routing import Routing, from_load
from tocsin.replay.sim import Recording, Simulation, Switch
from tocsin.replay.verify import fidelity
from tocsin.store import Store

__all__ = ["ReplayError", "Window", "open_store", "verify", "what_if"]


class ReplayError(Exception):
    """The replay cannot run: the message says why."""


@dataclass(frozen=True)
class Window:
    since: float
    until: float

    def as_dict(self) -> dict[str, float]:
        return {"since": self.since, "until": self.until}


def open_store(where: StorageLocation) -> Store:
    """The store at ``where``, to read beside a running daemon: SQLite read-only, or
    PostgreSQL without the instance lock the daemon holds (as a replica would)."""
    if where.kind == "sqlite":
        from tocsin.store.reader import SQLiteReader

        return SQLiteReader(where.target)
    from tocsin.store.postgres import PostgresStore

    return PostgresStore(where.target, replicas=True, pool_size=2)


async def timeline(store: Store, window: Window) -> tuple[Routing, list[Switch]]:
    """The config in force at the window's start and each one put in force in it."""
    loads = await store.config_loads(window.until)
    if not loads:
        raise ReplayError("the database records no config in force (a tocsin older than replay wrote "
                          "it): give the config that ran with --against")
    before = [c for c in loads if c.loaded_at <= window.since]
    first = before[-1] if before else loads[0]
    made: dict[str, Routing] = {}

    def routing(load: Any) -> Routing:
        if load.hash not in made:
            try:
                made[load.hash] = from_load(load)
            except ValueError as exc:
                raise ReplayError(f"the config recorded at {load.loaded_at:.0f} does not load: {exc}") \
                    from None
        return made[load.hash]

    later = [Switch(c.loaded_at, routing(c)) for c in loads if c.loaded_at > window.since and c is not first]
    return routing(first), later


async def _replay(store: Store, routing: Routing, switches: list[Switch],
                  window: Window) -> tuple[Recording, HistoryReader]:
    reader = HistoryReader(store, window.since, window.until)
    sim = Simulation(routing, await store.load_silences(), window.since)
    return await sim.run(reader.events(), switches, window.until), reader


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """The cyclic garbage collector run less often: a replay makes millions of small
    objects that live on (incidents, log entries, what was sent), and at the default
    threshold the collector walks them after every 700 (about a sixth of a replay's CPU).
    Cycles are still collected, every 100,000 objects made."""
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*before)


async def _at(where: StorageLocation, routing: Routing | None,
              window: Window) -> tuple[Recording, HistoryReader]:
    """A replay of the store at ``where`` under ``routing`` (None: the configs in force)."""
    store = open_store(where)
    await store.open()
    try:
        start, switches = (routing, []) if routing is not None else await timeline(store, window)
        with _fewer_collections():
            return await _replay(store, start, switches, window)
    finally:
        await store.close()


def _new_recording(where: StorageLocation, new: Routing, window: Window) -> Recording:
    return asyncio.run(_at(where, new, window))[0]


def _beside(work: Callable[[], Recording]) -> Callable[[], Recording]:
    """Start ``work`` in a child process (forked: it shares what is loaded, configs included)
    and return how to wait for its result; where there is no fork, it runs when waited for."""
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # pragma: no cover - not on POSIX
        return work
    mine, theirs = ctx.Pipe(duplex=False)

    def child() -> None:
        try:
            theirs.send(("ok", work()))
        except BaseException as exc:
            theirs.send(("error", str(exc) or type(exc).__name__))

    proc = ctx.Process(target=child, daemon=True)
    proc.start()
    theirs.close()

    def wait() -> Recording:
        try:
            status, value = mine.recv()
        except EOFError:
            raise ReplayError("the replay under the new config ended without an answer") from None
        finally:
            proc.join()
        if status != "ok":
            raise ReplayError(value)
        return value

    return wait


def what_if(where: StorageLocation, new: Routing, old: Routing | None, window: Window) -> dict[str, Any]:
    """The report of ``new`` against ``old`` (None: the configs that were in force). The two
    replays run side by side, NEW in a child process: call this outside an event loop."""
    new_recording = _beside(lambda: _new_recording(where, new, window))
    old_rec, reader = asyncio.run(_at(where, old, window))
    new_rec = new_recording()
    report = compare(old_rec, new_rec, reader.incidents)
    report["window"] = window.as_dict()
    report["alerts_replayed"] = len(reader.incidents)
    report["configs"] = {"old": list(dict.fromkeys(old_rec.configs)), "new": new.hash}
    return report


def verify(where: StorageLocation, window: Window, against: Routing | None = None) -> dict[str, Any]:
    """The replay under the configs in force (or ``against``) against the recorded notifications."""
    return asyncio.run(_verify(where, window, against))


async def _verify(where: StorageLocation, window: Window, against: Routing | None) -> dict[str, Any]:
    rec, reader = await _at(where, against, window)
    store = open_store(where)
    await store.open()
    try:
        result = await fidelity(HistoryReader(store, window.since, window.until).notified(), rec,
                                reader.incidents, window.since)
    finally:
        await store.close()
    result["window"] = window.as_dict()
    result["alerts_replayed"] = len(reader.incidents)
    result["configs"] = list(dict.fromkeys(rec.configs))
    return result
