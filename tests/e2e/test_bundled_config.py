"""The bundled config runs as is: the log receiver writes each notification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

BUNDLED = Path(__file__).resolve().parents[2] / "etc" / "tocsin" / "tocsin.yml"


async def test_bundled_config_logs_notifications(make_daemon):
    # The bundled file with only group_wait shortened, so the test need not wait 30 s.
    text = BUNDLED.read_text().replace("group_wait: 30s", "group_wait: 0s")
    assert "group_wait: 0s" in text
    d = make_daemon(text)
    await d.start()
    status, _ = await d.post_alerts([{"labels": {"alertname": "Smoke", "severity": "info"}}])
    assert status == 200
    await d.wait_log('"event":"notification"')
    line = next(ln for ln in d.logs().splitlines() if '"event":"notification"' in ln)
    record = json.loads(line)
    assert record["receiver"] == "log"
    assert record["status"] == "firing"
    assert record["group_labels"] == {"alertname": "Smoke"}
    [alert] = record["alerts"]
    assert alert["labels"] == {"alertname": "Smoke", "severity": "info"}
    assert len(alert["fingerprint"]) == 16
