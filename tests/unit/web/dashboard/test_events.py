"""``/events``: server-sent events that tell an open page the alerts changed."""

from __future__ import annotations

import asyncio

from tests.unit.web.dashboard.helpers import dashboard
from tocsin.web.dashboard import events
from tocsin.web.keys import STREAMS


async def read_event(resp) -> list[str]:
    """The lines of the next event (or comment block), without the blank line that ends it."""
    lines = []
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), 10)).decode()
        if line in ("\n", ""):
            return lines
        lines.append(line.rstrip("\n"))


def dashboard_subscriptions(rt) -> int:
    return sum(1 for s in rt.bus.subscriptions() if s.name == "dashboard-events")


async def test_a_change_is_told_and_the_stream_ends_with_the_app(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        resp = await client.get("/events")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        assert await read_event(resp) == ["retry: 2000", ": connected"]
        assert dashboard_subscriptions(rt) == 1
        posted = await client.post("/api/v2/alerts", json=[{"labels": {"alertname": "A"}}])
        assert posted.status == 200
        assert await read_event(resp) == ["event: changed", "data: 1"]
        # Shutting the app down ends every stream at once (stopping waits for none).
        assert len(client.app[STREAMS]) == 1
        await events.close_streams(client.app)
        assert await asyncio.wait_for(resp.content.read(), 10) == b""
        for _ in range(100):
            if dashboard_subscriptions(rt) == 0:
                break
            await asyncio.sleep(0.01)
        assert dashboard_subscriptions(rt) == 0
        assert client.app[STREAMS] == set()


async def test_a_storm_is_told_in_few_events_and_never_holds_the_bus(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "COALESCE", 3600.0)  # one event, then nothing for the hour
    async with dashboard(tmp_path) as (client, rt):
        resp = await client.get("/events")
        await read_event(resp)
        for i in range(300):  # more events than the subscription's queue holds
            posted = await client.post("/api/v2/alerts", json=[{"labels": {"alertname": f"A{i}"}}])
            assert posted.status == 200
        await rt.settle()
        assert await read_event(resp) == ["event: changed", "data: 1"]
        assert all(s.depth() == 0 for s in rt.bus.subscriptions() if s.name == "dashboard-events")
        resp.close()


async def test_head_answers_without_streaming(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        resp = await client.head("/events")
        assert resp.status == 200
        assert dashboard_subscriptions(rt) == 0
