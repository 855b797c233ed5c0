"""Alertmanager 0.25's own configs load: one that sets every field of the OpsGenie, VictorOps
and Pushover integrations and their globals, and what ``amtool config show`` printed for it
(every default filled in, in Go template syntax)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tocsin.channels.amtemplates import default
from tocsin.channels.email import DEFAULT_HTML
from tocsin.channels.pushover import DEFAULT_PRIORITY
from tocsin.testing import make_config

HERE = Path(__file__).parent / "alertmanager"


def integrations(text: str) -> dict[str, Any]:
    cfg = make_config(text)
    return {spec.name: spec.config for spec in cfg.receivers["all"].integrations}


def test_every_field_loads():
    cfg = make_config((HERE / "oncall.yml").read_text())
    g = cfg.global_
    assert g.http_config is not None
    assert g.http_config.enable_http2 is False
    assert (g.opsgenie_api_url, g.opsgenie_api_key_file) == ("https://eu.opsgenie.example/", "/etc/og-key")
    assert (g.victorops_api_url, g.victorops_api_key) == ("https://vo.example/alert/", "vokey")
    got = integrations((HERE / "oncall.yml").read_text())
    og, vo, po = got["opsgenie[0]"], got["victorops[0]"], got["pushover[0]"]
    assert (og.update_alerts, og.priority, [r.type for r in og.responders]) == (
        True, "P3", ["team", "teams", "user", "escalation", "schedule"])
    assert (vo.message_type, vo.custom_fields, vo.api_key_file) == ("WARNING", {"x": "y"}, "/etc/vo")
    assert (po.priority, po.retry, po.expire, po.html, po.url_title) == ("1", 45, 7200, True, "ut")


def test_what_amtool_config_show_prints_loads_with_tocsins_defaults():
    got = integrations((HERE / "oncall-shown.yml").read_text())
    assert set(got) == {"opsgenie[0]", "opsgenie[1]", "victorops[0]", "victorops[1]", "pushover[0]"}
    og = got["opsgenie[1]"]
    # Alertmanager's defaults load as written (Go, rendered by Alertmanager's templates)...
    assert (og.message, og.description, og.source) == tuple(
        default(f"opsgenie.default.{n}") for n in ("message", "description", "source"))
    vo = got["victorops[1]"]
    assert (vo.state_message, vo.entity_display_name) == (
        default("victorops.default.state_message"), default("victorops.default.entity_display_name"))
    # ... but for VictorOps' monitoring tool, which says who sent the message.
    assert vo.monitoring_tool == "tocsin"
    assert vo.http_config is not None
    assert vo.http_config.enable_http2 is False
    # Set in the file: kept as written.
    assert got["opsgenie[0]"].message == "m"
    assert got["pushover[0]"].priority == "1"


def test_pushovers_default_priority_is_alertmanagers():
    shown = "'{{ if eq .Status \"firing\" }}2{{ else }}0{{ end }}'"
    text = (HERE / "oncall-shown.yml").read_text().replace("priority: \"1\"", f"priority: {shown}")
    assert integrations(text)["pushover[0]"].priority == DEFAULT_PRIORITY


def _every_integration(name: str) -> dict[str, Any]:
    cfg = make_config((HERE / name).read_text())
    return {f"{r}/{spec.name}": spec.config for r, v in cfg.receivers.items() for spec in v.integrations}


def test_every_integration_with_go_templates_loads():
    got = _every_integration("every-integration.yml")
    assert sorted(got) == [
        "chat-quiet/telegram[0]", "chat/discord[0]", "chat/slack[0]", "chat/webex[0]", "hook/webhook[0]",
        "mail/email[0]", "oncall/opsgenie[0]", "oncall/victorops[0]", "pager-v1/pagerduty[0]",
        "pager/pagerduty[0]", "phone/pushover[0]", "phone/sns[0]", "wechat/wechat[0]"]
    slack = got["chat/slack[0]"]
    # Alertmanager's attachment keys: Alertmanager's message.
    assert (slack.layout, slack.fields[0].title, slack.actions[0].type) == (
        "alertmanager", "Severity", "button")
    assert got["pager-v1/pagerduty[0]"].v1
    assert not got["pager/pagerduty[0]"].v1
    assert got["oncall/opsgenie[0]"].message == "{{ .CommonLabels.alertname | title }}"


def test_what_config_show_prints_for_every_integration_loads():
    got = _every_integration("every-integration-shown.yml")
    assert len(got) == 13
    slack = got["chat/slack[0]"]
    assert (slack.layout, slack.fallback, slack.short_fields) == (
        "alertmanager", default("slack.default.fallback"), False)
    assert got["pager-v1/pagerduty[0]"].details["firing"] == \
        '{{ template "pagerduty.default.instances" .Alerts.Firing }}'
    # Alertmanager's HTML mail is tocsin's.
    assert got["mail/email[0]"].html == DEFAULT_HTML
