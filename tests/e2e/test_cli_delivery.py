"""`tocsin dlq` and `tocsin notify test` as a user runs them."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass

import pytest

pytestmark = pytest.mark.e2e


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


async def tocsin(*args: str) -> Result:
    """Run the CLI without blocking the loop the test's webhook receiver runs on."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tocsin", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return Result(proc.returncode or 0, out.decode(), err.decode())


async def test_dead_letter_list_replay_drop(make_daemon, receiver):
    d = make_daemon(f"""
route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1h}}
receivers:
  - name: hook
    webhook_configs: [{{url: "{receiver.url}"}}]
""")
    await d.start()
    receiver.status = 400  # permanent: dead-lettered at the first attempt
    for name in ("A", "B"):
        status, _ = await d.post_alerts([{"labels": {"alertname": name}}])
        assert status == 200
    await d.wait_log("dead-letter table", count=2)

    listed = await tocsin("dlq", "--url", d.url, "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert sorted(i["groupKey"] for i in items) == ['{}:{alertname="A"}', '{}:{alertname="B"}']
    table = (await tocsin("dlq", "--url", d.url, "list")).stdout
    assert table.splitlines()[0].split() == ["ID", "AT", "RECEIVER", "INTEGRATION", "ALERTS", "ATTEMPTS",
                                             "ERROR"]

    first, second = (str(i["id"]) for i in items)
    failed = await tocsin("dlq", "--url", d.url, "replay", first)
    assert failed.returncode == 1
    assert "502" in failed.stderr

    receiver.status = 200
    ok = await tocsin("dlq", "--url", d.url, "--token", "ignored-without-auth", "replay", first)
    assert ok.returncode == 0
    assert f"{first}: delivered" in ok.stdout
    assert receiver.messages[-1]["status"] == "firing"
    dropped = await tocsin("dlq", "drop", second, "--url", d.url, "-o", "json")
    assert dropped.returncode == 0, dropped.stderr
    assert json.loads(dropped.stdout) == [{"id": second, "status": "dropped"}]
    assert json.loads((await tocsin("dlq", "--url", d.url, "list", "-o", "json")).stdout) == []
    missing = await tocsin("dlq", "--url", d.url, "drop", second)
    assert missing.returncode == 1
    assert "404" in missing.stderr


async def test_notify_test_sends_and_dry_run_prints(tmp_path, receiver):
    cfg = tmp_path / "t.yml"
    cfg.write_text(f"""
route: {{receiver: team}}
receivers:
  - name: team
    webhook_configs: [{{url: "{receiver.url}"}}]
""")
    dry = await tocsin("notify", "test", "--config", str(cfg), "--receiver", "team", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "webhook[0]: would send:" in dry.stdout
    assert "TocsinTest" in dry.stdout
    as_json = await tocsin("notify", "test", "--config", str(cfg), "--receiver", "team", "--dry-run",
                           "-o", "json")
    [preview] = json.loads(as_json.stdout)
    assert (preview["integration"], preview["status"]) == ("webhook[0]", "preview")
    assert "TocsinTest" in preview["preview"]
    assert receiver.messages == []
    sent = await tocsin("notify", "test", "--config", str(cfg), "--receiver", "team")
    assert sent.returncode == 0
    assert "webhook[0]: sent" in sent.stdout
    [msg] = await receiver.wait_for(1)
    assert msg["alerts"][0]["labels"]["alertname"] == "TocsinTest"
    receiver.status = 500
    bad = await tocsin("notify", "test", "--config", str(cfg), "--receiver", "team")
    assert bad.returncode == 1
    assert "FAILED" in bad.stdout
