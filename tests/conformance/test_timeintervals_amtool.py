"""tocsin accepts exactly the time intervals Alertmanager's config parser accepts."""

from __future__ import annotations

import subprocess

import pytest

from tests.peers import require_binary
from tocsin.config import ConfigError
from tocsin.testing import make_config

pytestmark = pytest.mark.e2e

SPECS = [
    "weekdays: ['monday:friday']",
    "weekdays: [Saturday, sunday]",
    "weekdays: ['saturday:sunday']",
    "weekdays: ['funday']",
    "days_of_month: ['1:7', '-1']",
    "days_of_month: ['-7:-1']",
    "days_of_month: ['-3:5']",
    "days_of_month: ['0']",
    "days_of_month: ['10:2']",
    "days_of_month: ['32']",
    "months: ['january:march', '12']",
    "months: ['may:january']",
    "months: ['13']",
    "years: ['2026:2030']",
    "years: ['2030:2026']",
    "times: [{start_time: '09:00', end_time: '17:00'}]",
    "times: [{start_time: '00:00', end_time: '24:00'}]",
    "times: [{start_time: '17:00', end_time: '09:00'}]",
    "times: [{start_time: '9:00', end_time: '17:00'}]",
    "location: Europe/Berlin",
    "location: Nowhere/Land",
]

TEMPLATE = """
route:
  receiver: r
  routes:
    - matchers: [a=b]
      mute_time_intervals: [t]
receivers: [{{name: r}}]
time_intervals:
  - name: t
    time_intervals:
      - {spec}
"""


@pytest.mark.parametrize("spec", SPECS)
def test_accepts_what_alertmanager_accepts(tmp_path, spec):
    amtool = require_binary("amtool")
    text = TEMPLATE.format(spec=spec)
    path = tmp_path / "am.yml"
    path.write_text(text)
    am_ok = subprocess.run([amtool, "check-config", str(path)], capture_output=True,
                           timeout=30).returncode == 0
    try:
        make_config(text)
        ours_ok = True
    except ConfigError:
        ours_ok = False
    assert ours_ok == am_ok, f"{spec}: alertmanager {'accepts' if am_ok else 'rejects'} it"
