"""The benchmarks run (at a tiny size): they must not rot between measurements."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("args", [["latency.py", "--count", "5"],
                                  ["ingest.py", "--alerts", "200", "--batch", "1", "10"]])
def test_bench_script_runs(args):
    out = subprocess.run([sys.executable, str(BENCH / args[0]), *args[1:]],
                         capture_output=True, text=True, timeout=120, cwd=BENCH)
    assert out.returncode == 0, out.stderr
    assert "errors 0" in out.stdout or "p99" in out.stdout
    assert "nan" not in out.stdout
