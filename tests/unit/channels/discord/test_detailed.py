"""The discord channel's ``detailed`` layout (an embed per alert) against a local Discord
webhook that checks every request as Discord documents it, and the channel's entry point."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import aiohttp
import msgspec
import pytest

import tocsin
from tests.unit.channels.discord.fake import WEBHOOK_PATH, fake_discord, validate_message
from tocsin.channels import discord
from tocsin.channels.discord import DiscordConfig
from tocsin.channels.discord.detailed import MAX_EMBED_TOTAL, cut, render, subject, units
from tocsin.core.models import Alert, Notification
from tocsin.core.timefmt import format_ts
from tocsin.testing import (
    ConfigError,
    EventRecorder,
    advance,
    channel_config,
    channel_kind,
    dead_letters,
    installed_plugin,
    instant_retries,
    make_config,
    no_jitter,
    post,
    running,
    serving,
)

RED, ORANGE, BLUE, GREEN = 0xD63232, 0xF2A33A, 0x3A87F2, 0x2EB67D

# -- helpers -----------------------------------------------------------------------------------


def config(entry: str = "", *, url: str | None = None, send_resolved: bool | None = None) -> str:
    lines = [f"webhook_url: {url}"] if url else []
    lines.append("layout: detailed")
    if send_resolved is not None:
        lines.append(f"send_resolved: {str(send_resolved).lower()}")
    lines += entry.strip("\n").splitlines()
    body = "".join(f"        {line}\n" for line in lines[1:])
    return f"""
global:
  resolve_timeout: 1h
route:
  receiver: chat
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: chat
    discord_configs:
      - {lines[0]}
{body}"""


def alert(name: str, **kw: Any) -> dict[str, Any]:
    labels = {"alertname": name, **kw.pop("labels", {})}
    return {"labels": labels, **kw}


# -- the plugin is found through its entry point -----------------------------------------------


def test_found_through_its_entry_point():
    info = installed_plugin("discord")
    assert info.loaded, info.error
    assert info.module == "tocsin.channels.discord"
    assert info.distribution == "tocsin"
    assert channel_kind("discord").config is DiscordConfig
    assert channel_kind("discord").factory is discord.DiscordChannel


def test_tocsin_plugins_list_shows_the_distribution():
    out = subprocess.run([sys.executable, "-m", "tocsin", "plugins", "list"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    [line] = [ln for ln in out.splitlines() if ln.startswith("discord ")]
    assert "tocsin.channels.discord" in line
    assert f"tocsin {tocsin.__version__}" in line
    assert "loaded" in line
    assert "channels: discord" in line


# -- delivery through a full runtime -----------------------------------------------------------


async def test_grouped_notification_then_resolved(tmp_path):
    entry = "username: tocsin alerts\navatar_url: https://example.com/bell.png\nmention: '@here'"
    async with fake_discord() as d:
        async with running(config(entry, url=d.url()), tmp_path) as rt:
            starts = format_ts(rt.clock.now() - 120)
            group = [
                alert("HighLatency", labels={"severity": "critical", "instance": "api-1", "job": "api"},
                      annotations={"summary": "p99 is 2.3s", "description": "Above 1s for 10m.",
                                   "runbook_url": "https://runbooks.example/HighLatency"},
                      startsAt=starts, generatorURL="http://prometheus.example:9090/graph?g0.expr=up"),
                alert("HighLatency", labels={"severity": "warning", "instance": "api-2", "job": "api"},
                      annotations={"summary": "p99 is 1.2s"}, startsAt=starts),
                alert("HighLatency", labels={"severity": "warning", "instance": "api-3", "job": "api"},
                      startsAt=starts),
            ]
            await post(rt, *group)
            await advance(rt, 30)
            assert len(d.requests) == 1  # one message for the group

            ends = format_ts(rt.clock.now())
            await post(rt, *({**a, "endsAt": ends} for a in group))
            await advance(rt, 300)
            assert len(d.requests) == 2

        assert d.problems == [[], []]
        assert all(r.path == WEBHOOK_PATH for r in d.requests)
        first, second = d.bodies

        assert first["content"] == "@here **[FIRING:3] HighLatency (api)**"
        assert first["allowed_mentions"] == {"parse": ["everyone"]}
        assert first["username"] == "tocsin alerts"
        assert first["avatar_url"] == "https://example.com/bell.png"
        titles = [e["title"] for e in first["embeds"]]
        assert titles == ["🔥 [FIRING] HighLatency · api-1", "🔥 [FIRING] HighLatency · api-2",
                          "🔥 [FIRING] HighLatency · api-3"]
        assert [e["color"] for e in first["embeds"]] == [RED, ORANGE, ORANGE]
        e0 = first["embeds"][0]
        assert e0["description"] == "**p99 is 2.3s**\nAbove 1s for 10m."
        assert e0["url"] == "http://prometheus.example:9090/graph?g0.expr=up"
        fields = {f["name"]: f["value"] for f in e0["fields"]}
        assert fields["Severity"] == "critical"
        assert fields["Runbook"] == "[Open runbook](https://runbooks.example/HighLatency)"
        assert fields["Labels"] == "**job**: api"
        assert fields["Started"] == f"<t:{1_700_000_000 - 120}:f> (<t:{1_700_000_000 - 120}:R>)"
        assert e0["timestamp"] == starts
        assert e0["footer"]["text"].startswith("tocsin · chat · ")

        assert second["content"] == "**[RESOLVED] HighLatency (api)**"
        assert second["allowed_mentions"] == {"parse": []}  # nobody is pinged for a resolution
        assert [e["color"] for e in second["embeds"]] == [GREEN] * 3
        assert all(e["title"].startswith("✅ [RESOLVED] HighLatency") for e in second["embeds"])
        lasted = {f["name"]: f["value"] for f in second["embeds"][0]["fields"]}["Lasted"]
        assert lasted == "2m 30s"


async def test_send_resolved_false_sends_no_resolution(tmp_path):
    async with fake_discord() as d:
        async with running(config(url=d.url(), send_resolved=False), tmp_path) as rt:
            await post(rt, alert("A"))
            await advance(rt, 30)
            await post(rt, alert("A", endsAt=format_ts(rt.clock.now())))
            await advance(rt, 300)
        assert len(d.requests) == 1
        assert d.bodies[0]["content"] == "**[FIRING:1] A**"
        # No severity: red, as Alertmanager colours every firing message.
        assert d.bodies[0]["embeds"][0]["color"] == RED


async def test_mention_only_for_critical_and_alert_text_never_pings(tmp_path):
    entry = "mention: '<@123456789012345678> <@&876543210987654321>'"
    async with fake_discord() as d:
        async with running(config(entry, url=d.url()), tmp_path) as rt:
            await post(rt, alert("Warn", labels={"severity": "warning"},
                                 annotations={"summary": "@everyone look <@111111111111111111>"}))
            await advance(rt, 30)
            await post(rt, alert("Crit", labels={"severity": "CRIT"}))
            await advance(rt, 30)
        assert d.problems == [[], []]
        warn, crit = d.bodies
        assert warn["content"] == "**[FIRING:1] Warn (warning)**"
        assert warn["allowed_mentions"] == {"parse": []}
        assert warn["embeds"][0]["description"] == "@everyone look <@111111111111111111>"
        assert crit["content"] == "<@123456789012345678> <@&876543210987654321> **[FIRING:1] Crit (CRIT)**"
        assert crit["allowed_mentions"] == {"parse": [], "users": ["123456789012345678"],
                                            "roles": ["876543210987654321"]}


async def test_label_values_cannot_ping_when_the_mention_is_allowed_to(tmp_path):
    async with fake_discord() as d:
        async with running(config("mention: '@here'", url=d.url()), tmp_path) as rt:
            await post(rt, alert("A", labels={"severity": "critical", "team": "@everyone @here"}))
            await advance(rt, 30)
        body = d.bodies[0]
        assert body["allowed_mentions"] == {"parse": ["everyone"]}
        assert body["content"] == "@here **[FIRING:1] A (critical @\u200beveryone @\u200bhere)**"


async def test_label_values_cannot_inject_markdown_or_links(tmp_path):
    async with fake_discord() as d:
        async with running(config(url=d.url()), tmp_path) as rt:
            await post(rt, alert("A", labels={"instance": "**x** [click](https://evil.example)",
                                              "team": "<@&123456789012345678>"}))
            await advance(rt, 30)
        body = d.bodies[0]
        assert body["embeds"][0]["title"] == r"🔥 [FIRING] A · \*\*x\*\* \[click\](https://evil.example)"
        labels = {f["name"]: f["value"] for f in body["embeds"][0]["fields"]}["Labels"]
        assert labels == r"**team**: \<@&123456789012345678\>"


# -- Discord's limits --------------------------------------------------------------------------


async def test_oversized_annotations_and_labels_are_cut_to_the_limits(tmp_path):
    huge = "x" * 20_000
    many = {f"note_{i:02d}": f"note {i}" for i in range(40)}
    async with fake_discord() as d:
        async with running(config(url=d.url()), tmp_path) as rt:
            await post(rt, alert(
                "Big" + "N" * 400,
                labels={"severity": "warning", "instance": "i" * 500, "blob": "b" * 3000},
                annotations={"summary": "s" * 5000, "description": "🔥" * 5000, "detail": huge, **many},
                generatorURL="http://prometheus.example/" + "g" * 5000,
            ))
            await advance(rt, 30)
        assert d.problems == [[]], d.problems
        body = d.bodies[0]
        [e] = body["embeds"]
        assert units(e["title"]) <= 256
        assert e["title"].endswith("…")
        assert units(e["description"]) <= 4096
        assert e["description"].endswith("…")
        assert "url" not in e  # a link too long to be accepted is left out
        assert len(e["fields"]) <= 25
        assert all(units(f["value"]) <= 1024 for f in e["fields"])
        total = units(e["title"]) + units(e["description"]) + units(e["footer"]["text"]) + sum(
            units(f["name"]) + units(f["value"]) for f in e["fields"])
        assert total <= MAX_EMBED_TOTAL
        names = [f["name"] for f in e["fields"]]
        assert names[:2] == ["Severity", "Started"]
        assert units(body["content"]) <= 2000


async def test_more_than_ten_alerts_nine_embeds_and_a_summary(tmp_path):
    async with fake_discord() as d:
        async with running(config(url=d.url()), tmp_path) as rt:
            await post(rt, *(alert("Many", labels={"instance": f"host-{i:02d}", "severity": "warning"},
                                   annotations={"summary": f"disk {i} full", "description": "d" * 3000})
                             for i in range(15)))
            await advance(rt, 30)
        assert d.problems == [[]], d.problems
        body = d.bodies[0]
        assert body["content"] == "**[FIRING:15] Many (warning)**"
        embeds = body["embeds"]
        assert len(embeds) == 10
        assert [e["title"] for e in embeds[:9]] == [
            f"🔥 [FIRING] Many · host-{i:02d}" for i in range(9)]
        summary = embeds[9]
        assert summary["title"] == "…and 6 more alerts (6 firing)"
        assert summary["description"].splitlines() == [
            f"🔥 **Many** · host-{i:02d}: disk {i} full" for i in range(9, 15)]
        assert summary["color"] == ORANGE


def test_a_long_summary_list_counts_what_it_leaves_out():
    now = 1_700_000_000.0
    alerts = [Alert(fingerprint=f"{i:016x}", labels={"alertname": "A" * 150, "instance": f"h{i}"},
                    starts_at=now - 10, ends_at=0) for i in range(200)]
    n = Notification(receiver="chat", group_key="{}:{}", group_labels={}, alerts=alerts, now=now)
    cfg = channel_config(DiscordConfig, {"webhook_url": "http://127.0.0.1:1/x"})
    body = render(cfg, n)
    assert validate_message(body) == []
    lines = body["embeds"][9]["description"].splitlines()
    assert lines[-1].startswith("…and ")
    assert lines[-1].endswith(" more")
    assert len(lines) - 1 + int(lines[-1].split()[1]) == 191


def test_cut_counts_utf16_and_keeps_escapes_whole():
    assert cut("abc", 3) == "abc"
    assert cut("abcdef", 4) == "abc…"
    assert cut("🔥🔥🔥", 4) == "🔥…"  # never half a surrogate pair
    assert units(cut("🔥" * 100, 7)) <= 7
    assert cut("ab\\*cd", 4) == "ab…"  # no lone backslash escaping the ellipsis
    assert cut("abc", 0) == ""


# -- failures and retries ----------------------------------------------------------------------


async def test_400_is_not_retried_and_the_token_stays_secret(tmp_path):
    events = EventRecorder()
    async with fake_discord() as d:
        d.script = [(400, {}, {"code": 50006, "message": "Cannot send an empty message"})]
        async with running(config(url=d.url()), tmp_path, plugins=[events]) as rt:
            waits = instant_retries(rt)
            await post(rt, alert("A"))
            await advance(rt, 30)
            assert waits.delays == []
            assert len(d.requests) == 1
            (failed,) = events.failed
            assert failed.attempts == 1
            assert "HTTP 400" in failed.error
            assert "SECRETTOKEN" not in failed.error
            assert "<redacted>" in failed.error
            (dead,) = dead_letters(rt)
            assert "SECRETTOKEN" not in dead.error
            # The group's next flush tries again.
            await advance(rt, 300)
            assert len(d.requests) == 2
            assert len(events.sent) == 1


async def test_500_is_retried(tmp_path):
    events = EventRecorder()
    async with fake_discord() as d:
        d.script = [(500, {}, {"message": "500: Internal Server Error", "code": 0})]
        async with running(config(url=d.url()), tmp_path, plugins=[events]) as rt:
            waits = instant_retries(rt)
            await post(rt, alert("A"))
            with no_jitter():
                await advance(rt, 30)
            assert waits.delays == [0.5]
        assert len(d.requests) == 2
        assert d.bodies[0] == d.bodies[1]
        (sent,) = events.sent
        assert (sent.integration, sent.attempts) == ("discord[0]", 2)
        assert events.failed == []


async def test_429_waits_as_long_as_discord_says(tmp_path):
    events = EventRecorder()
    async with fake_discord() as d:
        d.script = [(429, {"Retry-After": "3"},
                     {"message": "You are being rate limited.", "retry_after": 2.5, "global": False})]
        async with running(config(url=d.url()), tmp_path, plugins=[events]) as rt:
            waits = instant_retries(rt)
            await post(rt, alert("A"))
            await advance(rt, 30)
            assert waits.delays == [3.0]
        assert len(d.requests) == 2
        assert [e.attempts for e in events.sent] == [2]


async def test_webhook_url_file_is_read_at_each_send(tmp_path):
    async with fake_discord() as d:
        secret = tmp_path / "discord-url"
        secret.write_text(d.url("/api/webhooks/1/one") + "\n")
        async with running(config(f"webhook_url_file: {secret}"), tmp_path) as rt:
            await post(rt, alert("A"))
            await advance(rt, 30)
            secret.write_text(d.url("/api/webhooks/2/two"))
            await post(rt, alert("B"))
            await advance(rt, 30)
        assert [r.path for r in d.requests] == ["/api/webhooks/1/one", "/api/webhooks/2/two"]


async def test_unreadable_webhook_url_file_is_not_retried(tmp_path):
    events = EventRecorder()
    async with running(config(f"webhook_url_file: {tmp_path / 'missing'}"), tmp_path,
                       plugins=[events]) as rt:
        instant_retries(rt)
        await post(rt, alert("A"))
        await advance(rt, 30)
    (failed,) = events.failed
    assert failed.attempts == 1
    assert "webhook_url_file" in failed.error


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "path", "message"), [
    ("send_resolved: true", "discord_configs[0].webhook_url", "set webhook_url or webhook_url_file"),
    ("webhook_url: http://a/b\nwebhook_url_file: /x", "discord_configs[0].webhook_url_file", "not both"),
    ("webhook_url: discord.com/api/webhooks/1/x", "discord_configs[0].webhook_url", "invalid URL"),
    ("webhook_url: http://a/b\nusername: My Discord Bot", "discord_configs[0].username", "'discord'"),
    ("webhook_url: http://a/b\nusername: '" + "u" * 81 + "'", "discord_configs[0].username", "1 to 80"),
    ("webhook_url: http://a/b\nmention: '@alice'", "discord_configs[0].mention", "cannot mention '@alice'"),
    ("webhook_url: http://a/b\navatar_url: bell.png", "discord_configs[0].avatar_url", "invalid URL"),
    ("webhook_url: http://a/b\ncolour: red", "discord_configs[0].colour", ""),
])
def test_config_errors_point_at_the_field(entry, path, message):
    with pytest.raises(ConfigError) as err:
        make_config(config(entry))
    [problem] = err.value.problems
    assert problem.path.endswith(path), problem
    assert message in problem.message


def test_random_notifications_always_fit():
    """Whatever the alerts hold, Discord accepts the message."""
    import random

    rng = random.Random(20240501)
    alphabet = "ab *_~`|<>[]#-\\\n🔥é\u200b@"
    now = 1_700_000_000.0

    def text(max_len: int) -> str:
        return "".join(rng.choices(alphabet, k=rng.randint(0, max_len)))

    cfg = channel_config(DiscordConfig, {"webhook_url": "http://127.0.0.1:1/x",
                                         "mention": "@here <@123456789012345678>"})
    for _ in range(30):
        alerts = []
        for i in range(rng.choice([1, 2, 5, 10, 11, 30])):
            labels = {"alertname": text(300) or "x", "severity": rng.choice(["critical", "warning", "x"])}
            labels.update({f"l{j}": text(rng.choice([5, 2000])) for j in range(rng.randint(0, 30))})
            annotations = {f"a{j}": text(rng.choice([5, 3000])) for j in range(rng.randint(0, 30))}
            annotations["summary"] = text(rng.choice([10, 5000]))
            annotations["description"] = text(rng.choice([10, 9000]))
            annotations["runbook_url"] = "https://r.example/" + text(50)
            resolved = rng.random() < 0.3
            alerts.append(Alert(fingerprint=f"{i:016x}", labels=labels, annotations=annotations,
                                starts_at=now - 600, ends_at=now - 1 if resolved else 0,
                                generator_url=rng.choice(["", "http://p/" + text(3000)])))
        group = {"alertname": alerts[0].labels["alertname"]}
        n = Notification(receiver=text(100) or "r", group_key="k", group_labels=group, alerts=alerts, now=now)
        body = render(cfg, n)
        assert validate_message(body) == [], body


# -- the daemon as a user runs it --------------------------------------------------------------


@pytest.mark.e2e
async def test_tocsin_serve_loads_the_plugin_and_delivers(tmp_path):
    async with fake_discord() as d:
        text = config("mention: '@here'", url=d.url()).replace("group_wait: 30s", "group_wait: 0s")
        async with serving(text, tmp_path) as url, aiohttp.ClientSession() as s:
            alerts = [{"labels": {"alertname": "Down", "instance": f"h{i}", "severity": "critical"},
                       "annotations": {"summary": f"h{i} is down"}} for i in range(2)]
            async with s.post(f"{url}/api/v2/alerts", json=alerts) as r:
                assert r.status == 200, await r.text()
            [req] = await d.wait_for(1)
    assert d.problems == [[]]
    assert req.body["content"] == "@here **[FIRING:2] Down (critical)**"
    assert [e["description"] for e in req.body["embeds"]] == ["h0 is down", "h1 is down"]


# -- the README --------------------------------------------------------------------------------


def test_readme_example_loads_and_its_sample_is_accepted():
    from pathlib import Path

    readme = (Path(__file__).parents[4] / "docs" / "discord.md").read_text()
    [example] = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    make_config(example)
    sample = re.findall(r"```json\n(.*?)```", readme, re.S)[-1]
    assert validate_message(msgspec.json.decode(sample)) == []


def test_a_lifecycle_notice_says_so_first():
    alert = Alert(fingerprint="f", labels={"alertname": "DiskFull"}, starts_at=1.0, ends_at=0.0)
    n = Notification(receiver="r", group_key="g", group_labels={"alertname": "DiskFull"}, alerts=[alert],
                     now=2.0, event="acknowledged", actor="alice", note="resizing")
    assert subject(n, n.alerts) == "Acknowledged by alice: resizing · [FIRING:1] DiskFull"
    plain = msgspec.structs.replace(n, event="", actor="", note="")
    assert subject(plain, plain.alerts) == "[FIRING:1] DiskFull"
