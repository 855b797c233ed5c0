"""Helpers for testing tocsin and tocsin plugins without sleeping.

    async with running(CONFIG, tmp_path, plugins=[recorder]) as rt:
        await post(rt, {"labels": {"alertname": "X"}})
        await advance(rt, 30)          # group_wait passes on the fake clock
        assert recorder.notifications

``running`` starts a real :class:`~tocsin.runtime.Runtime` (real SQLite
store, real dispatcher and delivery) on a :class:`~tocsin.core.clock.FakeClock`.
"""

from __future__ import annotations

from tocsin.testing.harness import (
    NotificationRecorder,
    advance,
    api_client,
    make_config,
    make_plugins,
    post,
    running,
)
from tocsin.testing.receiver import RecordingServer
from tocsin.testing.waiting import wait_until

__all__ = [
    "NotificationRecorder", "RecordingServer", "advance", "api_client", "make_config", "make_plugins",
    "post", "running", "wait_until",
]
