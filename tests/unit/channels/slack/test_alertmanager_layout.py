"""Slack's ``layout: alertmanager``: Alertmanager's keys load, choose Alertmanager's
attachment message, and render into it key for key (the end-to-end comparison with the
real Alertmanager is ``tests/conformance/test_go_templates_e2e.py``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tocsin.channels import ChannelContext
from tocsin.channels.slack import SlackChannel, SlackConfig
from tocsin.config.document import ConfigError
from tocsin.core.models import Alert, Notification
from tocsin.testing import channel_config, make_config

NOW = 1_700_000_000.0
FIRING = Alert(fingerprint="f1", labels={"alertname": "Disk", "severity": "critical", "instance": "db-1"},
               annotations={"summary": "full"}, starts_at=NOW - 60, ends_at=0.0,
               generator_url="http://prom/graph")


def channel(**entry: Any) -> SlackChannel:
    ctx = ChannelContext(session=None, external_url="http://tocsin.example",  # type: ignore[arg-type]
                         global_config=None, receiver="chat", integration="slack[0]")
    return SlackChannel(channel_config(SlackConfig, {"api_url": "http://127.0.0.1:1/x", **entry}), ctx)


def body(ch: SlackChannel, *alerts: Alert, **kw: Any) -> dict[str, Any]:
    n = Notification(receiver="chat", group_key="{}:{}", group_labels={"alertname": "Disk"},
                     alerts=list(alerts or [FIRING]), now=NOW, **kw)
    return json.loads(ch.render(n))


@pytest.mark.parametrize(("entry", "layout"), [
    ({}, "blocks"),
    ({"title": '{{ template "slack.default.title" . }}'}, "blocks"),
    ({"color": "good"}, "alertmanager"),
    ({"fields": [{"title": "t", "value": "v"}]}, "alertmanager"),
    ({"actions": [{"type": "button", "text": "x", "url": "http://x"}]}, "alertmanager"),
    ({"color": "good", "layout": "blocks"}, "blocks"),
    ({"layout": "alertmanager"}, "alertmanager"),
])
def test_the_layout_follows_the_keys(entry, layout):
    assert channel(**entry).config.layout == layout


def test_alertmanagers_defaults():
    got = body(channel(layout="alertmanager"))
    assert got == {"username": "Alertmanager", "attachments": [{
        "title": "[FIRING:1] Disk (db-1 critical)",
        "title_link": "http://tocsin.example/#/alerts?receiver=chat",
        "text": "",
        "fallback": "[FIRING:1] Disk (db-1 critical) | http://tocsin.example/#/alerts?receiver=chat",
        "callback_id": "", "footer": "", "color": "danger", "mrkdwn_in": ["fallback", "pretext", "text"]}]}


def test_every_key_renders():
    ch = channel(channel="#{{ .CommonLabels.severity }}", icon_emoji=":fire:", link_names=True,
                 pretext="{{ .CommonAnnotations.summary }}", image_url="http://img/{{ .Status }}",
                 fields=[{"title": "{{ .Status }}", "value": "v"}, {"title": "b", "short": False}],
                 short_fields=True, mrkdwn_in=["text"],
                 actions=[{"type": "button", "text": "Ack", "name": "ack", "value": "{{ len .Alerts }}",
                           "confirm": {"text": "sure?"}},
                          {"type": "button", "text": "Go", "url": "http://x", "name": "dropped"}])
    got = body(ch)
    assert (got["channel"], got["icon_emoji"], got["link_names"]) == ("#critical", ":fire:", True)
    att = got["attachments"][0]
    assert (att["pretext"], att["image_url"], att["mrkdwn_in"]) == ("full", "http://img/firing", ["text"])
    assert att["fields"] == [{"title": "firing", "value": "v", "short": True},
                             {"title": "b", "value": "", "short": False}]
    assert att["actions"] == [
        {"type": "button", "text": "Ack", "name": "ack", "value": "1", "confirm": {"text": "sure?"}},
        {"type": "button", "text": "Go", "url": "http://x"}]


def test_a_notice_goes_before_the_title_and_the_mention_before_the_text():
    ch = channel(color="x", text="{{ .Status }}", mention="@here")
    att = body(ch, event="acknowledged", actor="alice", note="on it")["attachments"][0]
    assert att["title"] == "Acknowledged by alice: on it · [FIRING:1] Disk (db-1 critical)"
    assert att["text"] == "<!here> firing"


@pytest.mark.parametrize(("entry", "message"), [
    ("actions: [{type: button, text: x}]", r"actions\[0\]\.name: missing name or url"),
    ("actions: [{text: x, url: 'http://x'}]", r"actions\[0\]\.type: missing required field"),
    ("fields: [{value: v}]", r"fields\[0\]\.title: missing required field"),
    ("layout: blocks\n        actions: [{type: button, text: x, url: 'http://x'}]",
     "a list of actions needs layout: alertmanager"),
    ("icon_emoji: fire", "expected an emoji code"),
])
def test_bad_alertmanager_keys_are_named(entry, message):
    text = ("route: {receiver: r}\nreceivers:\n  - name: r\n    slack_configs:\n"
            f"      - api_url: http://127.0.0.1:1/x\n        {entry}\n")
    with pytest.raises(ConfigError, match=message):
        make_config(text)
