"""A big group's webhook: rendered and signed in a worker thread, its alerts encoded a slice
at a time, into the same bytes as one encoding of the whole message."""

from __future__ import annotations

import hashlib
import hmac
import threading

import aiohttp
import msgspec

from tocsin.channels import ChannelContext
from tocsin.channels.data import message_data
from tocsin.channels.webhook import WebhookChannel, WebhookConfig
from tocsin.core.models import Alert, Notification
from tocsin.core.pacing import ENCODE_ITEMS, HEAVY_ALERTS
from tocsin.testing import RecordingServer, channel_config


def notification(count: int) -> Notification:
    alerts = [Alert(fingerprint=f"{i:016x}", labels={"alertname": "Big", "instance": f"h{i}"},
                    annotations={"description": f"alert {i} ü \"quoted\""}, starts_at=1e9 + i,
                    ends_at=0.0, generator_url="", updated_at=1e9)
              for i in range(count)]
    return Notification(receiver="ops", group_key="{}:{alertname=\"Big\"}", group_labels={"alertname": "Big"},
                        alerts=alerts, now=2e9, id="n1")


def expected_body(n: Notification) -> bytes:
    body = message_data(n, n.alerts, "http://tocsin.example")
    body.update(version="4", groupKey=n.group_key, truncatedAlerts=0)
    return msgspec.json.encode(body)


async def test_a_big_groups_body_is_the_same_bytes_made_in_a_worker_thread(monkeypatch):
    assert 3 * ENCODE_ITEMS + 5 > HEAVY_ALERTS  # the big one is rendered off the loop
    threads: list[str] = []
    render = WebhookChannel.render

    def spied(self: WebhookChannel, n: Notification) -> bytes:
        threads.append(threading.current_thread().name)
        return render(self, n)

    monkeypatch.setattr(WebhookChannel, "render", spied)
    server = RecordingServer()
    url = await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            ctx = ChannelContext(session=session, external_url="http://tocsin.example", global_config=None,
                                 receiver="ops", integration="webhook[0]")
            config = channel_config(WebhookConfig, {"url": f"{url}/hook", "hmac_secret": "s3cret"})
            n = notification(3 * ENCODE_ITEMS + 5)
            await WebhookChannel(config, ctx).send(n)
            small = notification(3)
            await WebhookChannel(config, ctx).send(small)
        big_req, small_req = await server.wait_for(2)
    finally:
        await server.stop()
    assert big_req.body == expected_body(n)
    assert small_req.body == expected_body(small)
    digest = hmac.new(b"s3cret", big_req.body, hashlib.sha256).hexdigest()
    assert big_req.headers["X-Tocsin-Signature"] == f"sha256={digest}"
    assert big_req.headers["X-Tocsin-Notification-Id"] == "n1"
    assert threads[0].startswith("tocsin-render")
    assert threads[1] == "MainThread"  # a small one is rendered on the loop, as before
