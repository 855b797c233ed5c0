"""Ctrl-C on ``tocsin serve`` in a terminal: SIGINT to the whole foreground process
group, the database writer process included.

Before the fix the writer died of it with a KeyboardInterrupt traceback (from
``store/writer.py``, ``_read_exactly``) and the daemon started another one for its last
commits. Now the writer ignores SIGINT, the daemon drains and stops it, and exits 0
with no traceback, keeping every alert it answered 2xx, those posted while the signal
arrived included.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter

import aiohttp
import pytest

from tests.peers import Daemon, free_port, wait_http

pytestmark = pytest.mark.e2e

CONFIG = """
route: {receiver: blackhole, group_by: ['...']}
receivers: [{name: blackhole}]
"""


async def post_until_refused(url: str, accepted: list[str], statuses: Counter[int]) -> None:
    """Post one alert per request until the daemon stops answering."""
    async with aiohttp.ClientSession() as s:
        for i in range(100_000):
            name = f"load-{i}"
            try:
                async with s.post(f"{url}/api/v2/alerts", json=[{"labels": {"alertname": name}}]) as r:
                    statuses[r.status] += 1
                    if 200 <= r.status < 300:
                        accepted.append(name)
            except aiohttp.ClientError:
                return


async def test_ctrl_c_stops_cleanly_and_keeps_every_accepted_alert(tmp_path):
    cfg = tmp_path / "tocsin.yml"
    cfg.write_text(CONFIG)
    storage = tmp_path / "db" / "tocsin.db"
    out = tmp_path / "serve.out"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with out.open("wb") as log:
        # A process group of its own, as a shell gives a foreground job.
        proc = subprocess.Popen(
            [sys.executable, "-m", "tocsin", "serve", "--config", str(cfg), "--listen", f"127.0.0.1:{port}",
             "--storage", str(storage)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        await wait_http(f"{url}/-/ready", proc=proc)
        accepted: list[str] = []
        statuses: Counter[int] = Counter()
        async with aiohttp.ClientSession() as s:
            for i in range(50):
                async with s.post(f"{url}/api/v2/alerts", json=[{"labels": {"alertname": f"a-{i}"}}]) as r:
                    assert r.status == 200
                    accepted.append(f"a-{i}")
        load = asyncio.create_task(post_until_refused(url, accepted, statuses))
        await asyncio.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        code = await asyncio.to_thread(proc.wait, 20)
        await asyncio.wait_for(load, 20)
        with pytest.raises(ProcessLookupError):  # the writer process is gone with it
            os.killpg(proc.pid, 0)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    text = out.read_text(errors="replace")

    d = Daemon(cfg, storage, tmp_path / "restart.log")
    await d.start()
    try:
        held = {a["labels"]["alertname"] for a in await d.get_alerts()}
    finally:
        d.stop()
    lost = [name for name in accepted if name not in held]
    print(f"Ctrl-C: exit {code}, {len(accepted)} alerts answered 2xx ({dict(statuses)} during the "
          f"signal's load), {len(lost)} lost after a restart, traceback: {'Traceback' in text}")
    assert "Traceback" not in text, text
    assert "KeyboardInterrupt" not in text
    assert code == 0
    assert not lost, f"answered 2xx, gone after a restart: {lost[:10]}"
    assert set(statuses) <= {200}, statuses
