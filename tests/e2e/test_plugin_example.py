"""The worked channel plugin of docs/plugin-hooks.md, installed as a user installs it
(``pip install --target`` into a directory on the daemon's ``PYTHONPATH``), under a
real ``tocsin serve``: its messages tell a firing alert from an acknowledgement, its
``render()`` is what ``tocsin notify test --dry-run`` shows, and a plugin installed
after start is loaded by a reload (SIGHUP)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.peers import Daemon

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "plugins" / "tocsin-example-channel"

BASE = """
route:
  receiver: team
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: team
"""
WITH_EXAMPLE = BASE + """    example_configs:
      - url: {url}
"""


def install(target: Path) -> None:
    """``pip install --target``: the package built from its directory, as a user installs it."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-cache-dir",
                    "--target", str(target), str(PLUGIN)], check=True, timeout=300)


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """An empty directory on the PYTHONPATH the daemon (and the CLI) will start with."""
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(path), os.environ.get("PYTHONPATH", "")) if p))
    return path


def start(tmp_path: Path, config: str) -> Daemon:
    cfg = tmp_path / "tocsin.yml"
    cfg.write_text(config)
    return Daemon(cfg, tmp_path / "db" / "tocsin.db", tmp_path / "tocsin.log")


ALERT = {"labels": {"alertname": "ExampleDown", "instance": "web1"},
         "annotations": {"summary": "web1 does not answer"},
         "generatorURL": "http://prometheus.invalid/graph?g0.expr=up"}


async def ack(d: Daemon, fingerprint: str) -> None:
    url = f"{d.url}/api/tocsin/v1/alerts/{fingerprint}/ack"
    async with aiohttp.ClientSession() as s, s.post(url, json={"who": "alice", "note": "on it"}) as r:
        assert r.status == 200, await r.text()


async def test_the_worked_example_tells_an_alert_from_its_acknowledgement(tmp_path, site, receiver):
    install(site)
    d = start(tmp_path, WITH_EXAMPLE.format(url=receiver.url))
    try:
        await d.start()
        status, body = await d.post_alerts([ALERT])
        assert status == 200, body
        [fired] = await receiver.wait_for(1)
        assert fired["type"] == "alert"
        assert fired["event"] == ""
        assert fired["status"] == "firing"
        assert fired["title"] == "[FIRING:1] ExampleDown"
        assert fired["lines"] == ["firing: ExampleDown - web1 does not answer "
                                  "<http://prometheus.invalid/graph?g0.expr=up>"]
        [fp] = fired["fingerprints"]

        await ack(d, fp)
        fired_again, notice = await receiver.wait_for(2)
        assert fired_again == fired
        assert notice["type"] == "notice"
        assert notice["event"] == "acknowledged"
        assert (notice["actor"], notice["note"]) == ("alice", "on it")
        assert notice["title"] == "Acknowledged by alice: on it · ExampleDown"
        assert notice["fingerprints"] == [fp]
        assert notice["group_key"] == fired["group_key"]
    finally:
        d.stop()
    assert "channel raised" not in d.logs()


def test_render_is_what_notify_test_dry_run_shows(tmp_path, site):
    install(site)
    cfg = tmp_path / "tocsin.yml"
    cfg.write_text(WITH_EXAMPLE.format(url="http://127.0.0.1:9/never-called"))
    out = subprocess.run([sys.executable, "-m", "tocsin", "notify", "test", "--config", str(cfg),
                          "--receiver", "team", "--dry-run"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    head, body = out.stdout.split("\n", 1)
    assert head == "example[0]: would send:"
    message = json.loads(body)
    assert message["type"] == "alert"
    assert message["title"] == "[FIRING:1] TocsinTest"


async def test_a_plugin_installed_after_start_is_loaded_by_a_reload(tmp_path, site, receiver):
    d = start(tmp_path, BASE)
    try:
        await d.start()
        d.config.write_text(WITH_EXAMPLE.format(url=receiver.url))
        # Not installed yet: the reload is refused, naming the kind, and the daemon goes on.
        assert d.proc is not None
        d.proc.send_signal(signal.SIGHUP)
        await d.wait_log("reload rejected")
        assert "no loaded plugin provides channel kind 'example'" in d.logs()

        install(site)
        d.proc.send_signal(signal.SIGHUP)
        await d.wait_log("config reloaded")
        assert "plugin loaded at reload" in d.logs()
        status, body = await d.post_alerts([ALERT])
        assert status == 200, body
        [fired] = await receiver.wait_for(1)
        assert fired["type"] == "alert"
        assert fired["title"] == "[FIRING:1] ExampleDown"
    finally:
        d.stop()
