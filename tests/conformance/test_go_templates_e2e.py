"""Go templates end to end: the real Alertmanager 0.25 and tocsin run the SAME config
(Go templates in Slack, Telegram and Discord fields, a ``templates:`` file of
``define``\\ s), get the same alerts, and post to recording servers of their own; what
each receiver got must be the same, byte for byte in the templated texts.

Slack entries with Alertmanager's attachment keys send Alertmanager's message
(``layout: alertmanager``), compared whole.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from tests.peers import Alertmanager, Daemon
from tocsin.testing import RecordingServer

pytestmark = pytest.mark.e2e

EXTERNAL = "http://alerting.example:9093"
#: Debian's Alertmanager has no default templates built in; its package ships them here.
DEBIAN_DEFAULTS = Path("/usr/share/prometheus/alertmanager/default.tmpl")

TEMPLATES_FILE = r"""
{{ define "my.title" -}}
[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ len .Alerts.Firing }}{{ end }}]
{{- " " }}{{ .CommonLabels.alertname }} on{{ " " }}
{{- /* the instances */ -}}
{{ range $i, $a := .Alerts }}{{ if $i }}, {{ end }}{{ $a.Labels.instance }}{{ end }}
{{- end }}
{{ define "my.username" }}{{ with .CommonLabels.team }}team-{{ . }}{{ else }}alerts{{ end }}{{ end }}
{{- /* Alertmanager's own names may be defined again: */ -}}
{{ define "__alertmanager" }}AM-compatible{{ end }}
{{ define "my.lines" -}}
{{ range .Alerts -}}
{{ if eq .Status "firing" }}🔥{{ else }}✅{{ end }} *{{ .Labels.instance }}* {{ .Annotations.description }}
{{- with .Annotations.runbook }} <{{ . }}|runbook>{{ end }} since {{ .StartsAt.Format "2006-01-02 15:04:05" }}
{{ end -}}
{{ end }}
"""

CONFIG = """
templates: [{templates}]
route:
  receiver: chat
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: chat
    slack_configs:
      - api_url: {url}/slack-defaults
        send_resolved: true
        color: '{{{{ if eq .Status "firing" }}}}danger{{{{ else }}}}good{{{{ end }}}}'
      - api_url: {url}/slack-custom
        send_resolved: true
        channel: '#{{{{ .CommonLabels.team }}}}'
        username: '{{{{ template "my.username" . }}}}'
        color: >-
          {{{{ if eq .Status "firing" }}}}{{{{ if eq .CommonLabels.severity "critical" }}}}#d00000
          {{{{- else }}}}warning{{{{ end }}}}{{{{ else }}}}good{{{{ end }}}}
        title: '{{{{ template "my.title" . }}}}'
        title_link: '{{{{ .ExternalURL }}}}/#/alerts?receiver={{{{ .Receiver | urlquery }}}}'
        pretext: '{{{{ .CommonAnnotations.summary }}}}'
        text: '{{{{ template "my.lines" . }}}}'
        fields:
          - title: Severity
            value: '{{{{ .CommonLabels.severity | toUpper }}}}'
          - title: Labels
            value: '{{{{ range .CommonLabels.SortedPairs }}}}{{{{ .Name }}}}={{{{ .Value }}}} {{{{ end }}}}'
            short: false
          - title: Count
            value: '{{{{ printf "%d firing, %d resolved" (len .Alerts.Firing) (len .Alerts.Resolved) }}}}'
        short_fields: true
        footer: >-
          {{{{ reReplaceAll "^(\\\\w+)$" "receiver $1" .Receiver }}}}
          via {{{{ template "__alertmanager" . }}}}
        fallback: '{{{{ template "slack.default.fallback" . }}}}'
        callback_id: '{{{{ .GroupLabels.alertname | toLower }}}}'
        actions:
          - type: button
            text: 'Runbook {{{{ .CommonLabels.alertname }}}}'
            url: 'http://wiki/{{{{ .CommonLabels.alertname }}}}'
          - type: button
            text: Acknowledge
            name: ack
            value: '{{{{ .GroupLabels.alertname }}}}'
            style: '{{{{ if eq .Status "firing" }}}}danger{{{{ end }}}}'
            confirm: {{text: 'Acknowledge {{{{ len .Alerts }}}} alerts?', title: '{{{{ .Status | title }}}}'}}
        mrkdwn_in: [text, pretext]
        link_names: true
    telegram_configs:
      - api_url: {url}/tg
        bot_token: '123456:ABC'
        chat_id: 42
        send_resolved: true
        parse_mode: ''
        message: '{{{{ template "my.title" . }}}}{{{{ "\\n" }}}}{{{{ template "my.lines" . }}}}'
      - api_url: {url}/tg-default
        bot_token: '123456:DEF'
        chat_id: 43
        send_resolved: true
    discord_configs:
      - webhook_url: {url}/discord
        send_resolved: true
        title: '{{{{ template "my.title" . }}}}'
        message: '{{{{ template "discord.default.message" . }}}}'
"""

#: Telegram's answer to sendMessage, which Alertmanager's client reads; the others ignore it.
TELEGRAM_OK = b'{"ok":true,"result":{"message_id":1,"date":0,"chat":{"id":42,"type":"group"}}}'


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alerts(start: datetime, end: datetime | None = None) -> list[dict]:
    out = []
    for instance, description, runbook in (("db-1", "sda is <full> & \"quoted\"", "http://wiki/disk"),
                                           ("db-2", "sdb is full", "")):
        alert = {"labels": {"alertname": "DiskFull", "team": "storage", "severity": "critical",
                            "instance": instance},
                 "annotations": {"summary": "Disks are full", "description": description,
                                 **({"runbook": runbook} if runbook else {})},
                 "generatorURL": f"http://prom:9090/graph?g0.expr=disk_{instance}",
                 "startsAt": iso(start)}
        if end is not None:
            alert["endsAt"] = iso(end)
        out.append(alert)
    return out


def texts(server: RecordingServer) -> dict[str, list]:
    """The templated part of what each receiver got, by path, in order (the first request
    of each notification: a retry repeats it)."""
    out: dict[str, list] = {}
    for r in server.requests:
        body = r.json()
        if r.path.startswith("/slack"):
            got = body
        elif r.path.startswith("/tg"):
            got = {"text": body.get("text"), "parse_mode": body.get("parse_mode") or ""}
        else:
            got = [(e.get("title"), e.get("description"), e.get("color")) for e in body["embeds"]]
        seen = out.setdefault(r.path, [])
        if not seen or seen[-1] != got:
            seen.append(got)
    return out


async def post(url: str, batch: list[dict]) -> None:
    async with aiohttp.ClientSession() as s, s.post(f"{url}/api/v2/alerts", json=batch) as r:
        assert r.status == 200, await r.text()


async def wait_paths(server: RecordingServer, paths: int, notifications: int) -> None:
    for _ in range(200):
        got = texts(server)
        if len(got) >= paths and all(len(v) >= notifications for v in got.values()):
            return
        await asyncio.sleep(0.1)


async def test_the_same_texts_as_alertmanager(tmp_path: Path) -> None:
    (tmp_path / "tmpl").mkdir()
    (tmp_path / "tmpl" / "my.tmpl").write_text(TEMPLATES_FILE)
    globs = [str(DEBIAN_DEFAULTS)] if DEBIAN_DEFAULTS.exists() else []  # noqa: ASYNC240 - a stat
    templates = ", ".join(f"'{g}'" for g in [*globs, str(tmp_path / "tmpl" / "*.tmpl")])
    servers = {"alertmanager": RecordingServer(), "tocsin": RecordingServer()}
    for s in servers.values():
        s.body, s.headers = TELEGRAM_OK, {"Content-Type": "application/json"}
        await s.start()
    am = Alertmanager(tmp_path / "am", CONFIG.format(url=servers["alertmanager"].url, templates=templates),
                      args=[f"--web.external-url={EXTERNAL}"])
    (tmp_path / "tocsin.yml").write_text(CONFIG.format(url=servers["tocsin"].url, templates=templates)
                                         + f"server:\n  external_url: {EXTERNAL}\n")
    tocsin = Daemon(tmp_path / "tocsin.yml", tmp_path / "db" / "t.db", tmp_path / "tocsin.log")
    try:
        await am.start()
        await tocsin.start()
        urls = (am.url, tocsin.url)
        # Alerts that started a moment ago: both wait group_wait for the group. An alert
        # older than group_wait is flushed at once by Alertmanager, with or without the
        # other alert of the same POST, as its goroutines happen to run.
        start = datetime.now(UTC) - timedelta(milliseconds=200)
        await asyncio.gather(*(post(url, alerts(start)) for url in urls))
        for s in servers.values():
            await wait_paths(s, 5, 1)
        await asyncio.gather(*(post(url, alerts(start, datetime.now(UTC) - timedelta(milliseconds=500)))
                               for url in urls))
        for s in servers.values():
            await wait_paths(s, 5, 2)
    finally:
        tocsin.stop()
        am.stop()
        for s in servers.values():
            await s.stop()
    theirs, ours = texts(servers["alertmanager"]), texts(servers["tocsin"])
    assert sorted(theirs) == ["/discord", "/slack-custom", "/slack-defaults",
                              "/tg-default/bot123456:DEF/sendMessage", "/tg/bot123456:ABC/sendMessage"]
    assert all(len(v) == 2 for v in theirs.values()), json.dumps(theirs, indent=1)
    for path in sorted(theirs):
        assert ours.get(path) == theirs[path], path
