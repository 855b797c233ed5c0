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
    "restart": ["ready_s", "vmrss_mib"],
    "query": ["all_p50_ms", "all_p99_ms", "filtered_p50_ms", "filtered_p99_ms"],
    "storm": ["alerts_per_s", "p99_ms", "expected", "delivered", "delay_p50_s"],
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
         "--storm-variants", "plain", "--storm-grace", "1", "--restart-alerts", "300",
         "--query-alerts", "300",
         "--json", str(out), "--write", str(doc)],
        capture_output=True, text=True, timeout=150, cwd=ROOT,
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
        # Read from /proc in 10 ms clock ticks: a 50-alert storm may cost a server less than one.
        assert storm["cpu_us_per_alert_storm"] >= 0
        assert results["restart"]["300"][system]["median"]["repeated"] == 0
    # tocsin has every alert back after kill -9, and says what its database holds per alert;
    # Alertmanager keeps none.
    assert results["restart"]["300"]["tocsin"]["median"]["alerts_back"] == 300
    assert results["restart"]["300"]["tocsin"]["median"]["bytes_per_alert"] > 0
    assert results["restart"]["300"]["alertmanager"]["median"]["alerts_back"] == 0

    # The tables went between the markers; the person's text around them stayed.
    text = doc.read_text()
    assert text.startswith("# Performance\n\nwritten by a person\n\n<!-- bench:start -->\n")
    assert text.endswith("<!-- bench:end -->\n\ntail\n")
    assert "<!-- bench:start -->\nold\n" not in text  # replaced ("old" is in "holds")
    assert "| 100 |" in text
    assert "### Restart: kill -9 at 300 active alerts" in text
    assert "### Query: GET /api/v2/alerts at 300 active alerts" in text
    assert "Alertmanager" in text
    assert "### Alert storm: 50 fresh alerts" in text


def test_bench_run_pins_the_server_and_the_load_generator_to_the_cpus_given(tmp_path):
    """--server-cpus runs the server under taskset (its writer process inherits the CPUs),
    --client-cpus the load generator; the figures are reported as without them."""
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--repeat", "1", "--alerts", "100",
         "--batches", "10", "--skip", "refire", "memory", "latency", "restart", "query", "storm",
         "--server-cpus", "0-0", "--client-cpus", "0", "--json", str(out)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["meta"]["args"]["server_cpus"] == "0-0"
    assert report["results"]["ingest"]["10"]["tocsin"]["median"]["alerts_per_s"] > 0

