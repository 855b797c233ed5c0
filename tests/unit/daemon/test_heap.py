"""The daemon's start-up heap is frozen out of the collector's way, and frozen again at reload."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from tocsin.core.models import Alert
from tocsin.core.records import Escalation, Incident
from tocsin.daemon import heap
from tocsin.store import NflogEntry


@pytest.fixture(autouse=True)
def _thresholds() -> Iterator[None]:
    """freeze() sets the collector's thresholds for the process: put them back."""
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


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


def test_freeze_sets_the_daemons_thresholds() -> None:
    try:
        gc.set_threshold(700, 10, 10)
        heap.freeze()
        assert gc.get_threshold() == heap.THRESHOLDS
        assert heap.THRESHOLDS[0] > 700  # a young generation that outlives a request's objects
    finally:
        gc.unfreeze()


def test_the_per_alert_records_are_not_tracked_by_the_collector() -> None:
    """One of each per active alert: the full collections of a storm would walk them all."""
    labels = {"alertname": "A", "instance": "h"}
    alert = Alert(fingerprint="f", labels=labels, starts_at=1.0, ends_at=2.0)
    incident = Incident(id="i", fingerprint="f", labels=labels, fired_at=1.0, last_seen=1.0,
                        escalation=Escalation(policy="p", route_id="r", receiver="x", group_key="g",
                                              group_labels=labels))
    entry = NflogEntry(group_key="g", receiver="x", integration="webhook[0]", firing=frozenset({"f"}),
                       resolved=frozenset(), sent_at=1.0, expires_at=2.0)
    for record in (alert, incident, incident.escalation, entry):
        assert not gc.is_tracked(record), type(record).__name__


def test_a_storm_pause_turns_the_collector_off_while_held_and_on_again_with_its_garbage_freed() -> None:
    assert gc.isenabled()
    pause = heap.StormPause()
    try:
        pause.hold()
        assert not gc.isenabled()
        gone = weakref.ref(Cycle())  # cyclic garbage made during the storm
        pause.release()
        assert gc.isenabled()
        gc.collect()  # what the collector, on again, does at its next turn
        assert gone() is None
    finally:
        gc.enable()


def test_a_storm_pause_leaves_a_collector_turned_off_by_something_else_off() -> None:
    gc.disable()
    try:
        pause = heap.StormPause()
        pause.hold()
        pause.release()
        assert not gc.isenabled()  # start-up's pause, say, is not undone
    finally:
        gc.enable()
