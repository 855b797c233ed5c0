"""A real Prometheus evaluating a rule, pointed at tocsin as its Alertmanager."""

from __future__ import annotations

import subprocess

import pytest

from tests.peers import free_port, require_binary, wait_http

pytestmark = pytest.mark.e2e

RULES = """
groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels:
          severity: critical
          team: e2e
        annotations:
          summary: "fires at once"
"""


async def test_prometheus_rule_reaches_webhook(tmp_path, make_daemon, receiver):
    prometheus = require_binary("prometheus")
    d = make_daemon(f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: hook
    webhook_configs: [{{url: "{receiver.url}"}}]
""")
    await d.start()
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "prometheus.yml").write_text(f"""
global:
  evaluation_interval: 1s
rule_files: [{tmp_path / "rules.yml"}]
alerting:
  alertmanagers:
    - api_version: v2
      static_configs:
        - targets: ["127.0.0.1:{d.port}"]
""")
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
         "--rules.alert.resend-delay=1s"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        await wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=30, proc=proc)
        msgs = await receiver.wait_for(1, timeout=30)
        [a] = msgs[0]["alerts"]
        assert a["labels"]["alertname"] == "AlwaysFiring"
        assert a["labels"]["severity"] == "critical"
        assert a["labels"]["team"] == "e2e"
        assert a["annotations"] == {"summary": "fires at once"}
        assert a["status"] == "firing"
        assert a["generatorURL"].startswith("http")
        held = await d.get_alerts()
        assert [h["labels"]["alertname"] for h in held] == ["AlwaysFiring"]
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
