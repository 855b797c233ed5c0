"""The notification id webhooks carry (``X-Tocsin-Notification-Id``): the same for a
resend of the same notification, so that a receiver can drop repeats; different for
anything else, a reminder after ``repeat_interval`` included."""

from __future__ import annotations

from tocsin.core.models import Notification
from tocsin.notify.delivery import notification_id
from tocsin.store import NflogEntry
from tocsin.testing import RecordingServer, advance, instant_retries, post, running

CONFIG = """
route: {{receiver: r, group_by: [alertname], group_wait: 30s, group_interval: 1m, repeat_interval: 1h}}
receivers:
  - name: r
    webhook_configs: [{{url: "{url}/hook"}}]
"""


def ids(server: RecordingServer) -> list[str]:
    return [r.headers.get("X-Tocsin-Notification-Id", "") for r in server.requests]


async def test_a_retry_keeps_the_id_and_a_reminder_or_a_change_gets_a_new_one(tmp_path, tocsin_receiver):
    server = tocsin_receiver
    async with running(CONFIG.format(url=server.url), tmp_path) as rt:
        instant_retries(rt)
        server.answer_next(503)  # the first attempt fails; the retry carries the same id
        await post(rt, {"labels": {"alertname": "A", "n": "1"}})
        await advance(rt, 30)
        first, retry = ids(server)
        assert len(first) == 32
        assert first == retry
        await post(rt, {"labels": {"alertname": "A", "n": "2"}})  # the group changes
        await advance(rt, 60)
        changed = ids(server)[-1]
        assert changed != first
        await advance(rt, 3600)  # a reminder of the same content
        reminder = ids(server)[-1]
        assert len(server.requests) == 4
        assert reminder not in (first, changed)


def test_the_id_is_what_a_restart_would_compute_again():
    """After a crash between the receiver's answer and the log's write, the next run
    computes the id from the same content and the same (older) log entry."""
    n = Notification(receiver="r", group_key="g", group_labels={}, alerts=[], now=1.0)
    entry = NflogEntry(group_key="g", receiver="r", integration="webhook[0]", firing=frozenset({"a"}),
                       resolved=frozenset(), sent_at=100.0, expires_at=200.0)
    one = notification_id(n, "webhook[0]", frozenset({"a", "b"}), frozenset(), entry)
    assert one == notification_id(n, "webhook[0]", frozenset({"b", "a"}), frozenset(), entry)
    assert one != notification_id(n, "webhook[1]", frozenset({"a", "b"}), frozenset(), entry)
    assert one != notification_id(n, "webhook[0]", frozenset({"a"}), frozenset({"b"}), entry)
    assert one != notification_id(n, "webhook[0]", frozenset({"a", "b"}), frozenset(), None)
