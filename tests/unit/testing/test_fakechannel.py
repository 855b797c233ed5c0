"""FakeChannel: a channel kind that records what delivery asks of it and fails or hangs when
told, through a real runtime, and the retry helpers that go with it."""

from __future__ import annotations

import asyncio

import pytest

from tocsin.testing import (
    ConfigError,
    EventRecorder,
    FakeChannel,
    FakeClock,
    advance,
    dead_letters,
    instant_retries,
    make_config,
    make_plugins,
    no_jitter,
    post,
    running,
    wait_until,
)

CONFIG = """
route: {receiver: r, group_wait: 10s, group_interval: 5m}
receivers:
  - name: r
    fake_configs: [{}, {timeout: 100ms}]
"""


async def test_records_each_send_with_its_receiver_integration_and_time(tmp_path):
    clock = FakeClock()
    fake = FakeChannel(clock)
    async with running(CONFIG, tmp_path, plugins=[fake], clock=clock) as rt:
        await post(rt, {"labels": {"alertname": "X"}})
        await advance(rt, 10)
        sends = sorted(fake.sends, key=lambda s: s.integration)
        assert [(s.receiver, s.integration, s.at, s.outcome) for s in sends] == [
            ("r", "fake[0]", clock.now(), "sent"), ("r", "fake[1]", clock.now(), "sent")]
        assert [a.labels["alertname"] for n in fake.delivered for a in n.alerts] == ["X", "X"]


async def test_retryable_failures_are_retried_without_waiting(tmp_path):
    fake, events = FakeChannel(), EventRecorder()
    async with running(CONFIG, tmp_path, plugins=[fake, events]) as rt:
        waits = instant_retries(rt)
        fake.fail_next(2, integration="fake[0]")
        await post(rt, {"labels": {"alertname": "X"}})
        with no_jitter():
            await advance(rt, 10)
        mine = [s.outcome for s in fake.sends if s.integration == "fake[0]"]
        assert mine == ["failed", "failed", "sent"]
        assert [s.outcome for s in fake.sends if s.integration == "fake[1]"] == ["sent"]
        assert waits.delays == [0.5, 0.75]
        assert sorted((e.integration, e.attempts) for e in events.sent) == [("fake[0]", 3), ("fake[1]", 1)]
        assert events.failed == []


async def test_retry_after_is_the_delay(tmp_path):
    fake = FakeChannel()
    async with running(CONFIG, tmp_path, plugins=[fake]) as rt:
        waits = instant_retries(rt)
        fake.fail_next(retry_after=7.0, status=429, integration="fake[0]")
        await post(rt, {"labels": {"alertname": "X"}})
        await advance(rt, 10)
        assert waits.delays == [7.0]


async def test_a_permanent_failure_is_dead_lettered_at_once(tmp_path):
    fake, events = FakeChannel(), EventRecorder()
    async with running(CONFIG, tmp_path, plugins=[fake, events]) as rt:
        waits = instant_retries(rt)
        fake.fail_next(retryable=False, status=400, integration="fake[1]")
        await post(rt, {"labels": {"alertname": "X"}})
        await advance(rt, 10)
        assert waits.delays == []
        [letter] = dead_letters(rt)
        assert (letter.integration, letter.attempts) == ("fake[1]", 1)
        assert "failing as told" in letter.error
        [failed] = events.failed
        assert (failed.integration, failed.attempts) == ("fake[1]", 1)


async def test_a_hung_send_is_cut_off_by_the_timeout_and_retried(tmp_path):
    fake = FakeChannel()
    async with running(CONFIG, tmp_path, plugins=[fake]) as rt:
        instant_retries(rt)
        fake.hang_next(integration="fake[1]")  # its timeout is 100ms
        await post(rt, {"labels": {"alertname": "X"}})
        await advance(rt, 10)
        assert [s.outcome for s in fake.sends if s.integration == "fake[1]"] == ["cut off", "sent"]


async def test_a_hung_send_goes_through_when_released(tmp_path):
    fake = FakeChannel()
    async with running(CONFIG, tmp_path, plugins=[fake]) as rt:
        fake.hang_next(integration="fake[0]")  # no timeout of its own but the default 10s
        await post(rt, {"labels": {"alertname": "X"}})
        flush = asyncio.create_task(advance(rt, 10))
        [hung] = await wait_until(lambda: fake.hanging)
        assert hung.integration == "fake[0]"
        assert not flush.done()
        fake.release()
        await flush
        assert hung.outcome == "sent"
        assert len(fake.delivered) == 2
        assert len(fake.sends) == 2


async def test_wait_for_counts_sends(tmp_path):
    fake = FakeChannel()
    async with running(CONFIG, tmp_path, plugins=[fake]) as rt:
        await post(rt, {"labels": {"alertname": "X"}})
        flush = asyncio.create_task(advance(rt, 10))
        assert len(await fake.wait_for(2)) == 2
        await flush
        with pytest.raises(AssertionError, match=r"3 sends to fake \(got 2\)"):
            await fake.wait_for(3, timeout=0.05)


def test_its_config_is_a_channel_config_of_the_kind_it_is_given():
    pm = make_plugins([FakeChannel(kind="pager")])
    text = "route: {receiver: r}\nreceivers: [{name: r, pager_configs: [ENTRY]}]"
    config = make_config(text.replace("ENTRY", "{send_resolved: false}"), pm)
    [integration] = config.receivers["r"].integrations
    assert (integration.kind, integration.config.send_resolved) == ("pager", False)
    with pytest.raises(ConfigError, match=r"pager_configs\[0\]\.colour"):
        make_config(text.replace("ENTRY", "{colour: red}"), pm)
