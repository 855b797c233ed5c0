"""The built-in enrichers (``enrich:``): rules, threshold, recommendations, host.

Through the real pipeline (``running`` + ``post`` + ``advance``) wherever the
outcome is what an alert looks like once held, or what a receiver gets."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import textwrap
import time
from email.message import EmailMessage
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
from aiosmtpd.controller import Controller

import tocsin.enrich.host as enrich_host
import tocsin.enrich.recommendations as enrich_recommendations
import tocsin.enrich.rules as enrich_rules
import tocsin.enrich.threshold as enrich_threshold
from tocsin import hookimpl
from tocsin.config.document import ConfigError
from tocsin.core.labels import fingerprint
from tocsin.core.models import Alert
from tocsin.testing import RecordingServer, advance, make_config, make_plugins, post, running

HOSTNAME = socket.gethostname()

BASE = """
global: {resolve_timeout: 1h}
route: {receiver: default, group_by: [alertname], group_wait: 1s, group_interval: 1m}
receivers:
  - name: default
"""


def config(section: str, base: str = BASE) -> str:
    return base + "enrich:\n" + textwrap.indent(textwrap.dedent(section).strip("\n"), "  ") + "\n"


async def post_one(rt, labels: dict[str, str], annotations: dict[str, str] | None = None) -> Alert:
    result = await post(rt, {"labels": labels, "annotations": annotations or {}})
    assert (result.accepted, result.errors) == (1, [])
    held = rt.alerts.get(result.fingerprints[0])
    assert held is not None
    return held


@pytest.fixture(autouse=True)
def fresh_host_enricher():
    enrich_host.host.reset()
    yield
    enrich_host.host.reset()


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


# -- configuration ---------------------------------------------------------------------------------


FULL = """
timeout: 2s
rules:
  - matchers: ['alertname="DiskFull"']
    labels: {team: storage}
    annotations:
      runbook_url: "https://runbooks.example/{{ labels.alertname }}"
      owner: "{{ labels.team }}"
threshold:
  value: value
  threshold: threshold
  direction: below
  bands:
    - {over: 50, severity: critical, priority: P1}
    - {over: 20, severity: error, priority: P2}
    - {over: 0, severity: warning}
recommendations:
  by_category: {database: ["Check replication lag"]}
  by_alertname: {DiskFull: ["Extend the volume", "Rotate logs"]}
host:
  enabled: true
  matchers: ['severity="critical"']
  top: 3
  timeout: 500ms
"""


def test_the_documented_schema_decodes():
    cfg = make_config(config(FULL)).document.enrich
    assert float(cfg.timeout) == 2.0
    [rule] = cfg.rules
    assert [str(m) for ml in rule.matchers for m in ml] == ['alertname="DiskFull"']
    assert rule.labels == {"team": "storage"}
    assert rule.overwrite is False
    assert rule.annotations["owner"] == "{{ labels.team }}"
    assert cfg.threshold is not None
    assert cfg.threshold.direction == "below"
    assert [(b.over, b.severity, b.priority) for b in cfg.threshold.bands] == [
        (50.0, "critical", "P1"), (20.0, "error", "P2"), (0.0, "warning", None)]
    assert cfg.recommendations is not None
    assert cfg.recommendations.by_alertname == {"DiskFull": ["Extend the volume", "Rotate logs"]}
    assert (cfg.host.enabled, cfg.host.top, float(cfg.host.timeout)) == (True, 3, 0.5)


def test_defaults_enable_nothing():
    cfg = make_config(BASE).document.enrich
    assert cfg.rules == []
    assert cfg.threshold is None
    assert cfg.recommendations is None
    assert cfg.host.enabled is False
    assert (float(cfg.timeout), cfg.host.top, float(cfg.host.timeout)) == (2.0, 5, 1.0)


@pytest.mark.parametrize("source", [
    "https://runbooks.example/{{ labels.alertname ",      # syntax
    "{{ labels.alertname | no_such_filter }}",            # compiles only with known filters
])
def test_a_bad_template_is_a_config_error_naming_its_path(source):
    section = f"""
    rules:
      - matchers: ['alertname="DiskFull"']
        annotations:
          summary: fine
          runbook_url: {source!r}
    """
    with pytest.raises(ConfigError) as err:
        make_config(config(section))
    assert [p.path for p in err.value.problems] == ["enrich.rules[0].annotations.runbook_url"]
    assert err.value.problems[0].line is not None


@pytest.mark.parametrize(("section", "path", "words"), [
    ("threshold: {bands: [{over: 0, severity: warning}, {over: 50, severity: critical}]}",
     "enrich.threshold.bands[1].over", "descending"),
    ("threshold: {bands: [{over: 20, severity: error}, {over: 20, severity: warning}]}",
     "enrich.threshold.bands[1].over", "descending"),
    ("threshold: {bands: [{over: -1, severity: warning}]}", "enrich.threshold.bands[0].over", "zero or more"),
    ("threshold: {direction: sideways}", "enrich.threshold.direction", ""),
    ("threshold: {value: 'not a name'}", "enrich.threshold.value", "invalid"),
    ("rules: [{lables: {a: b}, annotations: {x: y}}]", "enrich.rules[0].lables", "unknown field"),
    ("rules: [{labels: {bad-name: x}}]", "enrich.rules[0].labels.bad-name", "invalid label name"),
    ("rules: [{labels: {team: ''}}]", "enrich.rules[0].labels.team", "empty"),
    ("rules: [{matchers: ['team=~('], labels: {a: b}}]", "enrich.rules[0].matchers[0]", "regex"),
    ("rules: [{matchers: ['a=\"b\"']}]", "enrich.rules[0].annotations", "labels or annotations"),
    ("recommendations: {by_alertname: {DiskFull: ['ok', ' ']}}",
     "enrich.recommendations.by_alertname.DiskFull[1]", "empty"),
    ("host: {top: 0}", "enrich.host.top", "between"),
    ("host: {timeout: 0}", "enrich.host.timeout", "greater than zero"),
    ("timeout: 0", "enrich.timeout", "greater than zero"),
    ("colour: red", "enrich.colour", "unknown field"),
])
def test_config_errors_name_their_path(section, path, words):
    with pytest.raises(ConfigError) as err:
        make_config(config(section))
    assert [p.path for p in err.value.problems] == [path], err.value
    assert words in err.value.problems[0].message


# -- nothing configured: nothing done, at once -------------------------------------------------------


async def test_with_nothing_configured_every_enricher_returns_at_once(tmp_path):
    runtime = SimpleNamespace(config=make_config(BASE))
    alert = Alert(fingerprint="", labels={"alertname": "A", "instance": f"{HOSTNAME}:9100"},
                  annotations={"value": "99", "threshold": "1"}, starts_at=1, ends_at=2)
    for plugin in (enrich_rules.rules, enrich_threshold.threshold, enrich_recommendations.recommendations,
                   enrich_host.host):
        assert plugin.tocsin_enrich(runtime=runtime, alert=alert) is None, plugin.name
    async with running(BASE, tmp_path) as rt:
        held = await post_one(rt, {"alertname": "A", "instance": f"{HOSTNAME}:9100"},
                              {"value": "99", "threshold": "1"})
    assert held.labels == {"alertname": "A", "instance": f"{HOSTNAME}:9100"}
    assert held.annotations == {"value": "99", "threshold": "1"}
    assert enrich_host.host.scans == 0


# -- rules -------------------------------------------------------------------------------------------


RULES = """
rules:
  - matchers: ['alertname="DiskFull"']
    labels: {team: storage}
    annotations:
      runbook_url: "https://runbooks.example/{{ labels.alertname }}"
  - matchers: ['team="storage"']                 # matches the label the rule above added
    labels: {pager: storage-oncall}
    annotations:
      owner: "{{ labels.team }} ({{ labels.pager }})"
      dashboard_url: "https://grafana.example/d/{{ labels.instance | default('all') }}"
      action: "see {{ annotations.runbook_url }}"   # what the rule above rendered
  - matchers: ['team="network"']
    labels: {pager: nobody}
"""


async def test_rules_apply_in_order_and_render_templates(tmp_path):
    async with running(config(RULES), tmp_path) as rt:
        held = await post_one(rt, {"alertname": "DiskFull", "instance": "db1:9100"})
        other = await post_one(rt, {"alertname": "CPU"})
    labels = {"alertname": "DiskFull", "instance": "db1:9100", "team": "storage", "pager": "storage-oncall"}
    assert held.labels == labels
    assert held.fingerprint == fingerprint(labels)  # labels added before fingerprinting
    assert held.annotations == {
        "runbook_url": "https://runbooks.example/DiskFull",
        "owner": "storage (storage-oncall)",
        "dashboard_url": "https://grafana.example/d/db1:9100",
        "action": "see https://runbooks.example/DiskFull",
    }
    assert (other.labels, other.annotations) == ({"alertname": "CPU"}, {})


async def test_overwrite_false_keeps_the_senders_values_and_true_replaces_them(tmp_path):
    section = """
    rules:
      - labels: {team: storage, env: prod}
        annotations: {runbook_url: "https://runbooks.example/generic", owner: storage}
      - matchers: ['alertname="Forced"']
        labels: {team: forced}
        annotations: {owner: forced}
        overwrite: true
    """
    async with running(config(section), tmp_path) as rt:
        kept = await post_one(rt, {"alertname": "DiskFull", "team": "db"},
                              {"runbook_url": "https://runbooks.example/mine", "owner": ""})
        forced = await post_one(rt, {"alertname": "Forced", "team": "db"}, {"owner": "me"})
    assert kept.labels == {"alertname": "DiskFull", "team": "db", "env": "prod"}
    # An empty annotation counts as none.
    assert kept.annotations == {"runbook_url": "https://runbooks.example/mine", "owner": "storage"}
    assert forced.labels == {"alertname": "Forced", "team": "forced", "env": "prod"}
    assert forced.annotations["owner"] == "forced"


async def test_a_template_failing_to_render_skips_only_that_value(tmp_path):
    section = """
    rules:
      - labels: {team: storage}
        annotations:
          impact: "{{ 1 // (labels.alertname | length - 1) }}"
          owner: "{{ labels.team }}"
          blank: "{{ labels.missing }}"
    """
    with structlog.testing.capture_logs() as logs:
        async with running(config(section), tmp_path) as rt:
            result = await post(rt, {"labels": {"alertname": "A"}})
            held = rt.alerts.get(result.fingerprints[0])
    assert held.labels == {"alertname": "A", "team": "storage"}
    assert held.annotations == {"owner": "storage"}  # no impact; an empty rendering sets nothing
    [failed] = events(logs, "enrich template failed; value skipped")
    assert (failed["rule"], failed["annotation"]) == (0, "impact")
    assert "ZeroDivisionError" in failed["error"]


async def test_rules_use_the_macros_of_the_templates_files(tmp_path):
    macro = "{% macro runbook(name) %}https://rb.example/{{ name }}{% endmacro %}"
    (tmp_path / "macros.j2").write_text(macro)
    base = BASE + f"templates: ['{tmp_path}/*.j2']\n"
    section = """
    rules:
      - annotations: {runbook_url: "{{ runbook(labels.alertname) }}"}
    """
    async with running(config(section, base), tmp_path) as rt:
        held = await post_one(rt, {"alertname": "DiskFull"})
    assert held.annotations == {"runbook_url": "https://rb.example/DiskFull"}


def test_rules_are_compiled_once_per_config_object():
    text = config(RULES)
    first, second = make_config(text), make_config(text)
    compiled = enrich_rules.rules.compiled(first.document.enrich.rules, first.templates)
    assert enrich_rules.rules.compiled(first.document.enrich.rules, first.templates) is compiled
    assert len(compiled) == 3
    assert [len(r.matchers) for r in compiled] == [1, 1, 1]
    # a reload brings a new config object
    recompiled = enrich_rules.rules.compiled(second.document.enrich.rules, second.templates)
    assert recompiled is not compiled
    assert enrich_rules.rules.compiled(second.document.enrich.rules, second.templates) is recompiled


# -- threshold ---------------------------------------------------------------------------------------


BANDS = """
threshold:
  direction: {direction}
  bands:
    - {{over: 50, severity: critical, priority: P1}}
    - {{over: 20, severity: error, priority: P2}}
    - {{over: 0, severity: warning, priority: P3}}
"""


@pytest.mark.parametrize(("direction", "value", "limit", "severity", "priority", "message"), [
    ("above", "92", "80", "warning", "P3", "92 (threshold 80, exceeded by 15.0%)"),
    ("above", "130", "80", "critical", "P1", "130 (threshold 80, exceeded by 62.5%)"),
    ("above", "100", "80", "error", "P2", "100 (threshold 80, exceeded by 25.0%)"),
    ("above", "96", "80", "warning", "P3", "96 (threshold 80, exceeded by 20.0%)"),  # must exceed 20
    ("above", "-5", "-10", "error", "P2", "-5 (threshold -10, exceeded by 50.0%)"),  # over 50 needs > 50
    ("above", "70", "80", "info", None, "70 (threshold 80, within threshold)"),
    ("above", "80", "80", "info", None, "80 (threshold 80, within threshold)"),
    ("below", "5", "20", "critical", "P1", "5 (threshold 20, below by 75.0%)"),
    ("below", "15", "20", "error", "P2", "15 (threshold 20, below by 25.0%)"),
    ("below", "30", "20", "info", None, "30 (threshold 20, within threshold)"),
    ("above", "9.2e+01", "80", "warning", "P3", "9.2e+01 (threshold 80, exceeded by 15.0%)"),
])
async def test_threshold_bands(tmp_path, direction, value, limit, severity, priority, message):
    async with running(config(BANDS.format(direction=direction)), tmp_path) as rt:
        held = await post_one(rt, {"alertname": "Usage", "severity": "info"},
                              {"value": value, "threshold": limit})
    assert held.labels.get("severity") == severity
    assert held.labels.get("priority") == priority
    assert held.annotations["threshold_message"] == message
    assert held.annotations["summary"] == message  # the alert had no summary


async def test_threshold_zero_uses_the_difference_and_the_lowest_band(tmp_path):
    async with running(config(BANDS.format(direction="above")), tmp_path) as rt:
        held = await post_one(rt, {"alertname": "Errors"}, {"value": "5", "threshold": "0"})
        zero = await post_one(rt, {"alertname": "Errors2"}, {"value": "0", "threshold": "0"})
    assert held.annotations["threshold_message"] == "5 (threshold 0, exceeded by 5)"
    assert (held.labels["severity"], held.labels["priority"]) == ("warning", "P3")
    assert zero.annotations["threshold_message"] == "0 (threshold 0, within threshold)"
    assert "severity" not in zero.labels


async def test_threshold_keeps_a_summary_reads_labels_and_named_fields(tmp_path):
    section = """
    threshold:
      value: free_gib
      threshold: min_gib
      direction: below
      bands: [{over: 0, severity: warning}]
    """
    async with running(config(section), tmp_path) as rt:
        held = await post_one(rt, {"alertname": "Free", "min_gib": "10"},
                              {"free_gib": "8", "summary": "little space left"})
        untouched = await post_one(rt, {"alertname": "Other"}, {"value": "99", "threshold": "1"})
    assert held.annotations["threshold_message"] == "8 (threshold 10, below by 20.0%)"
    assert held.annotations["summary"] == "little space left"
    assert held.labels["severity"] == "warning"
    assert "priority" not in held.labels
    assert untouched.annotations == {"value": "99", "threshold": "1"}  # no free_gib: not its business


async def test_a_non_numeric_value_is_skipped_with_a_log_line(tmp_path):
    with structlog.testing.capture_logs() as logs:
        async with running(config(BANDS.format(direction="above")), tmp_path) as rt:
            held = await post_one(rt, {"alertname": "Usage", "severity": "info"},
                                  {"value": "97%", "threshold": "80"})
            nan = await post_one(rt, {"alertname": "Usage2"}, {"value": "92", "threshold": "NaN"})
    assert held.labels == {"alertname": "Usage", "severity": "info"}
    assert held.annotations == {"value": "97%", "threshold": "80"}
    assert "threshold_message" not in nan.annotations
    skipped = events(logs, "threshold enricher: not a number; skipped")
    assert [(e["field"], e["text"], e["alertname"]) for e in skipped] == [
        ("value", "97%", "Usage"), ("threshold", "NaN", "Usage2")]
    assert skipped[0]["fingerprint"] == held.fingerprint


# -- recommendations --------------------------------------------------------------------------------


RECOMMENDATIONS = """
recommendations:
  by_category:
    database: ["Check replication lag", "Look at slow queries"]
  by_alertname:
    DiskFull: ["Extend the volume", "Rotate logs", "Check replication lag"]
"""


async def test_recommendations_merge_sender_alertname_and_category_lines(tmp_path):
    async with running(config(RECOMMENDATIONS), tmp_path) as rt:
        # As a native event puts them: newline-joined, and a category label.
        both = await post_one(rt, {"alertname": "DiskFull", "category": "database"},
                              {"recommendations": "Page the DBA\nRotate logs"})
        by_name = await post_one(rt, {"alertname": "DiskFull"})
        by_category = await post_one(rt, {"alertname": "Other", "category": "Database"})
        none = await post_one(rt, {"alertname": "Other"}, {"recommendations": "Keep  \n\nthis"})
    assert both.annotations["recommendations"].split("\n") == [
        "Page the DBA", "Rotate logs", "Extend the volume", "Check replication lag", "Look at slow queries"]
    assert by_name.annotations == {"recommendations": "Extend the volume\nRotate logs\nCheck replication lag"}
    assert by_category.annotations == {"recommendations": "Check replication lag\nLook at slow queries"}
    assert none.annotations == {"recommendations": "Keep  \n\nthis"}  # nothing to add: left alone


LINES = ["Extend the volume", "Rotate logs"]


async def test_recommendations_and_threshold_message_show_in_the_slack_message(tmp_path):
    server = RecordingServer()
    url = await server.start()
    try:
        base = BASE + f"    slack_configs:\n      - api_url: {url}/services/T0/B0/X\n"
        section = RECOMMENDATIONS + "threshold: {bands: [{over: 0, severity: warning}]}\n"
        async with running(config(section, base), tmp_path) as rt:
            held = await post_one(rt, {"alertname": "DiskFull"},
                                  {"summary": "/var is 97% full", "value": "97", "threshold": "90"})
            assert held.annotations["recommendations"] == "\n".join([*LINES, "Check replication lag"])
            await advance(rt, 1)
            [request] = await server.wait_for(1)
    finally:
        await server.stop()
    body = request.json()
    section_text = next(b["text"]["text"] for b in body["blocks"] if b["type"] == "section")
    assert section_text.splitlines()[0] == ":red_circle: *DiskFull*: /var is 97% full"
    assert section_text.splitlines()[1:] == [
        "*Recommended actions*", "• Extend the volume", "• Rotate logs", "• Check replication lag"]
    texts = [f["text"] for b in body["attachments"][0]["blocks"] if b["type"] == "section"
             for f in b.get("fields", [])]
    assert "*Value*\n97 (threshold 90, exceeded by 7.8%)" in texts
    assert "*Severity*\nwarning" in texts


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp_port():
    inbox = Inbox()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


async def test_recommendations_show_in_the_email_text(tmp_path, smtp_port):
    port, inbox = smtp_port
    smtp = "smtp_from: tocsin@example.org, smtp_require_tls: false"
    base = BASE.replace("global: {resolve_timeout: 1h}", f"global: {{resolve_timeout: 1h, {smtp}}}")
    base += f"    email_configs:\n      - {{to: oncall@example.org, smarthost: '127.0.0.1:{port}'}}\n"
    async with running(config(RECOMMENDATIONS, base), tmp_path) as rt:
        await post_one(rt, {"alertname": "DiskFull"}, {"summary": "/var is 97% full"})
        await advance(rt, 1)
    [msg] = inbox.messages
    text = next(p for p in msg.iter_parts() if p.get_content_type() == "text/plain").get_content()
    assert "/var is 97% full" in text
    block = text[text.index("recommendations:"):]
    for line in [*LINES, "Check replication lag"]:
        assert line in block
    assert text.count("Rotate logs") == 1


# -- bounds: failing and slow enrichers ------------------------------------------------------------


ALL = """
timeout: 200ms
rules:
  - labels: {team: storage}
    annotations: {owner: "{{ labels.team }}"}
threshold:
  bands: [{over: 0, severity: warning}]
recommendations:
  by_alertname: {DiskFull: ["Extend the volume"]}
host:
  enabled: true
  timeout: 50ms
"""


class FailingEnricher:
    @hookimpl(tryfirst=True)
    def tocsin_enrich(self, runtime, alert):
        raise RuntimeError("plugin bug")


def fake_scan(calls: list[int], delay: float = 0.0):
    def scan(top: int, interval: float) -> dict[str, str]:
        calls.append(top)
        time.sleep(delay)
        n = len(calls)
        return {"host": "this", "host_load": f"{n}.00 {n}.00 {n}.00", "host_top_cpu": f"{n} proc 1.0%",
                "host_top_memory": f"{n} proc 1.0 MiB"}
    return scan


async def test_a_failing_plugin_does_not_stop_the_built_in_enrichers(tmp_path, monkeypatch):
    monkeypatch.setattr(enrich_host, "_scan", fake_scan([]))
    with structlog.testing.capture_logs() as logs:
        async with running(config(ALL), tmp_path, plugins=[FailingEnricher()]) as rt:
            held = await post_one(rt, {"alertname": "DiskFull", "instance": f"{HOSTNAME}:9100"},
                                  {"value": "92", "threshold": "80"})
    assert held.labels["team"] == "storage"
    assert held.labels["severity"] == "warning"
    assert held.annotations["owner"] == "storage"
    assert held.annotations["recommendations"] == "Extend the volume"
    assert held.annotations["host_load"] == "1.00 1.00 1.00"
    # Only the plugin's failure, reported by ingest; none of the built-in enrichers failed.
    [failed] = events(logs, "enricher failed; skipped")
    assert "enricher" not in failed
    assert "plugin" in failed


async def test_an_enricher_that_raises_is_skipped_and_the_others_run(tmp_path, monkeypatch):
    def broken(cfg, alert):
        alert.annotations["half"] = "done"
        raise ValueError("threshold bug")

    monkeypatch.setattr(enrich_threshold, "apply_threshold", broken)
    monkeypatch.setattr(enrich_host, "_scan", fake_scan([]))
    with structlog.testing.capture_logs() as logs:
        async with running(config(ALL), tmp_path) as rt:
            result = await post(rt, {"labels": {"alertname": "DiskFull", "instance": f"{HOSTNAME}:9100"},
                                     "annotations": {"value": "92", "threshold": "80"}})
            held = rt.alerts.get(result.fingerprints[0])
    assert (result.accepted, result.errors) == (1, [])
    assert "severity" not in held.labels
    assert held.labels["team"] == "storage"
    assert held.annotations["recommendations"] == "Extend the volume"
    assert held.annotations["host_load"] == "1.00 1.00 1.00"
    [failed] = events(logs, "enricher failed; skipped")
    assert (failed["enricher"], failed["alertname"]) == ("threshold", "DiskFull")
    assert failed["error"] == "ValueError: threshold bug"
    assert failed["fingerprint"] == fingerprint({"alertname": "DiskFull", "instance": f"{HOSTNAME}:9100",
                                                 "team": "storage"})


async def test_slow_rendering_times_out_keeping_the_labels(tmp_path, monkeypatch):
    real = enrich_rules._render_pending

    def slow(pending, annotations):
        time.sleep(0.6)
        return real(pending, annotations)

    monkeypatch.setattr(enrich_rules, "_render_pending", slow)
    monkeypatch.setattr(enrich_host, "_scan", fake_scan([]))
    with structlog.testing.capture_logs() as logs:
        async with running(config(ALL), tmp_path) as rt:
            held = await post_one(rt, {"alertname": "DiskFull", "instance": f"{HOSTNAME}:9100"},
                                  {"value": "92", "threshold": "80"})
    assert held.labels["team"] == "storage"   # set before rendering
    assert "owner" not in held.annotations    # rendering did not finish in time
    assert held.labels["severity"] == "warning"
    assert held.annotations["recommendations"] == "Extend the volume"
    assert "host_load" in held.annotations
    [slow_log] = events(logs, "enricher timed out; skipped")
    assert (slow_log["enricher"], slow_log["alertname"], slow_log["timeout"]) == ("rules", "DiskFull", 0.2)
    assert slow_log["reason"] == "took too long"


async def test_a_slow_process_scan_times_out_once_and_the_alerts_go_on(tmp_path, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(enrich_host, "_scan", fake_scan(calls, delay=0.6))
    with structlog.testing.capture_logs() as logs:
        async with running(config(ALL), tmp_path) as rt:
            result = await post(rt, *({"labels": {"alertname": name, "instance": f"{HOSTNAME}:9100"}}
                                      for name in ("DiskFull", "CPU", "Memory")))
            held = [rt.alerts.get(result.fingerprints[i]) for i in range(3)]
    assert (result.accepted, result.errors) == (3, [])
    for alert in held:
        assert alert.labels["team"] == "storage"
        assert alert.annotations["owner"] == "storage"
        assert not set(enrich_host.HOST_ANNOTATIONS) & set(alert.annotations)
    assert len(calls) == 1  # later alerts do not queue another scan behind the stuck one
    timed_out = events(logs, "enricher timed out; skipped")
    assert [(e["enricher"], e["alertname"]) for e in timed_out] == [
        ("host", "DiskFull"), ("host", "CPU"), ("host", "Memory")]
    # The first waited its timeout; the others were skipped at once.
    stuck = "an earlier process scan is still running"
    assert [e["reason"] for e in timed_out] == ["took too long", stuck, stuck]


# -- host --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("labels", "expected"), [
    ({"instance": f"{HOSTNAME}:9100"}, True),
    ({"instance": HOSTNAME.upper()}, True),
    ({"instance": f"{HOSTNAME.split('.')[0]}:9100"}, True),
    ({"host": HOSTNAME}, True),
    ({"hostname": HOSTNAME}, True),
    ({"instance": "localhost:9100"}, True),
    ({"instance": "127.0.0.1:9090"}, True),
    ({"instance": "[::1]:9100"}, True),
    ({"instance": "::1"}, True),
    ({"instance": "other-host.invalid:9100"}, False),
    ({"instance": f"{HOSTNAME}x:9100"}, False),
    ({"host": f"{HOSTNAME}:9100"}, False),  # only instance has a port to strip
    ({"job": HOSTNAME}, False),
    ({}, False),
])
def test_which_alerts_are_about_this_host(labels, expected):
    assert enrich_host.about_this_host(labels) is expected


def test_a_fully_qualified_host_name_matches_short_or_full(monkeypatch):
    monkeypatch.setattr(enrich_host.socket, "gethostname", lambda: "Web1.Example.org")
    enrich_host._local_names.cache_clear()
    try:
        assert enrich_host.about_this_host({"instance": "web1.example.org:9100"})
        assert enrich_host.about_this_host({"instance": "web1.example.org.:9100"})
        assert enrich_host.about_this_host({"instance": "WEB1:9100"})
        assert enrich_host.about_this_host({"hostname": "web1"})
        assert not enrich_host.about_this_host({"instance": "web1.example.com:9100"})
        assert not enrich_host.about_this_host({"instance": "web2:9100"})
    finally:
        enrich_host._local_names.cache_clear()


def test_top_lines_are_bounded():
    long = [f"{i} {'x' * 300} 1.0%" for i in range(100)]
    one = enrich_host.top_lines(long, 50).split("\n")
    assert all(len(line) <= enrich_host.MAX_LINE for line in one)
    assert len("\n".join(one)) <= enrich_host.MAX_ANNOTATION
    assert len(one) == 16
    assert one[0].endswith("…")
    assert one[0].startswith("0 xxx")
    assert enrich_host.top_lines(["a", "b", "c"], 2) == "a\nb"
    assert enrich_host.top_lines([], 5) == ""


HOST = """
host:
  enabled: true
  top: 3
  timeout: 5s
"""


async def test_host_annotations_for_this_host_only_and_bounded(tmp_path):
    async with running(config(HOST), tmp_path) as rt:
        result = await post(rt, *({"labels": {"alertname": name, "instance": f"{HOSTNAME}:9100"}}
                                  for name in ("A", "B")),
                            {"labels": {"alertname": "A", "instance": "other-host.invalid:9100"}})
        mine, also_mine, other = (rt.alerts.get(result.fingerprints[i]) for i in range(3))
    assert other.annotations == {}
    assert mine.annotations["host"] == HOSTNAME
    assert re.fullmatch(r"\d+\.\d\d \d+\.\d\d \d+\.\d\d", mine.annotations["host_load"])
    for key, pattern in (("host_top_cpu", r"\d+ .+ \d+\.\d%"), ("host_top_memory", r"\d+ .+ \d+\.\d MiB")):
        lines = mine.annotations[key].split("\n")
        assert 1 <= len(lines) <= 3, lines
        assert all(re.fullmatch(pattern, line) and len(line) <= 120 for line in lines), lines
        assert len(mine.annotations[key]) <= 2000
    # One scan served both alerts of the batch.
    assert enrich_host.host.scans == 1
    assert {k: also_mine.annotations[k] for k in enrich_host.HOST_ANNOTATIONS} == {
        k: mine.annotations[k] for k in enrich_host.HOST_ANNOTATIONS}


async def test_host_matchers_are_an_extra_condition(tmp_path, monkeypatch):
    monkeypatch.setattr(enrich_host, "_scan", fake_scan([]))
    section = HOST + "  matchers: ['severity=~\"critical|error\"']\n"
    async with running(config(section), tmp_path) as rt:
        yes = await post_one(rt, {"alertname": "A", "instance": HOSTNAME, "severity": "critical"})
        no = await post_one(rt, {"alertname": "B", "instance": HOSTNAME, "severity": "warning"})
    assert "host_load" in yes.annotations
    assert no.annotations == {}


async def test_a_repost_copies_the_held_alerts_host_annotations(tmp_path, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(enrich_host, "_scan", fake_scan(calls))
    monkeypatch.setattr(enrich_host, "SCAN_TTL", 0.0)  # no reuse of a recent scan: only copying
    labels = {"alertname": "A", "instance": f"{HOSTNAME}:9100"}
    async with running(config(HOST), tmp_path) as rt:
        first = await post_one(rt, labels)
        again = await post_one(rt, labels)
        assert len(calls) == 1
        assert again.annotations["host_load"] == first.annotations["host_load"] == "1.00 1.00 1.00"
        assert again.annotations["host_top_cpu"] == "1 proc 1.0%"
        another = await post_one(rt, {**labels, "alertname": "B"})  # a new alert is scanned
        assert len(calls) == 2
        assert another.annotations["host_load"] == "2.00 2.00 2.00"
        # Once the held alert has resolved, a new firing gets a fresh snapshot.
        await post(rt, {"labels": labels, "endsAt": "2000-01-01T00:00:00Z"})
        fresh = await post_one(rt, labels)
    assert len(calls) == 3
    assert fresh.annotations["host_load"] == "3.00 3.00 3.00"


# -- order ---------------------------------------------------------------------------------------------


def test_the_entry_points_call_the_enrichers_in_order():
    pm = make_plugins()
    order = [impl.plugin_name for impl in reversed(pm.hook.tocsin_enrich.get_hookimpls())]
    assert [name for name in order if name.startswith("enrich-")] == [
        "enrich-rules", "enrich-threshold", "enrich-recommendations", "enrich-host"]
    assert pm.get_plugin("enrich-rules") is enrich_rules.rules
    assert pm.get_plugin("enrich-host") is enrich_host.host


async def test_each_enricher_sees_what_the_earlier_ones_did(tmp_path, monkeypatch):
    calls: list[str] = []

    def record(name: str, fn):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(enrich_rules, "_render_pending", record("rules", enrich_rules._render_pending))
    monkeypatch.setattr(enrich_threshold, "apply_threshold",
                        record("threshold", enrich_threshold.apply_threshold))
    monkeypatch.setattr(enrich_recommendations, "apply_recommendations",
                        record("recommendations", enrich_recommendations.apply_recommendations))
    monkeypatch.setattr(enrich_host, "_scan", record("host", fake_scan([])))
    section = """
    rules:
      - matchers: ['alertname="ReplicationLag"']
        labels: {category: database}
        annotations: {threshold: "80"}
    threshold:
      bands: [{over: 50, severity: critical}, {over: 0, severity: warning}]
    recommendations:
      by_category: {database: ["Check replication lag"]}
    host:
      enabled: true
      matchers: ['severity="warning"']
      timeout: 60s
    timeout: 60s
    """
    # Generous timeouts: this is about order, and a loaded machine must not skip an enricher.
    async with running(config(section), tmp_path) as rt:
        held = await post_one(rt, {"alertname": "ReplicationLag", "instance": f"{HOSTNAME}:9100"},
                              {"value": "92"})
    assert calls == ["rules", "threshold", "recommendations", "host"]
    assert held.labels["category"] == "database"                     # rules ...
    assert held.annotations["threshold_message"] == "92 (threshold 80, exceeded by 15.0%)"  # ... -> threshold
    assert held.labels["severity"] == "warning"
    assert held.annotations["recommendations"] == "Check replication lag"  # rules -> recommendations
    assert held.annotations["host_load"] == "1.00 1.00 1.00"          # threshold -> host (its matchers)


class SlowEnricher:
    """A third-party enricher that never answers: ingest bounds it too."""

    @hookimpl(tryfirst=True)
    async def tocsin_enrich(self, runtime, alert):
        alert.annotations["slow"] = "started"
        await asyncio.sleep(3600)
        alert.annotations["slow"] = "finished"  # never reached


async def test_a_slow_plugin_enricher_is_cut_off_and_the_alert_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(enrich_host, "_scan", fake_scan([]))
    with structlog.testing.capture_logs() as logs:  # bound: the longest enricher timeout + 1s
        async with running(config(ALL), tmp_path, plugins=[SlowEnricher()]) as rt:
            held = await post_one(rt, {"alertname": "DiskFull", "instance": f"{HOSTNAME}:9100"},
                                  {"value": "92", "threshold": "80"})
    assert held.annotations["slow"] == "started"
    assert held.labels["team"] == "storage"
    assert held.annotations["recommendations"] == "Extend the volume"
    [failed] = events(logs, "enricher failed; skipped")
    assert failed["error"].startswith("TimeoutError: did not finish within")
    assert failed["alertname"] == "DiskFull"
    assert len(failed["fingerprint"]) == 16
