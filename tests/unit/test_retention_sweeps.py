"""Retention sweeps run soon after start and at least twice per retention period, so
a daemon restarted often, or one with a short retention, still prunes on time."""

from __future__ import annotations

from tocsin.testing import advance, running

CONFIG = """
storage: {{retention: {retention}, history_retention: {history}}}
route: {{receiver: r}}
receivers: [{{name: r}}]
"""


async def sweeps(tmp_path, retention: str, history: str, seconds: list[float]) -> list[float]:
    """Start a runtime, advance through ``seconds``, return when history was pruned."""
    async with running(CONFIG.format(retention=retention, history=history), tmp_path) as rt:
        start = rt.clock.now()
        calls: list[float] = []
        real = rt.store.expire_history

        async def spy(before: float) -> int:
            calls.append(round(rt.clock.now() - start))
            return await real(before)

        rt.store.expire_history = spy  # type: ignore[method-assign]
        for step in seconds:
            await advance(rt, step)
        return calls


async def test_the_first_sweep_comes_within_a_minute_then_hourly(tmp_path):
    calls = await sweeps(tmp_path, "120h", "720h", [30, 30, 3600, 3600])
    assert calls == [60, 3660, 7260]


async def test_a_short_retention_is_swept_twice_per_period(tmp_path):
    calls = await sweeps(tmp_path, "120h", "10m", [60] * 12)  # 12 minutes
    assert calls == [60, 360, 660]  # first at one minute, then every 5 minutes


async def test_dead_letters_older_than_history_retention_are_dropped(tmp_path):
    from tocsin.core.models import Notification

    async with running(CONFIG.format(retention="120h", history="10m"), tmp_path) as rt:
        n = Notification(receiver="r", group_key="g", group_labels={}, alerts=[], now=rt.clock.now())
        await rt.dead_letters.add(receiver="r", integration="webhook[0]", n=n, attempts=3,
                                  error="refused", now=rt.clock.now())
        await advance(rt, 60)
        assert len(rt.dead_letters) == 1  # younger than the retention
        for _ in range(10):
            await advance(rt, 60)
        assert len(rt.dead_letters) == 0


async def test_handled_callbacks_are_kept_for_retention_but_never_less_than_they_may_come_again(tmp_path):
    # retention 10m, but PagerDuty events may be 1h old (max_event_age) and 5m ahead: 65m.
    async with running(CONFIG.format(retention="10m", history="720h"), tmp_path) as rt:
        assert await rt.handled_callbacks.claim("pagerduty", "E1", rt.clock.now())
        for _ in range(12):
            await advance(rt, 300)  # an hour: swept every 5 minutes
        assert await rt.store.callback_seen("pagerduty", "E1") is not None
        assert not await rt.handled_callbacks.claim("pagerduty", "E1", rt.clock.now())
        for _ in range(2):
            await advance(rt, 300)
        assert await rt.store.callback_seen("pagerduty", "E1") is None

    config = CONFIG.format(retention="10m", history="720h")
    shorter = config + "integrations: {pagerduty: {max_event_age: 1m}}\n"
    async with running(shorter, tmp_path / "short") as rt:  # kept for the retention: 10m
        assert await rt.handled_callbacks.claim("slack", "abc", rt.clock.now())
        await advance(rt, 540)
        assert await rt.store.callback_seen("slack", "abc") is not None
        for _ in range(2):
            await advance(rt, 300)
        assert await rt.store.callback_seen("slack", "abc") is None
