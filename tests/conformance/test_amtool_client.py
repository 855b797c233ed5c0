"""The real amtool, as a client of a running tocsin."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.peers import Daemon, require_binary

pytestmark = pytest.mark.e2e

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
receivers:
  - name: default
  - name: pager
"""


@pytest.fixture
async def daemon(tmp_path):
    cfg = tmp_path / "tocsin.yml"
    cfg.write_text(CONFIG)
    d = Daemon(cfg, tmp_path / "db" / "t.db", tmp_path / "t.log")
    await d.start()
    yield d
    d.stop()


def amtool(d: Daemon, *args: str) -> str:
    binary = require_binary("amtool")
    out = subprocess.run([binary, f"--alertmanager.url={d.url}", *args],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    assert "Warning" not in out.stderr, (args, out.stderr)  # e.g. a version mismatch
    return out.stdout


async def test_silence_add_query_expire_and_alert_query(daemon):
    status, _ = await daemon.post_alerts([
        {"labels": {"alertname": "DiskFull", "instance": "db1", "severity": "critical"},
         "annotations": {"summary": "disk is full"}},
        {"labels": {"alertname": "Load", "instance": "web1"}, "annotations": {"summary": "busy"}},
    ])
    assert status == 200

    listed = {a["labels"]["alertname"]: a for a in json.loads(amtool(daemon, "alert", "query", "-o", "json"))}
    assert set(listed) == {"DiskFull", "Load"}
    assert [r["name"] for r in listed["DiskFull"]["receivers"]] == ["pager"]
    assert "DiskFull" in amtool(daemon, "alert", "query", "alertname=DiskFull")
    assert "Load" not in amtool(daemon, "alert", "query", "alertname=DiskFull")

    sid = amtool(daemon, "silence", "add", "alertname=DiskFull", 'instance=~"db.*"',
                 "--duration=2h", "--comment=resize", "--author=ops").strip()
    assert len(sid) == 36

    [s] = json.loads(amtool(daemon, "silence", "query", "-o", "json"))
    assert s["id"] == sid
    assert s["status"]["state"] == "active"
    assert s["createdBy"] == "ops"
    assert s["comment"] == "resize"
    assert {(m["name"], m["value"], m["isRegex"]) for m in s["matchers"]} == {
        ("alertname", "DiskFull", False), ("instance", "db.*", True)}
    assert amtool(daemon, "silence", "query", "-q").split() == [sid]
    assert amtool(daemon, "silence", "query", "-q", "alertname=Load").split() == []

    # The silenced alert is reported as such, and hidden from the default alert query.
    silenced = json.loads(amtool(daemon, "alert", "query", "-s", "-o", "json"))
    state = {a["labels"]["alertname"]: a["status"] for a in silenced}
    assert state["DiskFull"]["state"] == "suppressed"
    assert state["DiskFull"]["silencedBy"] == [sid]
    assert "DiskFull" not in amtool(daemon, "alert", "query")

    amtool(daemon, "silence", "expire", sid)
    assert amtool(daemon, "silence", "query", "-q").split() == []
    assert amtool(daemon, "silence", "query", "--expired", "-q").split() == [sid]
    assert "DiskFull" in amtool(daemon, "alert", "query")
