"""The same alerts posted to the real Alertmanager and to tocsin read back the same."""

from __future__ import annotations

import aiohttp
import pytest

from tests.peers import Alertmanager

pytestmark = pytest.mark.e2e

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
    - matchers: ['team=~"db|storage"']
      receiver: db
receivers:
  - name: default
  - name: pager
  - name: db
"""

ALERTS = [
    {"labels": {"alertname": "A", "severity": "critical", "team": "db"},
     "annotations": {"summary": "x"}, "startsAt": "2026-01-01T00:00:00Z",
     "generatorURL": "http://example.invalid/a"},
    {"labels": {"alertname": "B", "team": "storage", "instance": "h:9100", "job": "node"}},
    {"labels": {"alertname": "C", "weird_label": "quote \" and \\ and ünïcode"}},
    {"labels": {"alertname": "D", "empty": ""}},
]


async def test_fingerprints_receivers_and_shape_match_alertmanager(tmp_path, make_daemon):
    am = Alertmanager(tmp_path / "am", CONFIG)
    d = make_daemon(CONFIG)
    try:
        await am.start()
        await d.start()
        results = {}
        async with aiohttp.ClientSession() as s:
            for name, base in (("am", am.url), ("tocsin", d.url)):
                async with s.post(f"{base}/api/v2/alerts", json=ALERTS) as r:
                    assert r.status == 200, (name, await r.text())
                async with s.get(f"{base}/api/v2/alerts") as r:
                    results[name] = await r.json()
        by_fp = {n: {a["fingerprint"]: a for a in alerts} for n, alerts in results.items()}
        assert set(by_fp["tocsin"]) == set(by_fp["am"])
        for fp, ours in by_fp["tocsin"].items():
            theirs = by_fp["am"][fp]
            assert set(ours) == set(theirs), fp
            assert ours["labels"] == theirs["labels"]
            assert ours["annotations"] == theirs["annotations"]
            assert ours.get("generatorURL") == theirs.get("generatorURL")
            assert sorted(r["name"] for r in ours["receivers"]) == sorted(
                r["name"] for r in theirs["receivers"])
            assert ours["status"]["state"] == theirs["status"]["state"]
            if "startsAt" in ALERTS[0] and ours["labels"]["alertname"] == "A":
                assert ours["startsAt"][:19] == theirs["startsAt"][:19]
    finally:
        am.stop()
