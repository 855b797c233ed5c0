"""Memory under fuzzing: a ``tocsin serve`` subprocess takes a stream of hypothesis
inputs (arbitrary bytes, arbitrary JSON and plausible alerts and events, on both
ingest endpoints), and its resident set stays flat apart from the alerts it holds.

The daemon runs in its own process so that its memory is measured apart from the
hypothesis engine's, which grows with every example it remembers. Its RSS is read
from ``/proc`` after a warm-up tenth of the examples and at the end; the growth may
not exceed ``RSS_BOUND_MIB`` plus 3 KiB for each alert the daemon holds at the end
(accepted alerts stay active for ``resolve_timeout``). Every answer must be 200, 400
or 413; ``/-/healthy`` is checked every 500 examples.

Quick mode posts ``TOCSIN_FUZZ_EXAMPLES`` (150) x 4 examples; long mode, for example::

    TOCSIN_FUZZ_EXAMPLES=25000 .venv/bin/pytest -q -s tests/reliability/test_fuzz_memory.py

posts 100,000 and prints the figures (also appended to ``$TOCSIN_RELIABILITY_REPORT``).
"""

from __future__ import annotations

import asyncio
import http.client
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.peers import Daemon
from tests.reliability.figures import rss_kib, write_report
from tests.reliability.test_fuzz import ALERT_BODY, ALERTS, CONFIG, EVENT_BODY, EVENTS, EXAMPLES, JSON, encode

pytestmark = pytest.mark.e2e

RSS_BOUND_MIB = 32
PER_ALERT_BYTES = 3072
#: 422: go-swagger's answer to a body that breaks the schema, on Alertmanager's API.
OK = {200, 201, 400, 413, 422}

INPUTS = st.one_of(
    st.tuples(st.sampled_from([ALERTS, EVENTS]), st.binary(max_size=2000)),
    st.tuples(st.sampled_from([ALERTS, EVENTS]), JSON.map(encode)),
    st.tuples(st.just(ALERTS), ALERT_BODY.map(encode)),
    st.tuples(st.just(EVENTS), EVENT_BODY.map(encode)),
)


def test_memory_stays_flat_under_fuzzing(tmp_path: Path) -> None:
    cfg = tmp_path / "tocsin.yml"
    cfg.write_text(CONFIG)
    daemon = Daemon(cfg, tmp_path / "db" / "tocsin.db", tmp_path / "tocsin.log")
    asyncio.run(daemon.start(["--log-level", "warning"]))
    assert daemon.proc is not None
    pid = daemon.proc.pid
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
    total = EXAMPLES * 4
    seen = {"n": 0, "warm": 0, "statuses": {}}

    def request(method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()

    @settings(max_examples=total, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(INPUTS)
    def check(item: tuple[str, bytes]) -> None:
        path, body = item
        status, data = request("POST", path, body)
        seen["statuses"][status] = seen["statuses"].get(status, 0) + 1
        assert status in OK, f"{path} answered {status} to {body[:300]!r}: {data[:500]!r}"
        seen["n"] += 1
        if seen["n"] == max(1, total // 10):
            seen["warm"] = rss_kib(pid)
        seen["recent"] = [*seen.get("recent", [])[-499:], (path, body)]
        if seen["n"] % 500 == 0:
            # What was accepted must still read back: one of the last 500 inputs broke it if not.
            for probe in ("/-/healthy", "/api/v2/alerts", "/api/v2/alerts/groups", "/api/tocsin/v1/alerts"):
                got, answer = request("GET", probe)
                assert got == 200, (f"GET {probe} answered {got}: {answer[:500]!r}; "
                                    f"the last inputs: {seen['recent'][-500:]!r}"[:20000])

    try:
        check()
        status, data = request("GET", "/api/v2/alerts")
        assert status == 200
        held = len(json.loads(data))
        end = rss_kib(pid)
    finally:
        conn.close()
        code = daemon.stop()
    assert code == 0, f"the daemon did not stop cleanly ({code}):\n{daemon.logs()[-3000:]}"
    assert "Traceback" not in daemon.logs(), daemon.logs()[-3000:]
    warm = seen["warm"] or end
    grown = (end - warm) / 1024
    allowed = RSS_BOUND_MIB + held * PER_ALERT_BYTES / 2**20
    figures = {"examples": seen["n"], "statuses": {str(k): v for k, v in sorted(seen["statuses"].items())},
               "rss_warm_mib": round(warm / 1024, 1), "rss_end_mib": round(end / 1024, 1),
               "alerts_held": held, "grown_mib": round(grown, 1), "allowed_mib": round(allowed, 1)}
    print(f"fuzz memory: {figures}")
    write_report("fuzz_memory", figures)
    assert grown <= allowed, f"the daemon's RSS grew {grown:.1f} MiB (allowed {allowed:.1f}): {figures}"
