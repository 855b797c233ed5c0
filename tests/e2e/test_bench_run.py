"""bench/run.py runs side by side with the real Alertmanager (at a tiny size) and reports every
section for both systems. No timing is asserted: only that each figure exists and is sane."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers import require_binary

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]

# The figures each section must report, all of them positive numbers.
FIGURES = {
    "ingest": ["alerts_per_s", "p50_ms", "p99_ms"],
    "refire": ["alerts_per_s", "first_post_alerts_per_s", "p50_ms", "p99_ms"],
    "memory": ["vmhwm_mib", "vmrss_mib", "active_alerts"],
    "latency": ["p50_ms", "p99_ms", "max_ms", "delivered"],
    "storm": ["alerts_per_s", "p99_ms", "expected", "delivered", "delay_p50_s", "cpu_us_per_alert_storm"],
}


def test_bench_run_against_alertmanager(tmp_path):
    require_binary("prometheus-alertmanager", "alertmanager")
    out = tmp_path / "bench.json"
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nwritten by a person\n\n"
                   "<!-- bench:start -->\nold\n<!-- bench:end -->\n\ntail\n")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--against", "alertmanager", "--quick",
         "--repeat", "1", "--alerts", "200", "--memory", "500", "--latency-count", "20",
         "--refire-alerts", "200", "--refire-rounds", "2", "--storm-alerts", "50",
         "--storm-variants", "plain", "--json", str(out), "--write", str(doc)],
        capture_output=True, text=True, timeout=90, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())

    assert report["systems"] == ["tocsin", "alertmanager"]
    assert report["meta"]["versions"]["alertmanager"].startswith("alertmanager, version")
    assert report["meta"]["machine"]["cpus"] >= 1
    results = report["results"]
    assert set(results) == set(FIGURES)
    assert set(results["ingest"]) == {"1", "10", "100"}
    assert set(results["memory"]) == {"500"}
    for section, figures in FIGURES.items():
        for point, by_system in results[section].items():
            for system in ("tocsin", "alertmanager"):
                summary = by_system[system]
                where = f"{section} {point} {system}"
                assert summary["failures"] == [], where
                assert summary["median"]["errors"] == 0, (where, summary["runs"])
                for figure in figures:
                    assert summary["median"][figure] > 0, (where, figure, summary["median"])
    for system in ("tocsin", "alertmanager"):
        assert results["memory"]["500"][system]["median"]["active_alerts"] == 500
        assert results["latency"]["20"][system]["median"]["delivered"] == 20
        storm = results["storm"]["plain"][system]["median"]
        assert storm["delivered"] == storm["expected"] > 50  # one continue route: some alerts notify twice

    # The tables went between the markers; the person's text around them stayed.
    text = doc.read_text()
    assert text.startswith("# Performance\n\nwritten by a person\n\n<!-- bench:start -->\n")
    assert text.endswith("<!-- bench:end -->\n\ntail\n")
    assert "old" not in text
    assert "| 100 |" in text
    assert "Alertmanager" in text
    assert "### Alert storm: 50 fresh alerts" in text
