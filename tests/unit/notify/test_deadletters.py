"""Attempts are recorded; exhausted notifications go to the dead-letter table; replay and drop."""

from __future__ import annotations

from tocsin.core.models import Notification
from tocsin.notify.deadletters import DeadLetterQueue
from tocsin.testing import RecordingServer, advance, api_client, instant_retries, post, wait_until


def bodies(server: RecordingServer) -> list[dict]:
    """What the receiver answered (a held request is not answered yet)."""
    return [r.json() for r in server.requests if r.status is not None]


CONFIG = """
route: {{receiver: r, group_wait: 1s, group_interval: 1m}}
receivers:
  - name: r
    webhook_configs: [{{url: "{url}/a"}}]
"""


async def test_exhausted_retries_go_to_the_dead_letter_table_and_replay_delivers(tmp_path, tocsin_receiver):
    url = tocsin_receiver.url
    tocsin_receiver.status = 503
    async with api_client(CONFIG.format(url=url), tmp_path) as (client, rt):
        delays = instant_retries(rt).delays
        await post(rt, {"labels": {"alertname": "X"}})
        await advance(rt, 1)
        attempts = await (await client.get("/api/tocsin/v1/notifications/attempts")).json()
        assert len(attempts) == len(delays) + 1 >= 2
        assert {a["status"] for a in attempts} == {503}
        assert all(a["integration"] == "webhook[0]" and a["receiver"] == "r" for a in attempts)

        [dl] = await (await client.get("/api/tocsin/v1/dead-letters")).json()
        assert dl["receiver"] == "r"
        assert dl["attempts"] == len(attempts)
        assert "503" in dl["error"]
        assert dl["alerts"] == 1

        failed = await client.post(f"/api/tocsin/v1/dead-letters/{dl['id']}/replay")
        assert failed.status == 502
        assert (await failed.json())["deadLetter"]["attempts"] == dl["attempts"] + 1

        tocsin_receiver.status = 200
        ok = await client.post(f"/api/tocsin/v1/dead-letters/{dl['id']}/replay")
        assert ok.status == 200
        assert await (await client.get("/api/tocsin/v1/dead-letters")).json() == []
        assert bodies(tocsin_receiver)[-1]["groupKey"] == "{}:{}"

        metrics = (await (await client.get("/metrics")).text())
        assert 'tocsin_notifications_total{integration="webhook[0]",outcome="failed",receiver="r"} 1.0' \
            in metrics
        assert 'tocsin_notifications_total{integration="webhook[0]",outcome="sent",receiver="r"} 1.0' \
            in metrics
        assert "tocsin_dead_letters 0.0" in metrics
        assert 'tocsin_alerts_received_total{source="api_v2"} 1.0' in metrics
        assert (await client.post("/api/tocsin/v1/dead-letters/99/replay")).status == 404


async def test_non_retryable_4xx_is_dead_lettered_at_once_and_can_be_dropped(tmp_path, tocsin_receiver):
    url = tocsin_receiver.url
    tocsin_receiver.status = 400
    async with api_client(CONFIG.format(url=url), tmp_path) as (client, rt):
        await post(rt, {"labels": {"alertname": "X"}})
        await advance(rt, 1)
        [dl] = await (await client.get("/api/tocsin/v1/dead-letters")).json()
        assert dl["attempts"] == 1
        assert (await client.delete(f"/api/tocsin/v1/dead-letters/{dl['id']}")).status == 200
        assert (await client.delete(f"/api/tocsin/v1/dead-letters/{dl['id']}")).status == 404


async def test_dead_letters_survive_a_restart(tmp_path, tocsin_receiver, backend):
    url = tocsin_receiver.url
    tocsin_receiver.status = 400
    async with api_client(CONFIG.format(url=url), tmp_path, store=backend.store()) as (_client, rt):
        await post(rt, {"labels": {"alertname": "X"}})
        await advance(rt, 1)
    async with api_client(CONFIG.format(url=url), tmp_path, store=backend.store()) as (client, rt):
        assert [d["error"][:3] for d in await (await client.get("/api/tocsin/v1/dead-letters")).json()]


async def test_a_hung_integration_does_not_hold_back_another(tmp_path):
    slow, fast = RecordingServer(), RecordingServer()
    slow_url, fast_url = await slow.start(), await fast.start()
    slow.hang = True
    config = f"""
route: {{receiver: r, group_wait: 1s}}
receivers:
  - name: r
    webhook_configs:
      - {{url: "{slow_url}/slow", timeout: 30s}}
      - {{url: "{fast_url}/fast"}}
"""
    try:
        async with api_client(config, tmp_path) as (_client, rt):
            await post(rt, {"labels": {"alertname": "X"}})
            rt.clock.advance(1)
            rt.scheduler.run_due()  # the flush starts; the slow endpoint never answers
            await wait_until(lambda: slow.held)
            await wait_until(lambda: rt.nflog.get("{}:{}", "r", "webhook[1]") is not None)
            # The fast integration delivered and recorded while the slow one still hangs.
            assert [r.status for r in fast.requests] == [200]
            assert slow.held == slow.requests
            assert [r.status for r in slow.requests] == [None]
            assert rt.nflog.get("{}:{}", "r", "webhook[0]") is None
            slow.release()
            await rt.dispatcher.settle()
            assert rt.nflog.get("{}:{}", "r", "webhook[0]") is not None
    finally:
        await slow.stop()
        await fast.stop()


async def test_max_concurrency_limits_deliveries_in_flight(tmp_path):
    import pytest

    from tocsin.config.document import ConfigError
    from tocsin.testing import make_config

    slow = RecordingServer()
    url = await slow.start()
    slow.hang = True
    config = f"""
route: {{receiver: r, group_by: [alertname], group_wait: 1s}}
receivers:
  - name: r
    webhook_configs: [{{url: "{url}/x", max_concurrency: 1, timeout: 30s}}]
"""
    try:
        async with api_client(config, tmp_path) as (_client, rt):
            await post(rt, {"labels": {"alertname": "A"}}, {"labels": {"alertname": "B"}})
            rt.clock.advance(1)
            rt.scheduler.run_due()  # two groups flush; one integration, one slot
            await wait_until(lambda: slow.held)
            # The second waits for the slot: given a second to arrive, it does not.
            with pytest.raises(TimeoutError):
                await slow.wait_for(2, timeout=1.0)
            assert len(slow.requests) == 1
            slow.release()
            await rt.dispatcher.settle()
            assert len(slow.requests) == 2
    finally:
        await slow.stop()
    with pytest.raises(ConfigError, match="max_concurrency: must be at least 1"):
        make_config(config.replace("max_concurrency: 1", "max_concurrency: 0"))


async def test_a_newer_state_that_gets_through_supersedes_older_dead_letters(tmp_path, tocsin_receiver):
    """A group's notification dead-lettered during an outage is stale once a later flush
    delivers the group's current state: that flush drops it, and replaying a stale one
    sends nothing (it would undo the newer state at the receiver)."""
    url = tocsin_receiver.url
    tocsin_receiver.status = 400  # permanent: dead-lettered at the first attempt
    async with api_client(CONFIG.format(url=url), tmp_path) as (client, rt):
        await post(rt, {"labels": {"alertname": "X", "n": "1"}})
        await advance(rt, 1)
        [old] = await (await client.get("/api/tocsin/v1/dead-letters")).json()
        # Back up; the group changes and its next flush gets through.
        tocsin_receiver.status = 200
        tocsin_receiver.requests.clear()  # the refused request was recorded too
        await post(rt, {"labels": {"alertname": "X", "n": "2"}})
        await advance(rt, 60)
        assert [len(b["alerts"]) for b in bodies(tocsin_receiver)] == [2]
        assert await (await client.get("/api/tocsin/v1/dead-letters")).json() == []
        gone = await client.post(f"/api/tocsin/v1/dead-letters/{old['id']}/replay")
        assert gone.status == 404


async def test_replaying_a_stale_dead_letter_drops_it_without_sending(tmp_path, tocsin_receiver):
    url = tocsin_receiver.url
    tocsin_receiver.status = 400
    async with api_client(CONFIG.format(url=url), tmp_path) as (client, rt):
        await post(rt, {"labels": {"alertname": "X", "n": "1"}})
        await advance(rt, 1)
        [old] = rt.dead_letters.list()
        tocsin_receiver.status = 200
        tocsin_receiver.requests.clear()
        await post(rt, {"labels": {"alertname": "X", "n": "2"}})
        await advance(rt, 60)
        # Put the stale one back, as if it had been listed before the flush dropped it.
        await rt.dead_letters.update(old)
        resp = await client.post(f"/api/tocsin/v1/dead-letters/{old.id}/replay")
        assert resp.status == 200
        assert (await resp.json())["status"] == "superseded"
        assert len(bodies(tocsin_receiver)) == 1  # nothing more was sent
        assert rt.dead_letters.get(old.id) is None


async def test_a_replayed_state_is_logged_so_the_next_flush_sends_only_changes(tmp_path, tocsin_receiver):
    url = tocsin_receiver.url
    tocsin_receiver.status = 400
    async with api_client(CONFIG.format(url=url), tmp_path) as (client, rt):
        await post(rt, {"labels": {"alertname": "X"}})
        await advance(rt, 1)
        [dl] = rt.dead_letters.list()
        tocsin_receiver.status = 200
        tocsin_receiver.requests.clear()
        resp = await client.post(f"/api/tocsin/v1/dead-letters/{dl.id}/replay")
        assert resp.status == 200
        assert (await resp.json())["status"] == "delivered"
        await advance(rt, 60)  # the group flushes: nothing new to say, nothing sent
        assert len(bodies(tocsin_receiver)) == 1


async def test_dropping_many_dead_letters_is_one_write(backend):
    """Expiry (and superseding) drop every chosen dead letter in one transaction, and only those."""
    store = backend.store()
    await store.open()
    try:
        queue = DeadLetterQueue(store)
        for at in (100.0, 200.0, 300.0, 400.0):
            n = Notification(receiver="r", group_key="{}:{}", group_labels={}, alerts=[], now=at)
            await queue.add(receiver="r", integration="webhook[0]", n=n, attempts=3,
                            error="HTTP 500", now=at)
        commits = store.commits
        assert await queue.expire(350.0) == 3
        assert store.commits == commits + 1
        assert [d.at for d in await store.load_dead_letters()] == [400.0]
        assert len(queue) == 1
        assert await queue.expire(350.0) == 0
        assert store.commits == commits + 1  # nothing to drop: no write
    finally:
        await store.close()
