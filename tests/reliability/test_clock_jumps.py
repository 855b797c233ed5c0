"""Wall-clock steps (an NTP correction, a VM resumed) must not fire groups early,
lose timers or re-notify: group timers run on the monotonic clock; alert end
times and the notification log's timestamps use the wall clock, as in
Alertmanager (so a step forward larger than ``repeat_interval`` does count as
that much time having passed)."""

from __future__ import annotations

import pytest

from tocsin.core.clock import FakeClock
from tocsin.core.timefmt import format_ts
from tocsin.testing import RecordingServer, advance, post, running

CONFIG = """
global: {{resolve_timeout: 6h}}
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: team
    webhook_configs: [{{url: "{url}", send_resolved: true}}]
"""


@pytest.fixture
async def server():
    s = RecordingServer()
    await s.start()
    yield s
    await s.stop()


async def flushed(rt, clock: FakeClock) -> None:
    rt.scheduler.run_due()
    await rt.dispatcher.settle()


@pytest.mark.parametrize("step", [-60.0, 3600.0, -3600.0])
async def test_a_wall_clock_step_does_not_move_group_timers(tmp_path, server, step):
    clock = FakeClock()
    async with running(CONFIG.format(url=server.url), tmp_path, clock=clock) as rt:
        await post(rt, {"labels": {"alertname": "A"}})
        await advance(rt, 10)
        clock.jump_wall(step)
        await flushed(rt, clock)
        assert server.requests == []  # not early: group_wait is 30 s of monotonic time
        await advance(rt, 19)
        assert server.requests == []
        await advance(rt, 1)
        assert len(server.requests) == 1  # and not lost
        for _ in range(6):  # half an hour of flushes: nothing changed, nothing re-sent
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 300)
        assert len(server.requests) == 1


async def test_a_step_back_does_not_resurrect_or_resend(tmp_path, server):
    clock = FakeClock()
    async with running(CONFIG.format(url=server.url), tmp_path, clock=clock) as rt:
        await post(rt, {"labels": {"alertname": "A"}})
        await advance(rt, 30)
        await post(rt, {"labels": {"alertname": "A"}, "endsAt": format_ts(clock.now())})
        await advance(rt, 300)
        assert [r.json()["status"] for r in server.requests] == ["firing", "resolved"]
        clock.jump_wall(-120)  # the wall clock now says the alert has not ended yet
        await advance(rt, 300)
        await advance(rt, 300)
        # The group dropped the alert after its resolved notice: nothing fires again.
        assert [r.json()["status"] for r in server.requests] == ["firing", "resolved"]
