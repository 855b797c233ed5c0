"""The webex channel against a local Messages API that checks ``POST /v1/messages`` as
Webex documents it (https://developer.webex.com/docs/api/v1/messages/create-a-message)."""

from __future__ import annotations

import pytest

from tests.unit.channels.providers import Recorded, alert, context, notification, provider
from tocsin.channels import DeliveryError
from tocsin.channels.webex import MAX_MESSAGE_BYTES, WebexChannel, WebexConfig
from tocsin.testing import ConfigError, channel_config, make_config

TOKEN = "bot-access-token"
AUTH = {"authorization": {"credentials": TOKEN}}


def check(r: Recorded) -> list[str]:
    problems = []
    if (r.method, r.path) != ("POST", "/v1/messages"):
        problems.append(f"{r.method} {r.path}: expected POST /v1/messages")
    if r.headers.get("Authorization") != f"Bearer {TOKEN}":
        problems.append("401: the bot's access token as a Bearer token")
    body = r.json()
    if set(body) - {"roomId", "toPersonId", "toPersonEmail", "text", "markdown", "parentId", "files"}:
        problems.append("unknown fields")
    if not body.get("roomId"):
        problems.append("roomId: required without toPersonId")
    if len(body.get("markdown", "").encode()) > 7439:
        problems.append("markdown: at most 7439 bytes")
    return problems


async def test_a_message_as_alertmanager_sends_it():
    n = notification(alert(annotations={"summary": "disk <full>"}),
                     alert(resolved=True, fp="f2", labels={"instance": "b"},
                           annotations={"summary": "disk <full>"}))
    async with provider(check) as webex, context() as ctx:
        cfg = channel_config(WebexConfig, {"api_url": f"{webex.url}/v1/messages", "room_id": "ROOM1",
                                           "http_config": AUTH})
        await WebexChannel(cfg, ctx).send(n)
    assert webex.problems == [[]]
    assert webex.requests[0].json() == {
        # webex.default.message: the common annotations, then each list after a blank line
        "markdown": "disk <full>\n\nAlerts Firing:\nLabels:\n - alertname = DiskFull\nAnnotations:\n"
                    " - summary = disk <full>\nSource: http://prometheus:9090/graph?g0.expr=up\n\n\n\n"
                    "Alerts Resolved:\nLabels:\n - alertname = DiskFull\n - instance = b\nAnnotations:\n"
                    " - summary = disk <full>\nSource: http://prometheus:9090/graph?g0.expr=up\n\n\n",
        "roomId": "ROOM1",
    }


async def test_the_global_url_and_a_message_cut_to_7439_bytes():
    n = notification(alert(annotations={"summary": "€" * 4000}))
    async with provider(check) as webex, context({"webex_api_url": f"{webex.url}/v1/messages"}) as ctx:
        cfg = channel_config(WebexConfig, {"room_id": "R", "http_config": {"bearer_token": TOKEN}})
        await WebexChannel(cfg, ctx).send(n)
    assert webex.problems == [[]]
    text = webex.requests[0].json()["markdown"]
    assert len(text.encode()) <= MAX_MESSAGE_BYTES
    assert len(text.encode()) > MAX_MESSAGE_BYTES - 3
    assert text.endswith("€…")


async def test_a_bad_token_is_not_retried():
    async with provider(check) as webex, context() as ctx:
        cfg = channel_config(WebexConfig, {"api_url": f"{webex.url}/v1/messages", "room_id": "R",
                                           "http_config": {"authorization": {"credentials": "wrong"}}})
        with pytest.raises(DeliveryError) as exc:
            await WebexChannel(cfg, ctx).send(notification())
    assert exc.value.retryable is False
    assert exc.value.status == 400


def test_defaults():
    cfg = channel_config(WebexConfig, {"room_id": "R", "http_config": AUTH})
    assert cfg.send_resolved is True
    g = make_config("route: {receiver: r}\nreceivers: [{name: r}]\n").global_
    assert g.webex_api_url == "https://webexapis.com/v1/messages"


@pytest.mark.parametrize(("entry", "where", "message"), [
    ("{http_config: {authorization: {credentials: x}}}", "webex_configs[0].room_id", "missing room_id"),
    ("{room_id: R}", "webex_configs[0].http_config", "missing http_config.authorization"),
    ("{room_id: R, http_config: {basic_auth: {username: u}}}", "webex_configs[0].http_config",
     "authorization"),
])
def test_config_errors_name_the_field(entry, where, message):
    with pytest.raises(ConfigError) as exc:
        make_config(f"route: {{receiver: r}}\nreceivers:\n  - name: r\n    webex_configs: [{entry}]\n")
    assert where in str(exc.value)
    assert message in str(exc.value)
