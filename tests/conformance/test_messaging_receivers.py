"""Alertmanager 0.25 configs of the messaging receivers (telegram, webex, wechat, sns,
discord) and their globals: every key of Alertmanager's config structs loads in tocsin, and
the same file passes the real ``amtool check-config``; the default titles and messages
render exactly as ``amtool template render`` renders Alertmanager's own default templates."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.peers import require_binary
from tests.unit.channels.providers import alert, notification
from tocsin.channels import amtemplates
from tocsin.channels.data import message_data
from tocsin.notify.templates import Templates, data
from tocsin.testing import make_config

#: Every field of Alertmanager 0.25's TelegramConfig, WebexConfig, WechatConfig, SNSConfig
#: (with Prometheus' SigV4Config) and DiscordConfig, and the globals they inherit. (The
#: templates are text both template languages read alike: tocsin's are Jinja2.)
EVERY_FIELD = """
global:
  telegram_api_url: https://api.telegram.org
  webex_api_url: https://webexapis.com/v1/messages
  wechat_api_url: https://qyapi.weixin.qq.com/cgi-bin/
  wechat_api_secret: global-secret
  wechat_api_corp_id: global-corp
route:
  receiver: all
receivers:
  - name: all
    telegram_configs:
      - send_resolved: false
        http_config: {follow_redirects: true}
        api_url: https://api.telegram.org
        bot_token: "123456:ABC"
        chat_id: -1001234567890
        message: plain message
        disable_notifications: true
        parse_mode: MarkdownV2
    webex_configs:
      - send_resolved: true
        http_config: {authorization: {type: Bearer, credentials: token}}
        api_url: https://webexapis.com/v1/messages
        message: plain message
        room_id: Y2lzY29zcGFyazovL3VzL1JPT00v
    wechat_configs:
      - send_resolved: true
        http_config: {follow_redirects: false}
        api_secret: secret
        corp_id: corp
        message: plain message
        api_url: https://qyapi.weixin.qq.com/cgi-bin/
        to_user: '@all'
        to_party: '1|2'
        to_tag: t
        agent_id: '1000002'
        message_type: markdown
      - to_user: bob
    sns_configs:
      - send_resolved: true
        http_config: {follow_redirects: true}
        api_url: https://sns.eu-west-1.amazonaws.com/
        sigv4:
          region: eu-west-1
          access_key: AKIDEXAMPLE
          secret_key: secret
          profile: default
          role_arn: arn:aws:iam::123456789012:role/alerts
        topic_arn: arn:aws:sns:eu-west-1:123456789012:alerts
        subject: plain subject
        message: plain message
        attributes: {team: ops}
      - phone_number: "+15555550100"
        sigv4: {region: us-east-1}
      - target_arn: arn:aws:sns:us-east-1:123456789012:endpoint/APNS/app/1
    discord_configs:
      - send_resolved: true
        http_config: {follow_redirects: true}
        webhook_url: https://discord.com/api/webhooks/1/token
        title: plain title
        message: plain message
"""


def test_every_field_loads_in_tocsin_and_passes_amtool(tmp_path):
    amtool = require_binary("amtool")
    path = tmp_path / "am.yml"
    path.write_text(EVERY_FIELD)
    checked = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    cfg = make_config(EVERY_FIELD)
    kinds = sorted(i.kind for r in cfg.receivers.values() for i in r.integrations)
    assert kinds == ["discord", "sns", "sns", "sns", "telegram", "webex", "wechat", "wechat"]


DEFAULTS = {
    "SUBJECT": "__subject",
    "ALERTMANAGER_URL": "__alertmanagerURL",
    "TELEGRAM_MESSAGE": "telegram.default.message",
    "WEBEX_MESSAGE": "webex.default.message",
    "SNS_SUBJECT": "sns.default.subject",
    "SNS_MESSAGE": "sns.default.message",
    "WECHAT_MESSAGE": "wechat.default.message",
    "DISCORD_TITLE": "discord.default.title",
    "DISCORD_MESSAGE": "discord.default.message",
}

ODD = {"B": "x<y>&'\"+ ü", "a": "prod api", "job": "api"}
NOTIFICATIONS = {
    "firing and resolved": notification(
        alert(labels=ODD, annotations={"summary": "p99 > 1s", "alertname": "first", "Z": "🔥"}),
        alert(resolved=True, fp="f2", labels={**ODD, "job": "db"}, annotations={"summary": "p99 > 1s"}),
        receiver="ops team.(x)"),
    "nothing beyond the group labels": notification(alert(labels=ODD),
                                                    group={"alertname": "DiskFull", **ODD}),
    "resolved, grouped by nothing": notification(alert(resolved=True), group={}),
}


def default_tmpl() -> list[str]:
    """Debian's amtool reads Alertmanager's templates from a file; upstream's has them built in."""
    shipped = Path("/usr/share/prometheus/alertmanager/default.tmpl")
    return [f"--template.glob={shipped}"] if shipped.exists() else []


@pytest.mark.parametrize("case", sorted(NOTIFICATIONS))
@pytest.mark.parametrize("kind", ["text", "html"])
def test_default_templates_render_as_alertmanagers(tmp_path, case, kind):
    amtool = require_binary("amtool")
    n = NOTIFICATIONS[case]
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(message_data(n, n.alerts, "http://tocsin.example:9095")))
    globs = default_tmpl() or [f"--template.glob={tmp_path / 'none.tmpl'}"]
    (tmp_path / "none.tmpl").write_text("")
    templates = Templates()
    for name, go_name in DEFAULTS.items():
        theirs = subprocess.run(
            [amtool, "template", "render", *globs, f"--template.data={data_file}", f"--template.type={kind}",
             f'--template.text={{{{ template "{go_name}" . }}}}'],
            capture_output=True, text=True, timeout=60, check=True).stdout
        d = data(n, "http://tocsin.example:9095")
        ours = templates.render(getattr(amtemplates, name), d,
                                html=kind == "html")
        assert ours == theirs, (name, kind)
