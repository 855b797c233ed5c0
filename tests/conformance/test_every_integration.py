"""A config of every Alertmanager 0.25 integration, with Go templates, as ``amtool config
show`` prints it from the real Alertmanager, loads in tocsin; and ``tocsin route test``
sends the same alerts to the same receivers as ``amtool config routes test``."""

from __future__ import annotations

import io
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conformance.test_routes_amtool import amtool_receivers, require_amtool
from tests.peers import Alertmanager
from tocsin.cli.route import route_test
from tocsin.testing import make_config

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parents[1] / "unit" / "config" / "alertmanager"
CONFIG = HERE / "every-integration.yml"

#: ``config show`` masks every secret as ``<secret>``; those that are URLs are put back.
URL_SECRETS = [
    ("  slack_api_url: <secret>", "  slack_api_url: https://hooks.slack.com/services/T0/B0/XXXX"),
    ("    webhook_url: <secret>", "    webhook_url: https://discord.com/api/webhooks/1/token"),
    ("    api_url: <secret>", "    api_url: https://hooks.slack.com/services/T0/B0/XXXX"),
]

KINDS = ["discord", "email", "opsgenie", "pagerduty", "pagerduty", "pushover", "slack", "sns", "telegram",
         "victorops", "webex", "webhook", "wechat"]

LABEL_SETS = [
    {"alertname": "Disk", "team": "db"},
    {"alertname": "Disk", "team": "db", "severity": "critical"},
    {"alertname": "Disk", "team": "db", "severity": "page", "service": "payments"},
    {"alertname": "Latency", "team": "frontend"},
    {"alertname": "Latency", "team": "frontend", "severity": "info"},
    {"alertname": "Latency", "team": "frontend", "severity": "warning", "channel": "phone"},
    {"alertname": "Charge", "service": "billing"},
    {"alertname": "Charge", "service": "billing-v2"},
    {"alertname": "Ring", "channel": "phone"},
    {"alertname": "Hook", "channel": "hook", "region": "cn-north-1"},
    {"alertname": "Far", "region": "cn-east-2"},
    {"alertname": "Far", "region": "eu-cn-1"},
    {"alertname": "Other"},
    {},
]


async def test_config_show_of_every_integration_loads(tmp_path: Path) -> None:
    amtool = require_amtool()
    am = Alertmanager(tmp_path / "am", CONFIG.read_text())
    await am.start()
    try:
        shown = subprocess.run([amtool, f"--alertmanager.url={am.url}", "config", "show"],
                               capture_output=True, text=True, check=True, timeout=30).stdout
    finally:
        am.stop()
    # Alertmanager prints the templates' glob joined to the config file's directory.
    shown = shown.replace(f"- {tmp_path / 'am'}/templates/", "- templates/")
    for masked, url in URL_SECRETS:
        assert shown.count(masked) == 1, masked
        shown = shown.replace(masked, url)
    assert '{{ template "slack.default.titlelink" . }}' in shown
    assert "service_key: <secret>" in shown
    cfg = make_config(shown)
    kinds = sorted(i.kind for r in cfg.receivers.values() for i in r.integrations)
    assert kinds == KINDS
    # What it printed then is in the repository, where the unit tests read it.
    kept = (HERE / "every-integration-shown.yml").read_text()
    assert kept.split("\n", 4)[4] == shown


def tocsin_receivers(config_file: Path, labels: dict[str, str]) -> str:
    """What ``tocsin route test`` prints, called in this process (the installed command
    prints the same: tests/conformance/test_route_test_corpus.py starts it)."""
    buf = io.StringIO()
    assert route_test(str(config_file), [f"{k}={v}" for k, v in labels.items()], out=buf) == 0
    return "".join(buf.getvalue().split())


@pytest.mark.parametrize("name", ["every-integration.yml", "every-integration-shown.yml"])
def test_route_test_agrees_with_amtool(name: str, tmp_path: Path) -> None:
    amtool = require_amtool()
    path = tmp_path / name
    path.write_text((HERE / name).read_text())
    with ThreadPoolExecutor(max_workers=2) as pool:
        theirs = list(pool.map(lambda labels: amtool_receivers(amtool, path, labels), LABEL_SETS))
    ours = [tocsin_receivers(path, labels) for labels in LABEL_SETS]
    differ = [f"{labels}: amtool {want!r}, tocsin {got!r}"
              for labels, want, got in zip(LABEL_SETS, theirs, ours, strict=True) if want != got]
    assert len(set(theirs)) >= 8  # the label sets reach most receivers
    assert not differ, "\n".join(differ)
