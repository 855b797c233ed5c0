"""The timer heap and the timer wheel, on a fake clock (no event loop needed)."""

from __future__ import annotations

from tocsin.core.clock import FakeClock
from tocsin.core.scheduler import Scheduler, TimerWheel


def make(resolution: float = 1.0) -> tuple[FakeClock, Scheduler, TimerWheel, list[str]]:
    clock = FakeClock()
    sched = Scheduler(clock)
    fired: list[str] = []
    return clock, sched, TimerWheel(sched, fired.append, resolution), fired


def test_keys_fire_at_their_deadline_or_within_one_slot_after():
    clock, sched, wheel, fired = make()
    wheel.arm("a", 2.0)
    wheel.arm("b", 2.4)
    wheel.arm("c", 5.0)
    clock.advance(1.9)
    sched.run_due()
    assert fired == []
    clock.advance(0.1)  # t = 2.0: "a" is due on the dot
    sched.run_due()
    assert fired == ["a"]
    clock.advance(0.5)  # t = 2.5: "b" (2.4) waits for the end of its slot, never fires early
    sched.run_due()
    assert fired == ["a"]
    clock.advance(0.5)
    sched.run_due()
    assert fired == ["a", "b"]
    clock.advance(2.0)
    sched.run_due()
    assert fired == ["a", "b", "c"]
    assert len(wheel) == 0
    assert len(sched) == 0


def test_rearming_moves_a_key_and_disarming_forgets_it():
    clock, sched, wheel, fired = make()
    wheel.arm("a", 1.0)
    wheel.arm("b", 1.0)
    wheel.arm("a", 10.0)
    assert wheel.disarm("b") is True
    assert wheel.disarm("b") is False
    assert "a" in wheel
    assert "b" not in wheel
    assert len(sched) == 1  # the emptied slot's timer was cancelled
    clock.advance(5.0)
    sched.run_due()
    assert fired == []
    clock.advance(6.0)
    sched.run_due()
    assert fired == ["a"]


def test_one_scheduler_timer_per_slot_not_per_key():
    clock, sched, wheel, fired = make()
    for i in range(1000):
        wheel.arm(f"k{i}", 30.05 + (i % 10) / 11)  # all within one slot (30, 31]
    assert len(wheel) == 1000
    assert len(sched) == 1
    clock.advance(32.0)
    sched.run_due()
    assert fired == [f"k{i}" for i in range(1000)]  # in the order they were armed


def test_a_callback_rearming_for_now_runs_on_the_next_pass_not_in_a_loop():
    clock = FakeClock()
    sched = Scheduler(clock)
    calls: list[str] = []

    def again(key: str) -> None:
        calls.append(key)
        wheel.arm(key, 0.0)  # due "now", again and again

    wheel = TimerWheel(sched, again)
    wheel.arm("x", 0.0)
    clock.advance(1.0)
    sched.run_due()
    assert calls == ["x"]  # one pass ran it once; the re-armed timer waits for the next
    sched.run_due()
    assert calls == ["x", "x"]


def test_a_failing_callback_does_not_stop_the_others():
    clock = FakeClock()
    sched = Scheduler(clock)
    seen: list[str] = []

    def cb(key: str) -> None:
        if key == "bad":
            raise RuntimeError("boom")
        seen.append(key)

    wheel = TimerWheel(sched, cb)
    for key in ("a", "bad", "b"):
        wheel.arm(key, 1.0)
    clock.advance(2.0)
    sched.run_due()
    assert seen == ["a", "b"]
    assert len(wheel) == 0
