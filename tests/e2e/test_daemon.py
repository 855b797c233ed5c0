"""The daemon as a user runs it: a subprocess, a webhook receiver, kill -9."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psutil
import pytest

pytestmark = pytest.mark.e2e

CONFIG = """
route:
  receiver: hook
  group_by: [alertname]
  group_wait: {group_wait}
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
        send_resolved: true
"""


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alert(name: str, instance: str, **extra: object) -> dict:
    return {"labels": {"alertname": name, "instance": instance, "job": "node"},
            "annotations": {"summary": f"{name} on {instance}"},
            "generatorURL": "http://prometheus.invalid/graph", **extra}


async def quiet_period(receiver, count: int, seconds: float) -> None:
    """Assert that no message beyond ``count`` arrives within ``seconds``."""
    with pytest.raises(TimeoutError):
        await receiver.wait_for(count + 1, timeout=seconds)


async def test_grouped_then_resolved(make_daemon, receiver):
    d = make_daemon(CONFIG.format(group_wait="1s", url=receiver.url))
    await d.start()
    batch = [alert("DiskFull", f"host{i}") for i in range(3)]
    status, body = await d.post_alerts(batch)
    assert status == 200, body

    [msg] = await receiver.wait_for(1)
    assert msg["version"] == "4"
    assert msg["status"] == "firing"
    assert msg["receiver"] == "hook"
    assert msg["groupLabels"] == {"alertname": "DiskFull"}
    assert msg["groupKey"] == '{}:{alertname="DiskFull"}'
    assert msg["commonLabels"] == {"alertname": "DiskFull", "job": "node"}
    assert [a["labels"]["instance"] for a in msg["alerts"]] == ["host0", "host1", "host2"]
    assert all(a["status"] == "firing" and a["endsAt"] == "0001-01-01T00:00:00Z" for a in msg["alerts"])
    assert all(len(a["fingerprint"]) == 16 for a in msg["alerts"])

    now = datetime.now(UTC)
    resolved = [alert("DiskFull", f"host{i}", startsAt=iso(now - timedelta(minutes=1)),
                      endsAt=iso(now)) for i in range(3)]
    status, body = await d.post_alerts(resolved)
    assert status == 200, body
    msgs = await receiver.wait_for(2)
    assert msgs[1]["status"] == "resolved"
    assert [a["status"] for a in msgs[1]["alerts"]] == ["resolved"] * 3
    await quiet_period(receiver, 2, 2.5)
    assert await d.get_alerts() == []


async def test_kill9_after_notification_no_duplicate_no_loss(make_daemon, receiver):
    d = make_daemon(CONFIG.format(group_wait="0s", url=receiver.url))
    await d.start()
    status, _ = await d.post_alerts([alert("Down", "a"), alert("Down", "b")])
    assert status == 200
    await receiver.wait_for(1)
    # Kill once tocsin has recorded the send: a kill between the receiver's
    # answer and that record is the at-least-once window every pager has.
    await d.wait_log("notification sent")
    d.kill9()

    await d.start()
    held = {a["labels"]["instance"] for a in await d.get_alerts()}
    assert held == {"a", "b"}
    # The restarted group flushes at once and every group_interval; the log says
    # this was already sent, so nothing goes out again.
    await quiet_period(receiver, 1, 3.0)

    status, _ = await d.post_alerts([alert("Down", "c")])
    assert status == 200
    msgs = await receiver.wait_for(2)
    assert [a["labels"]["instance"] for a in msgs[1]["alerts"]] == ["a", "b", "c"]
    await quiet_period(receiver, 2, 2.0)


async def test_kill9_right_after_2xx_loses_nothing(make_daemon, receiver):
    d = make_daemon(CONFIG.format(group_wait="2s", url=receiver.url))
    await d.start()
    batch = [alert("Burst", f"i{i}") for i in range(50)]
    status, _ = await d.post_alerts(batch)
    assert status == 200
    [writer] = psutil.Process(d.proc.pid).children()  # the database writer process
    assert "tocsin/store/writer.py" in " ".join(writer.cmdline())
    d.kill9()  # before group_wait: nothing was sent yet
    # The writer sees its stdin close and ends too, instead of lingering beside the next daemon.
    writer.wait(10)  # raises if it is still running

    assert receiver.messages == []
    await d.start()
    assert len(await d.get_alerts()) == 50
    [msg] = await receiver.wait_for(1)
    assert len(msg["alerts"]) == 50
    await quiet_period(receiver, 1, 2.5)


async def test_sigterm_stops_cleanly(make_daemon, receiver):
    d = make_daemon(CONFIG.format(group_wait="1s", url=receiver.url))
    await d.start()
    [writer] = psutil.Process(d.proc.pid).children()
    assert d.stop() == 0
    assert "runtime stopped" in d.logs()
    assert not writer.is_running()


async def test_reload_keeps_old_config_on_error(make_daemon, receiver):
    import aiohttp

    good = CONFIG.format(group_wait="0s", url=receiver.url)
    d = make_daemon(good)
    await d.start()

    async def reload_gauge(s: aiohttp.ClientSession) -> str:
        async with s.get(f"{d.url}/metrics") as r:
            lines = (await r.text()).splitlines()
        return next(line for line in lines if line.startswith("tocsin_config_last_reload_successful "))

    d.config.write_text("route: {receiver: nope}\n")
    async with aiohttp.ClientSession() as s:
        assert await reload_gauge(s) == "tocsin_config_last_reload_successful 1.0"
        async with s.post(f"{d.url}/-/reload") as r:
            assert r.status == 400
            assert "undefined receiver" in (await r.json())["error"]
        assert await reload_gauge(s) == "tocsin_config_last_reload_successful 0.0"
    status, _ = await d.post_alerts([alert("StillRouted", "x")])
    assert status == 200
    [msg] = await receiver.wait_for(1)
    assert msg["groupLabels"] == {"alertname": "StillRouted"}
    d.config.write_text(good)
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{d.url}/-/reload") as r:
            assert r.status == 200
        assert await reload_gauge(s) == "tocsin_config_last_reload_successful 1.0"
    await asyncio.sleep(0)


async def test_a_second_daemon_on_the_same_storage_stops_at_once(make_daemon, receiver, tmp_path):
    """Two daemons on one database would both flush and notify: the second one refuses
    to start, naming the storage and the pid holding it, and the first goes on."""
    import subprocess
    import sys

    from tests.peers import free_port

    d = make_daemon(CONFIG.format(group_wait="0s", url=receiver.url))
    await d.start()
    assert d.proc is not None
    second = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tocsin", "serve", "--config", str(d.config),
         "--listen", f"127.0.0.1:{free_port()}", "--storage", str(d.storage)],
        capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert f"{d.storage} is in use by another tocsin (pid {d.proc.pid})" in second.stderr
    assert "Traceback" not in second.stderr
    status, _ = await d.post_alerts([alert("StillHere", "a")])
    assert status == 200
    await receiver.wait_for(1)
    # Once the first has stopped (a crash too: the kernel drops the lock), the storage is free.
    d.kill9()
    await d.start()
