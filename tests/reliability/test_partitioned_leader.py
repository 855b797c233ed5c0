"""A leader cut off from PostgreSQL while another replica reaches it: the old leader stops
sending before the server can end its session, so the two never notify at once.

The leader reaches the database through a relay (:mod:`tests.reliability.partition`), the
follower directly. A firing alert is re-notified every second (``repeat_interval: 1s``).
The relay is cut: nothing passes, nothing closes. After the keepalives' silence and
probes (``storage.lease_timeout: 4s``: 2 s and 3 x 1 s) the relay ends the server's side
of the leader's sessions, as the server's keepalives would; the follower takes the lease
and notifies. Proven: every notification the old leader sent after the cut arrived before
the server could have ended its session, and before the new leader's first; once the cut
heals, the old leader finds the lease taken, sends nothing more and exits (status 3).
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import pytest

from tests.e2e.test_daemon import alert
from tests.e2e.test_replicas_postgres import leader_of, metric
from tests.peers import Daemon
from tests.reliability.partition import Relay
from tocsin.testing import RecordingServer, wait_until

pytestmark = pytest.mark.e2e

LEASE_TIMEOUT = 4
#: When the server's keepalives end a silent session: idle 2 s, then three probes 1 s apart.
SERVER_ENDS = 2 + 3 * 1
#: A leader holds its sends once its last check of the lease is this old.
SURE_FOR = 2.0

CONFIG = """
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1s
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
storage:
  replicas: true
  lease_timeout: {lease}s
"""


def sent_by(hook: RecordingServer, daemon: Daemon, after: float = 0.0) -> list[float]:
    """When the notifications that ``daemon`` sent arrived (the payload's ``externalURL``
    names the replica), from ``after`` on."""
    return [r.at for r in hook.requests if r.json()["externalURL"] == daemon.url and r.at >= after]


@pytest.fixture
async def setting(tmp_path, tocsin_postgres_url):
    where = urlsplit(tocsin_postgres_url)
    relay = Relay(where.hostname or "127.0.0.1", where.port or 5432)
    await relay.start()
    hook = RecordingServer()
    await hook.start()
    cfg = tmp_path / "tocsin.yml"
    cfg.write_text(CONFIG.format(url=hook.url + "/hook", lease=LEASE_TIMEOUT))
    relayed = where._replace(netloc=f"{where.username}@127.0.0.1:{relay.port}").geturl()
    cut_off = Daemon(cfg, relayed, tmp_path / "cut_off.log")
    direct = Daemon(cfg, tocsin_postgres_url, tmp_path / "direct.log")
    try:
        yield relay, hook, cut_off, direct
    finally:
        direct.stop()
        cut_off.stop()
        await hook.stop()
        await relay.stop()


async def test_a_leader_cut_off_from_the_database_stops_sending_before_another_can_lead(setting):
    relay, hook, old, new = setting
    await old.start()
    await leader_of(old, old)  # the replica behind the relay leads
    await new.start()
    status, _ = await old.post_alerts([alert("Down", "a")])
    assert status == 200
    await wait_until(lambda: len(sent_by(hook, old)) >= 3, 15.0, 0.1, message="re-notified every second")

    relay.cut()
    cut = time.monotonic()
    await asyncio.sleep(SERVER_ENDS)
    relay.end_server_sessions()  # what the server's keepalives do now
    while await metric(new.url, "tocsin_leader") != 1.0:
        assert time.monotonic() - cut < SERVER_ENDS + 10, "the follower did not take over"
        await asyncio.sleep(0.1)
    took_over = time.monotonic()
    while not sent_by(hook, new):
        assert time.monotonic() - took_over < 10, "the new leader notified nothing"
        await asyncio.sleep(0.1)
    await asyncio.sleep(2.0)
    relay.heal()
    assert old.proc is not None
    status_code = await asyncio.to_thread(old.proc.wait, 15)
    await asyncio.sleep(1.0)

    sent_after_cut = sent_by(hook, old, after=cut)
    first_new = min(sent_by(hook, new))
    print(f"old leader: {len(sent_after_cut)} sends after the cut, the last "
          f"{max(sent_after_cut, default=cut) - cut:.2f}s after it; new leader: first send "
          f"{first_new - cut:.2f}s after the cut, {len(sent_by(hook, new))} in all")
    # Sure for SURE_FOR after its last check (at most a check's interval before the cut),
    # and a send under way then arrives a moment later.
    assert all(at - cut < SURE_FOR + 1.0 for at in sent_after_cut), sent_after_cut
    assert all(at < first_new for at in sent_by(hook, old)), "both replicas notified at once"
    assert first_new - cut >= SERVER_ENDS
    assert status_code == 3, "the old leader, finding the lease taken, exits as deposed"
    assert "lost the leader lease" in old.logs()
    assert "sends and remediations are held" in old.logs()
