"""A command remediation run by the daemon for a posted alert: hostile label values
arrive as literal argv elements, and the run is on record."""

from __future__ import annotations

import json
import sys
import uuid

import aiohttp
import pytest

from tocsin.testing import wait_until

pytestmark = pytest.mark.e2e


async def test_command_remediation_end_to_end(make_daemon, receiver, tmp_path):
    marker = tmp_path / f"pwned-{uuid.uuid4().hex}"
    script = tmp_path / "fix.py"
    script.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    script.chmod(0o755)
    d = make_daemon(f"""
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 0s
  routes:
    - matchers: ['alertname="AppDown"']
      receiver: ops
      remediations: [restart-app]
receivers:
  - name: ops
    webhook_configs: [{{url: "{receiver.url}"}}]
remediations:
  - name: restart-app
    kind: command
    argv: ["{script}", "--instance", "{{{{ labels.instance }}}}", "{{{{ labels.reason }}}}"]
    timeout: 10s
    confidence: high
""")
    await d.start()
    hostile = f"; rm -rf / $(touch {marker}) `id` && --flag"
    status, _ = await d.post_alerts([{"labels": {"alertname": "AppDown", "instance": "db1 ; reboot",
                                                  "reason": hostile}}])
    assert status == 200
    async with aiohttp.ClientSession() as s:

        async def finished() -> list:
            async with s.get(f"{d.url}/api/tocsin/v1/remediations") as resp:
                runs = await resp.json()
            return runs if runs and runs[0]["state"] in ("succeeded", "failed") else []

        runs = await wait_until(finished, timeout=10.0, interval=0.1)
    [run] = runs
    assert run["state"] == "succeeded", run
    assert run["rendered"]["argv"] == [str(script), "--instance", "db1 ; reboot", hostile]
    assert json.loads(run["output"]) == ["--instance", "db1 ; reboot", hostile]
    assert run["exit_code"] == 0
    assert run["confidence"] == "high"
    assert not marker.exists()  # no shell ever saw the value
    messages = await receiver.wait_for(2)
    notices = [m["notice"]["text"] for m in messages if "notice" in m]
    assert notices
    assert notices[0].startswith("Remediation restart-app succeeded (exit 0")


async def test_approval_from_the_command_line(make_daemon, receiver, tmp_path):
    from tests.e2e.test_cli_delivery import tocsin

    flags = tmp_path / "flags.json"
    flags.write_text('{"search.enabled": true, "other": 1}')
    d = make_daemon(f"""
route:
  receiver: ops
  group_wait: 0s
  routes:
    - {{matchers: ['alertname="SearchSlow"'], receiver: ops, remediations: [search-off]}}
receivers:
  - name: ops
    webhook_configs: [{{url: "{receiver.url}"}}]
remediations:
  - name: search-off
    kind: killswitch
    path: {flags}
    flag: search.enabled
    value: false
    require_approval: true
    confidence: medium
""")
    await d.start()
    status, _ = await d.post_alerts([{"labels": {"alertname": "SearchSlow"}}])
    assert status == 200
    async def pending() -> list:
        listed = await tocsin("remediations", "--url", d.url, "list", "--state", "pending_approval",
                              "-o", "json")
        return json.loads(listed.stdout)

    [run] = await wait_until(pending, timeout=10.0, interval=0.1)
    assert run["confidence"] == "medium"
    assert "search.enabled" in run["summary"]
    assert json.loads(flags.read_text())["search.enabled"] is True  # nothing yet

    table = await tocsin("remediations", "--url", d.url, "list")
    assert table.stdout.splitlines()[0].split()[:4] == ["ID", "CREATED", "REMEDIATION", "STATE"]
    approved = await tocsin("remediations", "--url", d.url, "approve", run["id"], "--who", "alice")
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.strip() == f"{run['id']}: running"
    await wait_until(lambda: json.loads(flags.read_text())["search.enabled"] is False,
                     timeout=10.0, interval=0.1)
    assert json.loads(flags.read_text()) == {"search.enabled": False, "other": 1}
    again = await tocsin("remediations", "--url", d.url, "reject", run["id"])
    assert again.returncode == 1
    assert "409" in again.stderr
