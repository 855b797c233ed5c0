"""The discord channel's default layout: what Alertmanager 0.25's discord notifier sends
(one embed, ``discord.default.title`` over ``discord.default.message``, red or green), cut
to Discord's limits, with tocsin's mention rules, against the checking fake webhook."""

from __future__ import annotations

import pytest

from tests.unit.channels.discord.fake import fake_discord
from tests.unit.channels.providers import alert, context, notification
from tocsin.channels.discord import FIRING_COLOR, RESOLVED_COLOR, DiscordChannel, DiscordConfig
from tocsin.testing import ConfigError, channel_config, make_config


async def send(n, **entry):
    async with fake_discord() as d, context() as ctx:
        cfg = channel_config(DiscordConfig, {"webhook_url": d.url(), **entry})
        await DiscordChannel(cfg, ctx).send(n)
    [req] = d.requests
    assert d.problems == [[]]
    return req.body


async def test_one_embed_as_alertmanager_sends_it():
    body = await send(notification(alert(labels={"instance": "db1"}, annotations={"summary": "full"})))
    assert body == {
        "content": "",
        "embeds": [{
            "title": "[FIRING:1] DiskFull (db1)",
            "description": "\n\nAlerts Firing:\nLabels:\n - alertname = DiskFull\n - instance = db1\n"
                           "Annotations:\n - summary = full\nSource: http://prometheus:9090/graph?g0.expr=up"
                           "\n\n\n\n",
            "color": FIRING_COLOR,
        }],
        "allowed_mentions": {"parse": []},
    }


async def test_resolved_is_green_and_templates_of_ones_own_are_used():
    n = notification(alert(resolved=True))
    body = await send(n, title="{{ status }}!", message="{{ alerts|length }} alert", username="tocsin")
    assert body["embeds"] == [{"title": "resolved!", "description": "1 alert", "color": RESOLVED_COLOR}]
    assert body["username"] == "tocsin"


async def test_title_and_description_are_cut_to_discords_limits():
    n = notification(alert(labels={"instance": "x" * 300}, annotations={"summary": "y" * 5000}))
    body = await send(n)
    [embed] = body["embeds"]
    assert len(embed["title"]) == 256
    assert embed["title"].endswith("…")
    assert len(embed["description"]) == 4096


async def test_the_mention_pings_only_for_a_critical_firing_alert():
    critical = notification(alert(labels={"severity": "critical"}, annotations={"summary": "@everyone"}))
    body = await send(critical, mention="<@&123456789012345678>")
    assert body["content"] == "<@&123456789012345678>"
    assert body["allowed_mentions"] == {"parse": [], "roles": ["123456789012345678"]}
    body = await send(notification(alert(labels={"severity": "warning"})), mention="@here")
    assert body["content"] == ""
    assert body["allowed_mentions"] == {"parse": []}


async def test_a_lifecycle_notice_leads_the_title():
    body = await send(notification(event="acknowledged", actor="alice", note="on it"))
    assert body["embeds"][0]["title"] == "Acknowledged by alice: on it · [FIRING:1] DiskFull "


def test_title_and_message_are_for_the_alertmanager_layout_only():
    with pytest.raises(ConfigError, match=r"discord_configs\[0\]\.title"):
        make_config("route: {receiver: r}\nreceivers:\n  - name: r\n    discord_configs:\n"
                    "      - {webhook_url: 'http://127.0.0.1:9/x', layout: detailed, title: t}\n")
