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


def _notification(annotations: list[dict[str, str]], note: str = ""):
    from tocsin.core.models import Alert, Notification

    alerts = [Alert(fingerprint=str(i), labels={"alertname": "A", "i": str(i)}, annotations=a,
                    starts_at=0.0, ends_at=0.0, generator_url="", updated_at=0.0)
              for i, a in enumerate(annotations)]
    return Notification(receiver="r", group_key="g", group_labels={}, alerts=alerts, now=0.0, note=note)


async def test_paced_redaction_redacts_as_at_once_and_hands_the_loop_back():
    from tocsin.core.pacing import Pacer
    from tocsin.notify.redact import LONG_TEXT

    long = ("filler text " * (LONG_TEXT // 12 + 1)) + " password=hunter2 " + "a." * 4000
    n = _notification([{"d": "password=x"}, {"d": "fine"}, {"d": long, "e": "token: xoxb-123456789012-abc"}],
                      note="api_key=AKIAIOSFODNN7EXAMPLE")
    r = Redactor()
    pacer = Pacer(every=0.0)  # hands the loop back at every tick
    paced = await r.notification_paced(n, pacer)
    assert paced == r.notification(n)
    assert paced.alerts[2].annotations["d"].count("<redacted>") == 1
    # Once per rule on the long text, and once per annotation and for the note.
    assert pacer.yields >= 7 + 4 + 1


async def test_a_small_notification_is_redacted_at_once_and_a_larger_one_paced():
    from tocsin.core.pacing import Pacer
    from tocsin.notify.redact import SMALL_GROUP

    r = Redactor()
    small = _notification([{"d": "password=x"}] * SMALL_GROUP, note="token: xoxb-123456789012-abc")
    pacer = Pacer(every=0.0)
    assert await r.notification_paced(small, pacer) == r.notification(small)
    assert pacer.yields == 0  # a few short annotations: no turn of the loop given up
    larger = _notification([{"d": "password=x"}] * (SMALL_GROUP + 1))
    pacer = Pacer(every=0.0)
    assert await r.notification_paced(larger, pacer) == r.notification(larger)
    assert pacer.yields >= SMALL_GROUP + 1


async def test_paced_redaction_keeps_what_it_does_not_change():
    n = _notification([{"d": "nothing secret"}])
    r = Redactor()
    assert await r.notification_paced(n) is n
    assert await r.alert_paced(n.alerts[0]) is n.alerts[0]
    off = Redactor(RedactConfig(builtin=[]))
    secret = _notification([{"d": "password=x"}])
    assert await off.notification_paced(secret) is secret


def test_an_own_pattern_that_backtracks_without_end_is_stopped_and_the_value_replaced_whole():
    """``(x+x+)+y`` on thousands of x's never finishes with Python's re; run with its time
    budget it is stopped, and the value it could not finish goes out as the mark alone."""
    from tocsin.notify.redact import PATTERN_BUDGET, RedactConfig, Redactor

    redactor = Redactor(RedactConfig(builtin=[], patterns=[r"(x+x+)+y", r"secret=\w+"]))
    assert redactor.text("x" * 5000) == "<redacted>"
    # The same patterns still redact what they match on ordinary text.
    assert redactor.text("xxy and secret=abc") == "<redacted> and <redacted>"
    assert PATTERN_BUDGET <= 0.05


async def test_own_patterns_are_paced_one_at_a_time():
    from tocsin.core.pacing import Pacer
    from tocsin.notify.redact import RedactConfig, Redactor

    redactor = Redactor(RedactConfig(builtin=[], patterns=[r"(x+x+)+y"] * 3))
    pacer = Pacer(every=0.0)
    assert await redactor.text_paced("x" * 3000, pacer) == "<redacted>"
    assert pacer.yields >= 3


def test_remembered_texts_give_the_same_answer_and_the_memory_stays_bounded(monkeypatch):
    from tocsin.notify import redact

    monkeypatch.setattr(redact, "MEMO_SIZE", 4)
    r = Redactor()
    secret = "login with password=hunter2 now"
    first = r.text(secret)
    assert first == "login with password=<redacted> now"
    assert r.text(secret) == first  # remembered: the same answer
    for i in range(10):
        assert r.text(f"plain text {i}") == f"plain text {i}"
        assert len(r._memo) <= 4
    assert r.text(secret) == first  # forgotten and redacted again: still the same
    # The operator's own patterns are not remembered (each has a time budget of its own).
    own = Redactor(RedactConfig(patterns=["secret-[0-9]+"]))
    assert own.text("a secret-42 b") == "a <redacted> b"
    assert own._memo == {}


TRICKY = [
    "plain text, nothing to hide", "Authorization: Bearer abcdefgh12345678", "BEARER  abcdefghij==",
    "api_key=abc123", "API-KEY: x", "accesskey = zzz", "my_secret_value: s3cr3t", "TOKEN=t", "auth:x",
    "ghp_" + "a" * 36, "github_pat_" + "b" * 30, "xoxb-1234567890-abc", "AKIA" + "A" * 16, "ASIA" + "B" * 16,
    "eyJhbGciOiJI.eyJzdWIiOiIx.SflKxwRJSMeK",
    "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----",
    "password=hunter2", "PASSWD: x", "pwd=1", "pa\u017f\u017fword=x", "pass = y", "https://user:pw@host/path",
    "ftp://a:b@c", "card 4111 1111 1111 1111 ok", "4111-1111-1111-1111", "12345678901234567890",
    "order 1234567890123", "sum 4111111111111111", "K\u212aey", "\u017fecret=1", "tok\u0130en", "",
    "Api_Key=1", "x-Auth-Token: y", "PWD=2", "SeCrEt: 3", "gho_" + "c" * 36, "a ghz_ b", "BEGIN", "http://x",
    "4111 1111 1111 111", "41111111111111111111111",
]


@pytest.mark.parametrize("builtin", [["tokens", "passwords", "card_numbers"], ["tokens"], ["passwords"],
                                     ["card_numbers"], []])
def test_the_look_before_the_rules_skips_only_texts_no_rule_changes(builtin):
    fast = Redactor(RedactConfig(builtin=builtin))
    slow = Redactor(RedactConfig(builtin=builtin))
    slow._untouched = None  # every rule run on every text
    for text in TRICKY:
        assert fast.text(text) == slow.text(text), text
