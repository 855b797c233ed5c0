"""The telegram channel against a local Bot API that checks ``sendMessage`` as Telegram
documents it (https://core.telegram.org/bots/api#sendmessage)."""

from __future__ import annotations

import re

import pytest

from tests.unit.channels.providers import Recorded, alert, context, notification, provider
from tocsin.channels import DeliveryError
from tocsin.channels.telegram import TelegramChannel, TelegramConfig
from tocsin.testing import ConfigError, channel_config, make_config

TOKEN = "123456:AAE-secret_token"
PARSE_MODES = {"HTML", "Markdown", "MarkdownV2"}
FIELDS = {"chat_id", "text", "parse_mode", "disable_web_page_preview", "disable_notification",
          "message_thread_id"}


def check(r: Recorded) -> list[str]:
    problems = []
    m = re.fullmatch(r"/tg/bot(\d+:[\w-]+)/sendMessage", r.path)
    if r.method != "POST" or not m:
        problems.append(f"{r.method} {r.path}: expected POST /bot<token>/sendMessage")
    if r.headers.get("Content-Type") != "application/json":
        problems.append("Content-Type must be application/json")
    body = r.json()
    if set(body) - FIELDS:
        problems.append(f"unknown fields {sorted(set(body) - FIELDS)}")
    if not re.fullmatch(r"-?\d+", str(body.get("chat_id", ""))):
        problems.append("chat_id: an integer")
    if not 1 <= len(body.get("text", "")) <= 4096:
        problems.append("text: 1-4096 characters")
    if "parse_mode" in body and body["parse_mode"] not in PARSE_MODES:
        problems.append("parse_mode: unknown")
    return problems


def config(url: str, **entry: object) -> TelegramConfig:
    return channel_config(TelegramConfig, {"api_url": f"{url}/tg", "bot_token": TOKEN, "chat_id": -1001234,
                                           **entry})


async def test_send_message_as_alertmanager_sends_it():
    n = notification(alert(labels={"instance": "db<1>"}, annotations={"summary": "/var is 97% & <full>"}))
    async with provider(check) as tg, context() as ctx:
        await TelegramChannel(config(tg.url), ctx).send(n)
    [req] = tg.requests
    assert tg.problems == [[]]
    assert req.path == f"/tg/bot{TOKEN}/sendMessage"
    assert req.json() == {
        "chat_id": "-1001234",
        "disable_web_page_preview": "true",
        "parse_mode": "HTML",
        # telegram.default.message, its values HTML-escaped as parse_mode HTML needs
        "text": "\n\nAlerts Firing:\nLabels:\n - alertname = DiskFull\n - instance = db&lt;1&gt;\n"
                "Annotations:\n - summary = /var is 97% &amp; &lt;full&gt;\n"
                "Source: http://prometheus:9090/graph?g0.expr=up\n\n\n\n",
    }
    assert list(req.json()) == sorted(req.json())  # as Go writes a map


async def test_options_plain_text_and_a_template_of_ones_own():
    n = notification(alert(resolved=True, labels={"instance": "db<1>"}))
    async with provider(check) as tg, context() as ctx:
        cfg = config(tg.url, parse_mode="", disable_notifications=True, message_thread_id=7,
                     message="{{ status }} {{ commonLabels.instance }}")
        await TelegramChannel(cfg, ctx).send(n)
    body = tg.requests[0].json()
    assert tg.problems == [[]]
    assert body == {"chat_id": "-1001234", "disable_notification": "true", "disable_web_page_preview": "true",
                    "message_thread_id": "7", "text": "resolved db<1>"}


async def test_a_long_message_is_cut_to_4096_characters():
    n = notification(alert(annotations={"summary": "é" * 5000}))
    async with provider(check) as tg, context() as ctx:
        await TelegramChannel(config(tg.url, parse_mode="MarkdownV2"), ctx).send(n)
    text = tg.requests[0].json()["text"]
    assert tg.problems == [[]]
    assert len(text) == 4096
    assert text.endswith("é…")


async def test_the_global_api_url_and_a_token_file_read_at_each_send(tmp_path):
    token = tmp_path / "token"
    token.write_text("1:first\n")
    async with provider(check) as tg, context({"telegram_api_url": f"{tg.url}/tg"}) as ctx:
        cfg = channel_config(TelegramConfig, {"bot_token_file": str(token), "chat_id": 5})
        ch = TelegramChannel(cfg, ctx)
        await ch.send(notification())
        token.write_text("1:second\n")
        await ch.send(notification())
    assert [r.path for r in tg.requests] == ["/tg/bot1:first/sendMessage", "/tg/bot1:second/sendMessage"]


async def test_a_refusal_is_not_retried_and_the_token_stays_secret():
    async with provider() as tg, context() as ctx:
        tg.answer = (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
        with pytest.raises(DeliveryError) as exc:
            await TelegramChannel(config(tg.url), ctx).send(notification())
        assert exc.value.retryable is False
        assert "chat not found" in str(exc.value)
        assert "secret_token" not in str(exc.value)
        tg.answer = (429, {"ok": False, "error_code": 429, "parameters": {"retry_after": 3}})
        with pytest.raises(DeliveryError) as exc:
            await TelegramChannel(config(tg.url), ctx).send(notification())
        assert exc.value.retryable is True


def test_defaults_are_alertmanagers():
    cfg = channel_config(TelegramConfig, {"bot_token": TOKEN, "chat_id": 1})
    assert cfg.send_resolved is True
    assert cfg.parse_mode == "HTML"
    assert cfg.disable_notifications is False
    g = make_config(ROUTE + "  - name: r\n    telegram_configs: [{bot_token: 'x', chat_id: 1}]\n").global_
    assert g.telegram_api_url == "https://api.telegram.org"


ROUTE = "route: {receiver: r}\nreceivers:\n"


@pytest.mark.parametrize(("entry", "where", "message"), [
    ("{chat_id: 1}", "telegram_configs[0].bot_token", "missing bot token"),
    ("{bot_token: x}", "telegram_configs[0].chat_id", "missing chat_id"),
    ("{bot_token: x, chat_id: 1, parse_mode: Text}", "telegram_configs[0].parse_mode", ""),
    ("{bot_token: x, bot_token_file: /y, chat_id: 1}", "telegram_configs[0].bot_token_file", "not both"),
])
def test_config_errors_name_the_field(entry, where, message):
    with pytest.raises(ConfigError) as exc:
        make_config(ROUTE + f"  - name: r\n    telegram_configs: [{entry}]\n")
    assert where in str(exc.value)
    assert message in str(exc.value)
