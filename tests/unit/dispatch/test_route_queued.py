"""The dispatch loop routes what one POST queued before a flush it made due runs."""

from __future__ import annotations

import asyncio

from tocsin.core.bus import EventBus
from tocsin.core.events import ALERT_EVENTS, AlertReceived
from tocsin.core.models import Alert
from tocsin.core.pacing import Pacer
from tocsin.dispatch import dispatcher


def alert(name: str) -> Alert:
    return Alert(fingerprint=name, labels={"alertname": name}, annotations={}, starts_at=0.0, ends_at=600.0)


async def test_a_batch_is_routed_before_a_flush_it_made_due(monkeypatch):
    """Alertmanager flushes a group of alerts older than group_wait at once, with every
    alert of the POST in it. Here the loop's turn is always up (as on a busy daemon): the
    loop still routes both queued alerts before the 'flush' the first one scheduled runs."""
    monkeypatch.setattr(dispatcher, "Pacer", lambda: Pacer(every=0.0))
    bus = EventBus()
    sub = bus.subscribe("dispatcher", ALERT_EVENTS)
    seen: list[str] = []
    loop = asyncio.get_running_loop()

    def route(a: Alert) -> None:
        seen.append(a.fingerprint)
        if len(seen) == 1:
            loop.call_soon(seen.append, "flush")

    for name in ("a", "b"):
        await bus.publish(AlertReceived(at=0.0, alert=alert(name)))
    task = asyncio.create_task(dispatcher.route_queued(sub, route))
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    assert seen == ["a", "b", "flush"]
