"""The wechat channel against a local WeCom API that checks ``gettoken`` and
``message/send`` as WeChat Work documents them
(https://developer.work.weixin.qq.com/document/path/91039 and /90236)."""

from __future__ import annotations

import pytest

from tests.unit.channels.providers import Recorded, alert, context, notification, provider
from tocsin.channels import DeliveryError
from tocsin.channels.wechat import WechatChannel, WechatConfig
from tocsin.testing import ConfigError, channel_config, make_config

SECRET, CORP = "app-secret", "ww0123"
MESSAGE_KEYS = {"touser", "toparty", "totag", "msgtype", "agentid", "text", "markdown", "safe",
                "enable_id_trans", "enable_duplicate_check", "duplicate_check_interval"}


class WeCom:
    """Hands out tokens (``TOK1``, ``TOK2``...) and checks each message's token and shape."""

    def __init__(self) -> None:
        self.issued: list[str] = []
        self.expired: set[str] = set()

    def check(self, r: Recorded) -> list[str]:
        if r.path == "/cgi-bin/gettoken":
            ok = r.method == "GET" and r.query == {"corpid": CORP, "corpsecret": SECRET}
            return [] if ok else [f"gettoken: {r.method} {r.query}"]
        if r.path != "/cgi-bin/message/send" or r.method != "POST":
            return [f"{r.method} {r.path}: unknown API"]
        body = r.json()
        problems = [f"unknown keys {sorted(set(body) - MESSAGE_KEYS)}"] if set(body) - MESSAGE_KEYS else []
        if body.get("msgtype") not in ("text", "markdown") or not body[body["msgtype"]]["content"]:
            problems.append("msgtype and its content")
        if not any(body.get(k) for k in ("touser", "toparty", "totag")):
            problems.append("touser, toparty or totag required")
        return problems

    def respond(self, r: Recorded) -> tuple[int, dict]:
        if r.path == "/cgi-bin/gettoken":
            self.issued.append(f"TOK{len(self.issued) + 1}")
            return 200, {"errcode": 0, "errmsg": "ok", "access_token": self.issued[-1], "expires_in": 7200}
        if r.query.get("access_token") in self.expired:
            return 200, {"errcode": 42001, "errmsg": "access_token expired"}
        return 200, {"errcode": 0, "errmsg": "ok"}


async def run(cfg: dict, *notifications, wecom: WeCom | None = None, glob: dict | None = None,
              expire_after_first: bool = False):
    """Send each notification; the provider, the WeCom and the errors raised."""
    wecom = wecom or WeCom()
    errors = []
    async with provider(wecom.check, wecom.respond) as p, \
            context({"wechat_api_url": f"{p.url}/cgi-bin/", **(glob or {})}) as ctx:
        ch = WechatChannel(channel_config(WechatConfig, cfg), ctx)
        for n in notifications:
            if wecom.issued and expire_after_first:
                wecom.expired.add(wecom.issued[0])
            try:
                await ch.send(n)
            except DeliveryError as exc:
                errors.append(exc)
    return p, wecom, errors


BASE = {"api_secret": SECRET, "corp_id": CORP, "to_user": "alice|bob", "agent_id": "1000002"}


async def test_token_then_message_as_alertmanager_sends_it():
    n = notification(alert(labels={"instance": "db1"}, annotations={"summary": "full"}), receiver="ops")
    p, _, errors = await run(BASE, n)
    assert errors == []
    assert p.problems == [[], []]
    token, send = p.requests
    assert (token.method, token.path) == ("GET", "/cgi-bin/gettoken")
    assert send.query == {"access_token": "TOK1"}
    assert send.json() == {
        "text": {"content": "[FIRING:1] DiskFull (db1)\nfull\nAlerts Firing:\nLabels:\n"
                            " - alertname = DiskFull\n"
                            " - instance = db1\nAnnotations:\n - summary = full\n"
                            "Source: http://prometheus:9090/graph?g0.expr=up\n\n\nAlertmanagerUrl:\n"
                            "http://tocsin.example:9095/#/alerts?receiver=ops"},
        "touser": "alice|bob", "agentid": "1000002", "safe": "0", "msgtype": "text",
        "markdown": {"content": ""},
    }
    assert list(send.json()) == ["text", "touser", "agentid", "safe", "msgtype", "markdown"]


async def test_the_token_is_kept_between_sends():
    p, wecom, errors = await run(BASE, notification(), notification())
    assert errors == []
    send = "/cgi-bin/message/send"
    assert [r.path for r in p.requests] == ["/cgi-bin/gettoken", send, send]
    assert wecom.issued == ["TOK1"]


async def test_an_expired_token_is_dropped_and_the_attempt_retried_with_a_new_one():
    p, wecom, errors = await run(BASE, notification(), notification(), notification(),
                                 expire_after_first=True)
    # 1: TOK1 works; 2: TOK1 expired (42001), retryable; 3: a new token.
    [expired] = errors
    assert expired.retryable is True
    assert "42001" in str(expired)
    assert wecom.issued == ["TOK1", "TOK2"]
    assert p.requests[-1].query == {"access_token": "TOK2"}


async def test_markdown_templated_recipients_and_secrets_from_global():
    cfg = {"to_party": "{{ commonLabels.team }}", "to_tag": "", "agent_id": "7", "message_type": "markdown",
           "message": "**{{ status }}**"}
    glob = {"wechat_api_secret": SECRET, "wechat_api_corp_id": CORP}
    p, _, errors = await run(cfg, notification(alert(labels={"team": "db"})), glob=glob)
    assert errors == []
    assert p.problems == [[], []]
    assert p.requests[1].json() == {"text": {"content": ""}, "toparty": "db", "agentid": "7", "safe": "0",
                                    "msgtype": "markdown", "markdown": {"content": "**firing**"}}


async def test_a_refusal_fails_for_good_with_wechats_message(tmp_path):
    wecom = WeCom()
    wecom.respond = lambda r: (200, {"errcode": 40013, "errmsg": "invalid corpid"})  # type: ignore[method-assign]
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    cfg = {"corp_id": CORP, "to_user": "a", "api_secret_file": str(secret)}
    _, _, [error] = await run(cfg, notification(), wecom=wecom)
    assert error.retryable is False
    assert "40013" in str(error)
    assert "invalid corpid" in str(error)
    assert SECRET not in str(error)


def test_defaults_are_alertmanagers():
    cfg = channel_config(WechatConfig, {})
    assert cfg.send_resolved is False
    assert cfg.message_type == "text"
    g = make_config("route: {receiver: r}\nreceivers: [{name: r}]\n").global_
    assert g.wechat_api_url == "https://qyapi.weixin.qq.com/cgi-bin/"


@pytest.mark.parametrize(("entry", "where", "message"), [
    ("{corp_id: c}", "wechat_configs[0].api_secret", "no WeChat API secret"),
    ("{api_secret: s}", "wechat_configs[0].corp_id", "no WeChat corp id"),
    ("{api_secret: s, corp_id: c, message_type: news}", "wechat_configs[0].message_type", ""),
    ("{api_secret: s, api_secret_file: /f, corp_id: c}", "wechat_configs[0].api_secret_file", "not both"),
])
def test_config_errors_name_the_field(entry, where, message):
    with pytest.raises(ConfigError) as exc:
        make_config(f"route: {{receiver: r}}\nreceivers:\n  - name: r\n    wechat_configs: [{entry}]\n")
    assert where in str(exc.value)
    assert message in str(exc.value)
