"""Differential test: tocsin loads exactly the time intervals Alertmanager's parser loads.

Each case is a named time interval's ``time_intervals`` list, put into a minimal
Alertmanager config that uses it on child routes; ``amtool check-config`` (the real
Alertmanager 0.25 config parser) accepts or rejects the file, and tocsin's
``make_config`` must do the same. Only the verdicts are compared, not the messages.
The recorded verdict of each case is Alertmanager 0.25's; another amtool version
that disagrees fails with a message saying so.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.peers import require_binary
from tocsin.config.document import ConfigError
from tocsin.testing import make_config

pytestmark = pytest.mark.e2e

TEMPLATE = """\
route:
  receiver: r
  routes:
    - matchers: [a=b]
      mute_time_intervals: [t]
    - matchers: [a=c]
      active_time_intervals: [t]
receivers:
  - name: r
{section}:
  - name: t
    time_intervals:
{intervals}
"""

ACCEPT, REJECT = True, False

# (case id, the interval's time_intervals items as YAML, Alertmanager 0.25's verdict)
CASES = [
    ("weekday range", "- weekdays: ['monday:friday']", ACCEPT),
    ("weekday names in any case", "- weekdays: [Saturday, SUNDAY, 'Monday:WEDNESDAY']", ACCEPT),
    ("saturday:sunday (sunday is day 0)", "- weekdays: ['saturday:sunday']", REJECT),
    ("unknown weekday", "- weekdays: ['funday']", REJECT),
    ("abbreviated weekday", "- weekdays: ['mon:fri']", REJECT),
    ("weekday number", "- weekdays: [1]", REJECT),
    ("three-part range", "- weekdays: ['monday:tuesday:friday']", REJECT),
    ("days of month, negative and mixed", "- days_of_month: ['1:7', '-1', '-3:-1', '25:-1']", ACCEPT),
    ("days of month as YAML ints", "- days_of_month: [1, 15, -1, +5]", ACCEPT),
    ("unquoted base-60-looking range", "- days_of_month: [1:5]", ACCEPT),
    ("negative start, positive end", "- days_of_month: ['-3:5']", REJECT),
    ("day 0", "- days_of_month: ['0']", REJECT),
    ("day 32", "- days_of_month: ['32']", REJECT),
    ("day -32", "- days_of_month: ['-32']", REJECT),
    ("start after end", "- days_of_month: ['10:2']", REJECT),
    ("start after end, from the end", "- days_of_month: ['-1:-3']", REJECT),
    ("28:-1 (assumes 28 days)", "- days_of_month: ['28:-1']", REJECT),
    ("hex day", "- days_of_month: [0x1F]", REJECT),
    ("underscore in a number", "- days_of_month: ['1_0']", REJECT),
    ("space in a number", "- days_of_month: [' 5']", REJECT),
    ("months by name and number", "- months: ['january:march', '12', 'May:8']", ACCEPT),
    ("month 13 and 0 load", "- months: ['13', '0']", ACCEPT),
    ("end month before start", "- months: ['may:january']", REJECT),
    ("abbreviated month", "- months: ['jan']", REJECT),
    ("years", "- years: ['2026:2030', 2031]", ACCEPT),
    ("end year before start", "- years: ['2030:2026']", REJECT),
    ("year beyond int64", "- years: ['99999999999999999999']", REJECT),
    ("times quoted", "- times: [{start_time: '09:00', end_time: '17:00'}]", ACCEPT),
    ("times unquoted, as documented", "- times:\n    - start_time: 09:00\n      end_time: 17:00", ACCEPT),
    ("times to 24:00", "- times: [{start_time: '00:00', end_time: '24:00'}]", ACCEPT),
    ("start time after end", "- times: [{start_time: '17:00', end_time: '09:00'}]", REJECT),
    ("start time equals end", "- times: [{start_time: '10:00', end_time: '10:00'}]", REJECT),
    ("one-digit hour", "- times: [{start_time: '9:00', end_time: '17:00'}]", REJECT),
    ("24:01", "- times: [{start_time: '00:00', end_time: '24:01'}]", REJECT),
    ("time with a trailing newline", "- times: [{start_time: \"09:00\\n\", end_time: '17:00'}]", REJECT),
    ("missing end time", "- times: [{start_time: '09:00'}]", REJECT),
    ("unknown field in times", "- times: [{start_time: '09:00', end_time: '10:00', tz: x}]", REJECT),
    ("IANA location", "- location: Europe/Berlin\n  times: [{start_time: '09:00', end_time: '17:00'}]",
     ACCEPT),
    ("Local and UTC", "- location: Local\n- location: UTC", ACCEPT),
    ("empty location", "- location: ''", ACCEPT),
    ("unknown location", "- location: Nowhere/Land", REJECT),
    ("location in lower case", "- location: europe/berlin", REJECT),
    ("unknown spec field", "- weekday: [monday]", REJECT),
    ("several specs", "- weekdays: [saturday, sunday]\n- times: [{start_time: '22:00', end_time: '24:00'}]",
     ACCEPT),
    ("empty spec", "- {}", ACCEPT),
    ("null list", "", ACCEPT),
    ("empty list", "[]", ACCEPT),
]

# Alertmanager reads a null list element as the zero value: weekday 0 (Sunday) or a
# spec that contains every instant. tocsin rejects those, deliberately.
DIVERGENT = [
    ("null weekday", "- weekdays: [~]", ACCEPT),
    ("null spec", "- ~", ACCEPT),
]


def document(section: str, intervals: str) -> str:
    return TEMPLATE.format(section=section, intervals=textwrap.indent(intervals, " " * 6))


def verdicts(tmp_path: Path, text: str) -> tuple[bool, bool, str]:
    """(amtool accepts, tocsin accepts, what tocsin said)."""
    amtool = require_binary("amtool")
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    run = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True,
                         timeout=60)
    if run.returncode not in (0, 1):
        pytest.fail(f"amtool check-config exited {run.returncode}:\n{run.stdout}{run.stderr}")
    try:
        make_config(text)
    except ConfigError as exc:
        return run.returncode == 0, False, str(exc)
    return run.returncode == 0, True, ""


def check(tmp_path: Path, section: str, intervals: str, recorded: bool) -> None:
    text = document(section, intervals)
    am_ok, ours_ok, ours_said = verdicts(tmp_path, text)
    assert am_ok == recorded, (
        f"amtool {'accepts' if am_ok else 'rejects'} this, unlike Alertmanager 0.25; "
        f"is amtool another version?\n{text}")
    assert ours_ok == am_ok, (
        f"Alertmanager {'accepts' if am_ok else 'rejects'} this, tocsin does not agree"
        f"{': ' + ours_said if ours_said else ''}\n{text}")


def params(cases: list[tuple[str, str, bool]]) -> list:
    return [pytest.param(intervals, recorded, id=name) for name, intervals, recorded in cases]


@pytest.mark.parametrize(("intervals", "recorded"), params(CASES))
def test_time_intervals_section(tmp_path, intervals, recorded):
    check(tmp_path, "time_intervals", intervals, recorded)


@pytest.mark.parametrize(("intervals", "recorded"), params(CASES[::4]))
def test_older_mute_time_intervals_section(tmp_path, intervals, recorded):
    check(tmp_path, "mute_time_intervals", intervals, recorded)


@pytest.mark.parametrize(("intervals", "recorded"), params(DIVERGENT))
@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="tocsin rejects null list elements, which Alertmanager reads as zero values")
def test_known_divergence(tmp_path, intervals, recorded):
    check(tmp_path, "time_intervals", intervals, recorded)


@pytest.mark.parametrize(("name", "text", "recorded"), [
    ("empty name", document("time_intervals", "- {}") + "  - name: ''\n", REJECT),
    ("name missing", document("time_intervals", "- {}") + "  - time_intervals: [{}]\n", REJECT),
    ("duplicate across sections",
     document("time_intervals", "- {}") + "mute_time_intervals:\n  - name: t\n", REJECT),
    ("duplicate in one section",
     document("time_intervals", "- {}") + "  - name: t\n    time_intervals: []\n", REJECT),
    ("undefined interval",
     document("time_intervals", "- {}").replace("mute_time_intervals: [t]", "mute_time_intervals: [u]"),
     REJECT),
    ("interval on the root route",
     document("time_intervals", "- {}").replace(
         "  receiver: r\n", "  receiver: r\n  mute_time_intervals: [t]\n", 1), REJECT),
    ("both sections, distinct names",
     document("time_intervals", "- {}").replace("active_time_intervals: [t]", "active_time_intervals: [old]")
     + "mute_time_intervals:\n  - name: old\n    time_intervals: [{months: [may]}]\n", ACCEPT),
])
def test_names_and_references(tmp_path, name, text, recorded):
    am_ok, ours_ok, ours_said = verdicts(tmp_path, text)
    assert am_ok == recorded, f"{name}: amtool {'accepts' if am_ok else 'rejects'} it\n{text}"
    assert ours_ok == am_ok, f"{name}: tocsin {'accepts' if ours_ok else 'rejects'} it: {ours_said}\n{text}"
