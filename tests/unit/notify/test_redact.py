"""Sensitive data is scrubbed from annotations before notifications leave the host."""

from __future__ import annotations

import pytest

from tocsin.config.document import ConfigError
from tocsin.core.clock import FakeClock
from tocsin.notify.redact import RedactConfig, Redactor
from tocsin.testing import RecordingServer, advance, api_client, make_config


@pytest.mark.parametrize(("text", "expected"), [
    ("login failed: password=hunter2 for bob", "login failed: password=<redacted> for bob"),
    ("PASSWD: s3cr3t!", "PASSWD: <redacted>"),
    ("curl -H 'Authorization: Bearer abc.def-ghi_jkl'", "curl -H 'Authorization: <redacted> <redacted>'"),
    ("api_key=AKIAIOSFODNN7EXAMPLE&x=1", "api_key=<redacted>&x=1"),
    ("aws AKIAIOSFODNN7EXAMPLE used", "aws <redacted> used"),
    ("token: xoxb-123456789012-abcdefghij", "token: <redacted>"),
    ("pushed with ghp_abcdefghijklmnopqrstuvwxyz0123456789", "pushed with <redacted>"),
    ("jwt eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4", "jwt <redacted>"),
    ("db postgres://app:s3cr3t@db1:5432/x down", "db postgres://app:<redacted>@db1:5432/x down"),
    ("card 4111 1111 1111 1111 declined", "card <redacted> declined"),
    ("card 4111-1111-1111-1111", "card <redacted>"),
    ("visa 4012888888881881", "visa <redacted>"),
    ("order 4111111111111112 (not a valid card)", "order 4111111111111112 (not a valid card)"),
    ("disk 92% full on /var, 1234567 inodes", "disk 92% full on /var, 1234567 inodes"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- leaked", "<redacted> leaked"),
])
def test_builtin_patterns(text, expected):
    assert Redactor().text(text) == expected


def test_custom_patterns_replacement_and_none():
    r = Redactor(RedactConfig(builtin=[], patterns=[r"\b\d{3}-\d{2}-\d{4}\b"], replacement="***"))
    assert r.text("ssn 123-45-6789, password=x") == "ssn ***, password=x"
    assert not Redactor(RedactConfig(builtin=[])).active


def test_a_bad_pattern_is_a_config_error_with_its_path():
    with pytest.raises(ConfigError) as err:
        make_config("route: {receiver: a}\nreceivers: [{name: a}]\nredact: {patterns: ['(unclosed']}\n")
    assert "redact.patterns[0]: invalid regular expression" in str(err.value)


async def test_notifications_are_scrubbed_and_the_held_alert_is_not(tmp_path):
    server = RecordingServer()
    await server.start()
    try:
        cfg = f"""
route: {{receiver: hook, group_wait: 1s}}
receivers:
  - name: hook
    webhook_configs: [{{url: "{server.url}/hook"}}]
redact:
  patterns: ['customer-\\d+']
"""
        async with api_client(cfg, tmp_path, clock=FakeClock()) as (client, rt):
            resp = await client.post("/api/v2/alerts", json=[{
                "labels": {"alertname": "LoginErrors"},
                "annotations": {"description": "password=hunter2 for customer-42",
                                "summary": "card 4111 1111 1111 1111 refused"}}])
            assert resp.status == 200
            await advance(rt, 1)
            [req] = await server.wait_for(1)
            sent = req.json()["alerts"][0]["annotations"]
            assert sent == {"description": "password=<redacted> for <redacted>",
                            "summary": "card <redacted> refused"}
            assert "hunter2" not in req.body.decode()
            held = (await (await client.get("/api/v2/alerts")).json())[0]["annotations"]
            assert held["description"] == "password=hunter2 for customer-42"
    finally:
        await server.stop()
