"""The daemon's start-up heap is frozen out of the collector's way, and frozen again at reload."""

from __future__ import annotations

import gc
import weakref

from tocsin.daemon import heap


class Cycle:
    """Garbage only the cyclic collector can free."""

    def __init__(self) -> None:
        self.me = self


def test_freeze_collects_the_garbage_before_freezing_the_living() -> None:
    try:
        dead = weakref.ref(Cycle())  # a cycle already garbage: not to be kept forever
        kept = Cycle()
        count = heap.freeze()
        assert count == gc.get_freeze_count() > 0
        assert dead() is None
        assert not any(o is kept for o in gc.get_objects())  # frozen: out of every generation
    finally:
        gc.unfreeze()


def test_refreeze_frees_what_died_since_the_freeze() -> None:
    try:
        old = Cycle()  # an old config, say, alive at the first freeze
        gone = weakref.ref(old)
        heap.freeze()
        del old  # a reload replaced it
        gc.collect()
        assert gone() is not None  # frozen: a collection does not free it
        heap.refreeze()
        assert gone() is None
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_pause_stops_the_collector_until_the_freeze_and_collects_what_came_before() -> None:
    try:
        dead = weakref.ref(Cycle())  # garbage of the imports, say
        heap.pause()
        assert dead() is None
        assert not gc.isenabled()
        kept = Cycle()  # loaded while paused: lives on
        heap.freeze()
        assert gc.isenabled()
        assert not any(o is kept for o in gc.get_objects())  # frozen
    finally:
        gc.enable()
        gc.unfreeze()
