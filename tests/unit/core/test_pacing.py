"""Work in slices: the same answers as the work done at once, and the loop handed back."""

from __future__ import annotations

import asyncio
import functools
import threading

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.core import pacing
from tocsin.core.models import Alert, sort_key
from tocsin.core.pacing import (
    ENCODE_ITEMS,
    HEAVY_ALERTS,
    HEAVY_TEXT,
    SORT_RUN,
    Pacer,
    encode_list,
    encode_list_paced,
    heavy,
    off_loop,
    sorted_paced,
)


class Clock:
    """The pacers' clock, turned by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(pacing, "_clock", c)
    return c


async def test_a_pacer_hands_the_loop_back_only_once_its_slice_is_used(clock):
    others = []

    async def other() -> None:
        others.append(1)

    pacer = Pacer(every=5)
    task = asyncio.create_task(other())
    clock.now = 4.9
    for _ in range(100):
        await pacer.tick()
    assert pacer.yields == 0
    assert not others  # nobody else ran
    clock.now = 5
    await pacer.tick()
    assert pacer.yields == 1
    assert others == [1]
    await task


async def test_paced_work_shares_each_turn_of_the_loop(clock):
    """Two pieces paced at once, each item of work a second: the first to resume in a turn
    works its slice (5 s), the other then does one item and hands the loop back, so that a
    turn stays about one slice long. (Each on its own would make turns of two slices.)"""
    done: list[str] = []

    async def work(name: str, pacer: Pacer) -> None:
        for _ in range(20):
            clock.now += 1
            done.append(name)
            await pacer.tick()

    await asyncio.gather(work("a", Pacer(every=5)), work("b", Pacer(every=5)))
    runs = "".join(done).replace("ab", "a b").replace("ba", "b a").split()
    assert runs[:6] == ["aaaaa", "b", "aaaaa", "b", "aaaaa", "b"]
    assert done.count("a") == done.count("b") == 20


items_strategy = st.lists(st.fixed_dictionaries({"a": st.integers(), "b": st.text(max_size=5)}),
                          max_size=3 * ENCODE_ITEMS)


@given(items_strategy)
@settings(max_examples=30, deadline=None)
def test_encoding_a_list_in_pieces_gives_the_same_bytes(items):
    expected = msgspec.json.encode(items)
    assert bytes(encode_list(items)) == expected
    assert bytes(asyncio.run(encode_list_paced(items, Pacer(every=0.0)))) == expected


@given(st.lists(st.tuples(st.integers(0, 20), st.integers()), max_size=3 * SORT_RUN))
@settings(max_examples=30, deadline=None)
def test_sorting_in_runs_is_one_stable_sort(pairs):
    def by_first(p: tuple[int, int]) -> int:
        return p[0]

    assert asyncio.run(sorted_paced(pairs, by_first, Pacer(every=0.0))) == sorted(pairs, key=by_first)


def alert(i: int, annotation: str = "") -> Alert:
    labels = {"alertname": "A", "instance": f"h{i % 7}", "job": f"j{i % 3}"}
    if i % 5:
        labels["extra"] = str(i % 11)
    return Alert(fingerprint=str(i), labels=labels, annotations={"d": annotation}, starts_at=0.0,
                 ends_at=0.0, generator_url="", updated_at=0.0)


async def test_alerts_are_sorted_in_runs_in_alertmanagers_order():
    alerts = [alert(i) for i in range(2 * SORT_RUN + 17)]
    paced = await sorted_paced(alerts, sort_key, Pacer(every=0.0))
    assert [a.fingerprint for a in paced] == [a.fingerprint for a in sorted(alerts, key=sort_key)]


def test_heavy_counts_alerts_and_annotation_text():
    assert not heavy([alert(i, "x" * 100) for i in range(HEAVY_ALERTS)])
    assert heavy([alert(i) for i in range(HEAVY_ALERTS + 1)])
    assert heavy([alert(0, "x" * (HEAVY_TEXT + 1))])
    assert not heavy([])


async def test_off_loop_runs_in_a_worker_thread():
    where = await off_loop(functools.partial(lambda: threading.current_thread().name))
    assert where.startswith("tocsin-render")
