"""config.original: a tocsin config as Alertmanager 0.25 writes its own back.

What Alertmanager does with the same file is compared with the real one in
tests/conformance/test_config_show.py; here, what only tocsin has: its own keys left
out, values read from files or the environment shown as set but not revealed.
"""

from __future__ import annotations

import yaml

from tocsin.config.document import load_config_file
from tocsin.plugins import channel_kinds
from tocsin.testing import make_config, make_plugins
from tocsin.web.amv2.config_show import HIDDEN_URL, alertmanager_config, canonical_header, render

BASE = """
route:
  receiver: hooks
  routes:
    - receiver: mail
      matchers: [team="db"]
      escalation_policy: p
      remediations: [restart]
receivers:
  - name: hooks
    webhook_configs:
      - url: https://hooks.example.com/a?token=t0k
        hmac_secret: s3cr3t-hmac
        timeout: 5s
        max_concurrency: 2
        body_template: '{"x": 1}'
      - url_file: /run/secrets/hook-url
    log_configs:
      - level: info
  - name: mail
    email_configs:
      - to: db@example.com
        from: a@example.com
        smarthost: mail.example.com:25
        headers: {x-team: db, subject: Alert}
  - name: unused
    email_configs:
      - to: nobody@example.com
        from: a@example.com
        smarthost: mail.example.com:25
escalation_policies:
  - name: p
    levels: [{after: 5m, receivers: [hooks]}]
remediations:
  - name: restart
    kind: webhook
    url: https://remediate.example.com/run
silences: {allow_negative_only: true}
server: {max_body_bytes: 1000000}
storage: {retention: 24h}
"""


def view(text: str) -> dict:
    return yaml.safe_load(render(text))


def test_only_alertmanager_keys_are_shown():
    doc = view(BASE)
    assert list(doc) == ["global", "route", "receivers", "templates"]
    assert doc["route"]["routes"] == [{"receiver": "mail", "matchers": ['team="db"'], "continue": False}]
    hooks = doc["receivers"][0]
    assert list(hooks) == ["name", "webhook_configs"]  # no log_configs: Alertmanager has no such kind
    assert hooks["webhook_configs"][0] == {
        "send_resolved": True, "http_config": {"follow_redirects": True, "enable_http2": True},
        "url": "https://hooks.example.com/a?token=<secret>", "max_alerts": 0}
    assert "s3cr3t-hmac" not in render(BASE)
    assert "t0k" not in render(BASE)  # a URL's query values are credentials as often as not


def test_a_value_alertmanager_0_25_cannot_hold_in_the_file_shows_as_set():
    hooks = view(BASE)["receivers"][0]["webhook_configs"]
    assert hooks[1]["url"] == HIDDEN_URL == "https://<secret>/"
    text = BASE.replace("  - name: unused", "  - name: d\n    discord_configs:\n"
                        "      - webhook_url_file: /run/discord\n  - name: unused")
    [discord] = view(text)["receivers"][2]["discord_configs"]
    assert discord["webhook_url"] == "<secret>"
    assert "webhook_url_file" not in discord


def test_urls_from_the_environment_show_their_host_only(monkeypatch):
    monkeypatch.setenv("HOOK_URL", "https://hooks.example.com/services/T/B/secret-part")
    monkeypatch.setenv("PD_KEY", "routing-key-value")
    text = """
route: {receiver: r}
receivers:
  - name: r
    webhook_configs:
      - url: ${HOOK_URL}
      - url: https://example.com/$${literal}
    pagerduty_configs:
      - routing_key: ${PD_KEY}
"""
    make_config(text)  # tocsin loads it
    shown = render(text)
    assert "secret-part" not in shown
    assert "routing-key-value" not in shown
    r = yaml.safe_load(shown)["receivers"][0]
    assert [w["url"] for w in r["webhook_configs"]] == [
        "https://hooks.example.com/<secret>", "https://example.com/${literal}"]
    assert r["pagerduty_configs"][0]["routing_key"] == "<secret>"


def test_a_tocsin_value_of_another_shape_is_left_out():
    text = """
global: {slack_api_url: 'https://hooks.slack.com/services/T/B/X'}
route: {receiver: r}
receivers:
  - name: r
    slack_configs:
      - channel: '#ops'
        actions: interactive
        mention: '@here'
"""
    make_config(text)
    [slack] = view(text)["receivers"][0]["slack_configs"]
    assert "actions" not in slack
    assert "mention" not in slack
    assert slack["api_url"] == "<secret>"
    assert slack["channel"] == "#ops"
    assert slack["title"] == '{{ template "slack.default.title" . }}'


def test_email_headers_are_filled_in_for_the_receivers_routes_use():
    mail, unused = view(BASE)["receivers"][1:]
    assert mail["email_configs"][0]["headers"] == {
        "From": "a@example.com", "Subject": "Alert", "To": "db@example.com", "X-Team": "db"}
    assert "headers" not in unused["email_configs"][0]  # Alertmanager builds no unused receiver
    assert canonical_header("content-TYPE") == "Content-Type"
    assert canonical_header("x y") == "x y"


def test_relative_paths_are_joined_to_the_config_directory(tmp_path):
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "tocsin.yml"
    path.write_text("""
global:
  http_config:
    basic_auth: {username: u, password_file: secrets/pw}
templates: [tmpl/*.j2]
route: {receiver: r}
receivers:
  - name: r
    webhook_configs:
      - url: https://example.com/
        http_config: {bearer_token_file: ./tok, tls_config: {ca_file: /abs/ca.pem}}
""")
    config = load_config_file(path, channel_kinds(make_plugins()))
    doc = yaml.safe_load(alertmanager_config(config))
    conf = tmp_path / "conf"
    assert doc["templates"] == [f"{conf}/tmpl/*.j2"]
    assert doc["global"]["http_config"]["basic_auth"]["password_file"] == f"{conf}/secrets/pw"
    http = doc["receivers"][0]["webhook_configs"][0]["http_config"]
    # A bearer token becomes an authorization, as prometheus/common's loader makes it.
    assert http["authorization"] == {"type": "Bearer", "credentials_file": f"{conf}/tok"}
    assert http["tls_config"] == {"ca_file": "/abs/ca.pem", "insecure_skip_verify": False}
    # Without a file (a config given as text), paths stay as written.
    assert view(path.read_text())["templates"] == ["tmpl/*.j2"]


def test_the_text_is_made_once_per_config():
    config = make_config(BASE)
    assert alertmanager_config(config) is alertmanager_config(config)
    other = make_config(BASE.replace("db@example.com", "dba@example.com"))
    assert "dba@example.com" in alertmanager_config(other)
