"""bench/storm.py runs issue 17's storm (at a tiny size) against tocsin and the real
Alertmanager, and reports its figures. No timing is asserted: only that every alert was
accepted, every expected notification arrived, and tocsin's loop lag was read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers import require_binary

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_bench_storm_against_alertmanager(tmp_path):
    require_binary("prometheus-alertmanager", "alertmanager")
    out = tmp_path / "storm.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "storm.py"), "--against", "alertmanager", "--alerts", "100",
         "--repeat", "1", "--grace", "20", "--json", str(out)],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report) == {"plain", "inhibit"}
    for variant, by_system in report.items():
        for system in ("tocsin", "alertmanager"):
            m = by_system[system]["median"]
            where = (variant, system, m)
            assert m["errors"] == 0, where
            assert m["expected"] > 100, where  # the routes send some alerts to two receivers
            assert m["delivered"] == m["expected"], where
            assert m["alerts_per_s"] > 0, where
            assert m["cpu_us_per_alert_storm"] > 0, where
        assert report[variant]["tocsin"]["median"]["lag_samples"] > 0
        assert "lag_samples" not in report[variant]["alertmanager"]["median"]
    assert "medians of 1" in proc.stdout
