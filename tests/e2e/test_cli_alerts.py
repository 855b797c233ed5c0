"""`tocsin alerts`, `tocsin escalations` and `tocsin stats` against a running daemon."""

from __future__ import annotations

import json
import re

import aiohttp
import pytest

from tests.e2e.test_cli_delivery import tocsin

pytestmark = pytest.mark.e2e


async def post_event(url: str, body: dict) -> dict:
    async with aiohttp.ClientSession() as s, s.post(f"{url}/api/tocsin/v1/events", json=body) as resp:
        assert resp.status in (200, 201), await resp.text()
        return await resp.json()


async def test_alerts_lifecycle_from_the_command_line(make_daemon, receiver):
    d = make_daemon(f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  routes:
    - matchers: [team="db"]
      receiver: hook
      escalation_policy: db
receivers:
  - name: hook
    webhook_configs: [{{url: "{receiver.url}", send_resolved: true}}]
  - name: lead
    webhook_configs: [{{url: "{receiver.url}"}}]
escalation_policies:
  - name: db
    levels:
      - {{after: 0s, receivers: [hook]}}
      - {{after: 1h, receivers: [lead]}}
""")
    await d.start()
    made = await post_event(d.url, {"type": "DiskFull", "severity": "critical", "resource": "db1",
                                    "labels": {"team": "db"}, "title": "Disk full on db1"})
    await post_event(d.url, {"type": "Slow", "severity": "warning"})
    await receiver.wait_for(2)

    listed = await tocsin("alerts", "--url", d.url, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0])[:5] == ["REF", "STATE", "ALERTNAME", "SEVERITY", "STARTS AT"]
    [shown] = [line.split()[0] for line in lines if "DiskFull" in line]
    assert made["id"].endswith(shown)
    assert len(shown) == 8
    assert len({line.split()[0] for line in lines[1:]}) == len(lines) - 1

    esc = await tocsin("escalations", "--url", d.url, "list", "-o", "json")
    [step] = json.loads(esc.stdout)
    assert (step["id"], step["ref"], step["level"], step["receivers"]) == (made["id"], shown, 2, ["lead"])
    esc = await tocsin("escalations", "list", "--url", d.url)
    assert esc.stdout.splitlines()[1].split()[0] == shown

    acked = await tocsin("alerts", "--url", d.url, "ack", shown, "--who", "alice",
                         "--note", "resizing")
    assert acked.returncode == 0, acked.stderr
    assert acked.stdout.strip() == f"{made['id']}: acknowledged"
    again = await tocsin("alerts", "unack", made["id"], "--url", d.url, "--who", "alice", "-o", "json")
    assert [(a["id"], a["state"]) for a in json.loads(again.stdout)] == [(made["id"], "firing")]
    resolved = await tocsin("alerts", "--url", d.url, "resolve", made["fingerprint"], "--who", "bob")
    assert resolved.stdout.strip() == f"{made['id']}: resolved"

    shown = await tocsin("alerts", "--url", d.url, "show", made["id"])
    assert shown.returncode == 0, shown.stderr
    assert "state        resolved" in shown.stdout
    kinds = [line.split()[2] for line in shown.stdout.split("\nhistory\n")[1].splitlines()[1:]]
    assert kinds[0] == "fired"
    assert "acknowledged" in kinds
    assert kinds[-1] in ("resolved", "notified")
    fired = shown.stdout.split("\nhistory\n")[1].splitlines()[1]
    assert re.search(r"starts_at=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", fired), fired  # a time, not Unix seconds

    only = await tocsin("alerts", "--url", d.url, "list", "--state", "open", "-o", "json")
    assert [a["labels"]["alertname"] for a in json.loads(only.stdout)["alerts"]] == ["Slow"]

    stats = await tocsin("stats", "--url", d.url, "--days", "1")
    assert stats.returncode == 0, stats.stderr
    assert "Total 2: 1 open, 0 acknowledged, 1 resolved" in stats.stdout
    as_json = json.loads((await tocsin("stats", "--url", d.url, "--json")).stdout)
    assert as_json["total"] == 2
    assert as_json["mttr"]["count"] == 1

    missing = await tocsin("alerts", "--url", d.url, "ack", "nonexistent-id")
    assert missing.returncode == 1
    assert "no alert" in missing.stderr


async def test_short_references_from_the_command_line(make_daemon):
    """Alerts raised together share every short prefix of their ids: a prefix names
    them all and the error lists them; the REF that list shows names one; no escape codes
    off a terminal."""
    d = make_daemon("route: {receiver: r, group_wait: 1h}\nreceivers: [{name: r}]\n")
    await d.start()
    made = [await post_event(d.url, {"type": name, "severity": "warning"}) for name in ("A", "B", "C")]
    prefix = made[0]["id"][:4]
    assert all(m["id"].startswith(prefix) for m in made)
    outputs = []

    ambiguous = await tocsin("alerts", "show", prefix, "--url", d.url)
    outputs.append(ambiguous)
    assert ambiguous.returncode == 1
    assert f"tocsin: error: ambiguous: 3 alerts match '{prefix}'" in ambiguous.stderr
    table = ambiguous.stderr.splitlines()[1:]
    assert re.split(r"\s{2,}", table[0])[:3] == ["REF", "ID", "STATE"]
    assert sorted(line.split()[1] for line in table[1:]) == sorted(m["id"] for m in made)

    listed = await tocsin("alerts", "list", "--url", d.url)
    outputs.append(listed)
    refs = {line.split()[0] for line in listed.stdout.splitlines()[1:]}
    for m in made:
        [ref] = [r for r in refs if m["id"].endswith(r)]
        shown = await tocsin("alerts", "show", ref, "--url", d.url)
        outputs.append(shown)
        assert shown.returncode == 0, shown.stderr
        assert f"id           {m['id']}" in shown.stdout
        assert f"ref          {ref}" in shown.stdout
        assert "starts at" in shown.stdout
        by_fingerprint = await tocsin("alerts", "show", m["fingerprint"][:6], "--url", d.url, "-o", "json")
        assert json.loads(by_fingerprint.stdout)["id"] == m["id"]

    acked = await tocsin("alerts", "ack", prefix, "--url", d.url, "--who", "a")
    assert acked.returncode == 1
    assert "ambiguous: 3 alerts" in acked.stderr
    listed = await tocsin("alerts", "list", "--url", d.url, "--state", "acknowledged", "-o", "json")
    assert json.loads(listed.stdout)["alerts"] == []  # nothing was acknowledged

    missing = await tocsin("alerts", "show", "fffffffe", "--url", d.url)
    outputs.append(missing)
    assert missing.returncode == 1
    assert missing.stderr == "tocsin: error: no alert with id or fingerprint 'fffffffe'\n"
    assert not [o for o in outputs if "\x1b" in o.stdout + o.stderr]
