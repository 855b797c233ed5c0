"""``config.original`` of ``GET /api/v2/status`` and amtool's ``config`` and ``cluster``
commands: tocsin beside the real Alertmanager 0.25, given the same config file.

Alertmanager answers its config loaded and written back (defaults filled in, secrets
as ``<secret>``), and amtool loads that text again with Alertmanager's strict loader.
tocsin must answer the same text, so that every amtool command works against it and
prints what it prints against Alertmanager.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.peers import Alertmanager, Daemon, require_binary
from tocsin.plugins import channel_kinds
from tocsin.testing import make_plugins
from tocsin.web.amv2.config_show import render

pytestmark = pytest.mark.e2e

#: A config both load, with every integration tocsin has that Alertmanager 0.25 has too
#: (more are added below for the kinds tocsin loads), and the rest of Alertmanager's
#: sections: global keys, templates, nested routes, inhibit rules, time intervals.
CONFIG = """
global:
  resolve_timeout: 3m
  smtp_from: alerts@example.com
  smtp_smarthost: mail.example.com:25
  smtp_auth_username: am
  smtp_auth_password: hunter2
  slack_api_url: https://hooks.slack.com/services/T000/B000/XXXX
  pagerduty_url: https://events.example.com/v2/enqueue
  http_config:
    follow_redirects: false
templates: [notes.tmpl]
route:
  receiver: default
  group_by: [alertname, cluster]
  group_wait: 10s
  group_interval: 90s
  repeat_interval: 36h
  routes:
    - matchers: ['severity="critical"', 'team=~"db|web"']
      receiver: pager
      continue: true
      group_wait: 5s
    - match: {team: db}
      match_re: {service: 'pg.*'}
      receiver: mail
      mute_time_intervals: [weekends]
      active_time_intervals: [office]
      routes:
        - receiver: chat
          group_by: ['...']
          matchers: [env!="dev"]
    - receiver: hooks
      matchers: ['{alertname=~"Disk.*", severity!~"info|debug"}']
      repeat_interval: 1d
    - receiver: more
      matchers: [kind="more"]
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname, cluster]
  - source_match: {severity: page}
    target_match_re: {severity: 'warn.*'}
time_intervals:
  - name: office
    time_intervals:
      - times: [{start_time: '09:00', end_time: '17:30'}]
        weekdays: ['monday:friday']
        location: Europe/Berlin
mute_time_intervals:
  - name: weekends
    time_intervals:
      - weekdays: [saturday, sunday]
        months: ['1:3', december]
        days_of_month: ['-2:-1']
        years: ['2024:2030']
receivers:
  - name: default
  - name: pager
    pagerduty_configs:
      - routing_key: 0123456789abcdef0123456789abcdef
        severity: critical
        details: {runbook: 'https://runbooks.example.com/disk'}
        http_config:
          authorization: {credentials: pd-token}
  - name: mail
    email_configs:
      - to: oncall@example.com
        headers: {reply-to: noc@example.com}
      - to: db@example.com
        smarthost: smtp.example.com:587
        auth_password_file: /etc/secret/smtp
        require_tls: false
  - name: chat
    slack_configs:
      - channel: '#db'
        title: Database alert
      - api_url: https://hooks.slack.com/services/T111/B111/YYYY
        channel: '#ops'
        http_config: {bearer_token: slack-token, tls_config: {server_name: hooks.slack.com}}
  - name: hooks
    webhook_configs:
      - url: http://127.0.0.1:9/hook?token=abc
        max_alerts: 10
        http_config:
          basic_auth: {username: hook, password: hunter2}
      - url: https://example.com/alerts
        send_resolved: false
  - name: more
"""

#: The other integrations of Alertmanager 0.25, each added to receiver ``more`` when
#: tocsin loads its kind.
MORE = {
    "discord": "webhook_url: https://discord.com/api/webhooks/1/abc",
    "opsgenie": "api_key: og-key\n  tags: db,disk",
    "victorops": "api_key: vo-key\n  routing_key: ops",
    "pushover": "user_key: uk\n  token: tk\n  retry: 90s",
    "telegram": "bot_token: bt\n  chat_id: -1001234",
    "webex": "room_id: r1\n  http_config: {authorization: {credentials: wx}}",
    "wechat": "api_secret: ws\n  corp_id: corp\n  to_user: '@all'",
    "sns": "topic_arn: arn:aws:sns:us-east-1:123456789012:t\n  sigv4: {region: us-east-1}",
}

#: What amtool config routes test is asked, label sets as amtool takes them.
ROUTE_TESTS = [
    ["alertname=Disk", "severity=critical", "team=db", "service=pg1"],
    ["team=db", "service=pg1", "env=prod"],
    ["team=db", "service=pg1", "env=dev"],
    ["alertname=DiskFull", "severity=warning"],
    ["alertname=DiskFull", "severity=info"],
    ["kind=more"],
    ["nothing=here"],
]


def covered_kinds() -> list[str]:
    """The integrations of :data:`MORE` that tocsin loads (the rest are not built yet)."""
    loaded = channel_kinds(make_plugins())
    return sorted(k for k in MORE if k in loaded)


def config_text() -> str:
    more = "".join(f"    {kind}_configs:\n      - " + MORE[kind].replace("\n", "\n      ") + "\n"
                   for kind in covered_kinds())
    return CONFIG + more


_CREDENTIALS_IN_URL = re.compile(r"(?m)^(\s*(?:- )?url: https?://)([^\s]*)$")


def without_url_credentials(text: str) -> str:
    """Alertmanager's text with the one deviation tocsin documents: a plain URL's password
    as ``xxxxx`` and its query values as ``<secret>``."""
    def mask(m: re.Match[str]) -> str:
        rest = re.sub(r"^([^/@:]*):[^/@]*@", r"\1:xxxxx@", m[2])
        if "?" in rest:
            path, _, query = rest.partition("?")
            rest = path + "?" + "&".join(f"{p.partition('=')[0]}=<secret>" for p in query.split("&"))
        return m[1] + rest
    return _CREDENTIALS_IN_URL.sub(mask, text)


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("amtool"), *args], capture_output=True, text=True, timeout=60)


async def original(url: str) -> str:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/api/v2/status") as r:
        assert r.status == 200
        body = await r.json()
        return str(body["config"]["original"])


@pytest.fixture
async def peers(tmp_path):
    """Alertmanager and tocsin started with the same file (so relative paths resolve alike)."""
    am = Alertmanager(tmp_path / "conf", config_text())
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "notes.tmpl").write_text("notes: plain text, a template to both\n")
    tocsin = Daemon(tmp_path / "conf" / "am.yml", tmp_path / "db" / "t.db", tmp_path / "t.log")
    try:
        await am.start()
        await tocsin.start()
        yield am, tocsin
    finally:
        tocsin.stop()
        am.stop()


async def test_status_config_is_the_text_alertmanager_answers(peers):
    am, tocsin = peers
    print("integrations beside webhook, email, slack, pagerduty:", covered_kinds())
    theirs, ours = without_url_credentials(await original(am.url)), await original(tocsin.url)
    assert yaml.safe_load(ours) == yaml.safe_load(theirs)
    assert ours == theirs
    assert "hunter2" not in ours
    assert "<secret>" in ours


async def test_amtool_config_commands_print_what_they_print_for_alertmanager(peers):
    am, tocsin = peers
    for args in (["config", "show"], ["config"], ["config", "routes"], ["config", "routes", "show"],
                 *(["config", "routes", "test", *labels] for labels in ROUTE_TESTS),
                 ["config", "routes", "test", "--tree", *ROUTE_TESTS[0]],
                 ["config", "routes", "test", "--verify.receivers=pager,chat", *ROUTE_TESTS[0]]):
        theirs = amtool(f"--alertmanager.url={am.url}", *args)
        ours = amtool(f"--alertmanager.url={tocsin.url}", *args)
        expected = (theirs.returncode, without_url_credentials(theirs.stdout))
        assert (ours.returncode, ours.stdout) == expected, args
        assert ours.returncode == 0, (args, ours.stderr)
        assert "Warning" not in ours.stderr, (args, ours.stderr)


async def test_amtool_check_config_accepts_the_file_tocsin_runs(peers):
    _am, tocsin = peers
    result = amtool("check-config", str(tocsin.config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


async def test_amtool_cluster_show(peers):
    """Alertmanager here runs without gossip, as tocsin always does: the same answer."""
    am, tocsin = peers
    for output in ("simple", "extended", "json"):
        theirs = amtool(f"--alertmanager.url={am.url}", "cluster", "show", "-o", output)
        ours = amtool(f"--alertmanager.url={tocsin.url}", "cluster", "show", "-o", output)
        assert ours.returncode == 0, ours.stderr
        assert "Warning" not in ours.stderr
        assert ours.stdout == theirs.stdout


#: A config of every Alertmanager 0.25 integration and most of their fields, which
#: tocsin need not load: its view is rendered from the text and compared with
#: Alertmanager's, so the tables cover what tocsin's channels do not have yet.
EVERY_FIELD = (Path(__file__).parent / "alertmanager_every_field.yml").read_text()


async def test_every_alertmanager_field_is_written_back_as_alertmanager_does(tmp_path):
    am = Alertmanager(tmp_path / "conf", EVERY_FIELD)
    (tmp_path / "conf" / "tmpl").mkdir(parents=True)
    (tmp_path / "conf" / "tmpl" / "a.tmpl").write_text("")
    try:
        await am.start()
        theirs = await original(am.url)
    finally:
        am.stop()
    ours = render(EVERY_FIELD, str(tmp_path / "conf" / "am.yml"))
    assert ours == without_url_credentials(theirs)
    assert "user:pw@" in theirs  # the deviation was exercised
