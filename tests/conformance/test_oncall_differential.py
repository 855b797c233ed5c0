"""OpsGenie, VictorOps and Pushover: Alertmanager 0.25 and tocsin, the same receivers and
the same alerts, each pointed at a recording server of its own; the requests must be the
same (method, path and query, authorization, content type, JSON body; Pushover's
parameters). And what ``amtool config show`` prints for a config of every OpsGenie,
VictorOps and Pushover field loads.

Two differences are allowed (:func:`allowed`): VictorOps' default ``monitoring_tool``
names the sender (``Alertmanager``, ``tocsin``), and a responder's ``type`` is sent in
lower case as Alertmanager checks it (``Team`` is checked as ``team`` but sent as written).
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import aiohttp
import pytest

from tests.peers import Alertmanager, Daemon, require_binary
from tocsin.config.document import GlobalConfig
from tocsin.testing import RecordingServer, make_config

pytestmark = pytest.mark.e2e

EXTERNAL = "http://alerting.example:9093"
OPSGENIE_KEY = "0f3c1d2e-og-key"
VICTOROPS_KEY = "vo-api-key-123"

#: ``{url}`` is the system's recording server; ``{labels}``, ``{severity}`` how its template
#: language says the common labels and the severity label (Go for Alertmanager, Jinja2 for tocsin).
CONFIG = """
global:
  opsgenie_api_key: {og_key}
  victorops_api_url: {url}/vo
route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: oncall
    opsgenie_configs:
      - api_url: {url}/og1/
      - api_url: {url}/og2
        api_key: other-key
        details: {{team: db, sev: '{severity}'}}
        entity: disks
        responders:
          - {{name: ops, type: Team}}
          - {{name: 'a, b,', type: teams}}
          - {{username: alice@example.com, type: user}}
          - {{id: 4513b7ea-3b91-438f-b7e4-e3e54af9147c, type: schedule}}
        actions: 'restart,, page '
        tags: ' {severity},disk '
        note: a note
        priority: P2
        update_alerts: true
    victorops_configs:
      - api_key: {vo_key}
        routing_key: team-db
      - api_key: {vo_key}
        routing_key: team-{severity}
        message_type: WARNING
        entity_display_name: disk of {labels}
        monitoring_tool: prom
        custom_fields: {{runbook: 'http://wiki/disk', sev: '{severity}'}}
"""

GO = {"severity": "{{ .CommonLabels.severity }}", "labels": "{{ .CommonLabels.job }}"}
JINJA = {"severity": "{{ commonLabels.severity }}", "labels": "{{ commonLabels.job }}"}


def config(url: str, templates: dict[str, str]) -> str:
    return CONFIG.format(url=url, og_key=OPSGENIE_KEY, vo_key=VICTOROPS_KEY, **templates)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def requests(server: RecordingServer) -> list[tuple]:
    """What a server received, comparable across systems (in order per path)."""
    out = []
    for r in server.requests:
        body = json.loads(r.body) if r.body else None
        out.append((r.path, r.query, r.method, r.headers.get("Authorization"),
                    r.headers.get("Content-Type", "").split(";")[0], body))
    return sorted(out, key=lambda item: item[0])  # stable: each path's requests keep their order


def allowed(got: list[tuple]) -> list[tuple]:
    """``got`` less the differences allowed (see the module)."""
    for path, _query, _method, _auth, _type, body in got:
        if path.startswith("/vo/") and body.get("monitoring_tool") in ("Alertmanager", "tocsin"):
            body["monitoring_tool"] = "<sender>"
        for responder in body.get("responders", []) if body else []:
            responder["type"] = responder["type"].lower()
    return got


async def post(url: str, alerts: list[dict]) -> None:
    async with aiohttp.ClientSession() as s, s.post(f"{url}/api/v2/alerts", json=alerts) as r:
        assert r.status == 200, await r.text()


def alerts(start: datetime, end: datetime | None = None) -> list[dict]:
    out = []
    for instance, description in (("a", "sda is full"), ("b", "sdb is <full> & \"quoted\"")):
        alert = {"labels": {"alertname": "Disk", "job": "node", "severity": "critical", "instance": instance},
                 "annotations": {"summary": "disk full", "description": description},
                 "generatorURL": f"http://prom:9090/graph?g0.expr=disk{instance}",
                 "startsAt": iso(start)}
        if end is not None:
            alert["endsAt"] = iso(end)
        out.append(alert)
    return out


@pytest.fixture
async def both(tmp_path: Path):
    servers = {"alertmanager": RecordingServer(), "tocsin": RecordingServer()}
    for s in servers.values():
        await s.start()
    am = Alertmanager(tmp_path / "am", config(servers["alertmanager"].url, GO),
                      args=[f"--web.external-url={EXTERNAL}"])
    (tmp_path / "tocsin.yml").write_text(
        config(servers["tocsin"].url, JINJA) + f"server:\n  external_url: {EXTERNAL}\n")
    tocsin = Daemon(tmp_path / "tocsin.yml", tmp_path / "db" / "t.db", tmp_path / "tocsin.log")
    try:
        await am.start()
        await tocsin.start()
        yield {"alertmanager": (am.url, servers["alertmanager"]), "tocsin": (tocsin.url, servers["tocsin"])}
    finally:
        tocsin.stop()
        am.stop()
        for s in servers.values():
            await s.stop()


#: Requests per flush: opsgenie og1 1, og2 3 (create and two updates); victorops 2.
FIRING_REQUESTS = 6


async def test_the_same_requests_as_alertmanager(both):
    # Alerts that started a moment ago: both wait group_wait for the group. An alert older
    # than group_wait is flushed at once by Alertmanager, with or without the other alert
    # of the same POST, as its goroutines happen to run.
    start = datetime.now(UTC) - timedelta(milliseconds=200)
    await asyncio.gather(*(post(url, alerts(start)) for url, _ in both.values()))
    for _, server in both.values():
        await server.wait_for(FIRING_REQUESTS, timeout=20)
    await asyncio.gather(*(post(url, alerts(start, datetime.now(UTC))) for url, _ in both.values()))
    for _, server in both.values():
        await server.wait_for(FIRING_REQUESTS + 4, timeout=20)
    await asyncio.sleep(3)  # anything more that would come

    am, ours = (allowed(requests(server)) for _, server in both.values())
    assert ours == am

    paths = [(path, query, method) for path, query, method, *_ in am]
    assert len(paths) == FIRING_REQUESTS + 4, paths
    # What the comparison covered: every kind of request.
    create = next(body for path, _q, _m, _a, _t, body in am if path == "/og2/v2/alerts")
    assert create["responders"] == [
        {"name": "ops", "type": "team"}, {"name": "a", "type": "team"}, {"name": " b", "type": "team"},
        {"username": "alice@example.com", "type": "user"},
        {"id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c", "type": "schedule"},
    ]
    assert create["tags"] == ["critical", "disk"]
    assert {p for p, _q, _m in paths if "/close" in p} == {
        f"/og1/v2/alerts/{create['alias']}/close", f"/og2/v2/alerts/{create['alias']}/close"}
    assert [b["message_type"] for p, _q, _m, _a, _t, b in am if p == "/vo/vo-api-key-123/team-critical"] \
        == ["WARNING", "RECOVERY"]


#: Globals ``config show`` always prints, of integrations built apart from these: left out
#: only while tocsin does not know them.
OTHER_GLOBALS = {"wechat_api_url", "telegram_api_url", "webex_api_url"}
EVERY_FIELD = Path(__file__).parents[1] / "unit" / "config" / "alertmanager" / "oncall.yml"


async def test_what_amtool_config_show_prints_loads(tmp_path):
    amtool = require_binary("amtool")
    am = Alertmanager(tmp_path / "am", EVERY_FIELD.read_text())
    await am.start()
    try:
        shown = subprocess.run([amtool, f"--alertmanager.url={am.url}", "config", "show"],
                               capture_output=True, text=True, check=True, timeout=30).stdout
    finally:
        am.stop()
    known = set(GlobalConfig.__struct_fields__)
    lines = [line for line in shown.splitlines()
             if not ((m := re.match(r"  (\w+): ", line)) and m[1] in OTHER_GLOBALS - known)]
    assert "{{ template \"opsgenie.default.message\" . }}" in shown
    cfg = make_config("\n".join(lines))
    kinds = sorted(spec.name for spec in cfg.receivers["all"].integrations)
    assert kinds == ["opsgenie[0]", "opsgenie[1]", "pushover[0]", "victorops[0]", "victorops[1]"]


# -- Pushover: Alertmanager 0.25 sends to api.pushover.net only, so it is sent through a proxy
# on 127.0.0.1 that answers CONNECT itself, as api.pushover.net with a certificate made here.

PUSHOVER_HOST = "api.pushover.net"

PUSHOVER = """
route:
  receiver: phone
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: phone
    pushover_configs:
      - user_key: uQiRzpo4DXghDmr9QzzfQu27cmVRsG
        token: azGDORePK8gMaC0QOYAMyEEuzJnyUi
{where}
      - user_key: uQiRzpo4DXghDmr9QzzfQu27cmVRsG
        token: azGDORePK8gMaC0QOYAMyEEuzJnyUi
        url_title: Runbook
        sound: siren
        priority: '1'
        retry: 45s
        expire: 2h
        html: true
        message: '{message}'
{where}
"""


class PushoverProxy:
    """An HTTP proxy on 127.0.0.1 that takes ``CONNECT api.pushover.net:443`` and is
    api.pushover.net behind it: it records each request and answers as Pushover does."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.problems: list[str] = []
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line, _ = await self._head(reader)
            if line != f"CONNECT {PUSHOVER_HOST}:443 HTTP/1.1":
                self.problems.append(f"not a CONNECT to {PUSHOVER_HOST}: {line!r}")
                return
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await writer.start_tls(self.context)
            line, headers = await self._head(reader)
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            method, target, _ = line.split(" ", 2)
            self.requests.append((method, target, headers, body))
            answer = b'{"status": 1, "request": "647d2300-702c-4b38-8b2f-d56326ae460b"}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))
            await writer.drain()
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            self.problems.append(f"{type(exc).__name__}: {exc}")
        finally:
            writer.close()

    @staticmethod
    async def _head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
        lines = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        headers = dict(h.split(": ", 1) for h in lines[1:] if h)
        return lines[0], {k.lower(): v for k, v in headers.items()}


def pushover_parameters(method: str, path: str, query: str, content_type: str, body: bytes) -> tuple:
    """Alertmanager sends the parameters as a query (sorted by name), tocsin as a form body:
    either way, the same parameters."""
    params = parse_qsl(query, keep_blank_values=True) + (
        parse_qsl(body.decode(), keep_blank_values=True)
        if content_type == "application/x-www-form-urlencoded" else [])
    return method, path, sorted(params)


async def test_the_same_pushover_messages_as_alertmanager(tmp_path):
    openssl = require_binary("openssl")
    cert, key = tmp_path / "pushover.pem", tmp_path / "pushover.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
                    "-subj", f"/CN={PUSHOVER_HOST}", "-addext", f"subjectAltName=DNS:{PUSHOVER_HOST}"],
                   check=True, capture_output=True, timeout=30)
    proxy, server = PushoverProxy(cert, key), RecordingServer()
    await proxy.start()
    await server.start()
    # Alertmanager through the proxy; tocsin to the recording server (its api_url).
    through_proxy = f"        http_config: {{proxy_url: '{proxy.url}', tls_config: {{ca_file: '{cert}'}}}}"
    am = Alertmanager(tmp_path / "am", PUSHOVER.format(message="{{ .CommonLabels.job }} <b>&</b>",
                                                       where=through_proxy),
                      args=[f"--web.external-url={EXTERNAL}"])
    (tmp_path / "tocsin.yml").write_text(
        PUSHOVER.format(message="{{ commonLabels.job }} <b>&</b>",
                        where=f"        api_url: {server.url}/1/messages.json")
        + f"server:\n  external_url: {EXTERNAL}\n")
    tocsin = Daemon(tmp_path / "tocsin.yml", tmp_path / "db" / "t.db", tmp_path / "tocsin.log")
    try:
        await am.start()
        await tocsin.start()
        # Started a moment ago, so both wait group_wait (as in the test above: an alert older
        # than that, Alertmanager may flush without its sibling of the same POST).
        start = datetime.now(UTC) - timedelta(milliseconds=200)
        urls = (am.url, tocsin.url)
        await asyncio.gather(*(post(url, alerts(start)) for url in urls))
        await server.wait_for(2, timeout=20)
        await asyncio.gather(*(post(url, alerts(start, datetime.now(UTC))) for url in urls))
        await server.wait_for(4, timeout=20)
        await asyncio.sleep(3)  # anything more that would come
    finally:
        tocsin.stop()
        am.stop()
        await proxy.stop()
        await server.stop()
    assert proxy.problems == []
    theirs = sorted(pushover_parameters(m, t.split("?")[0], t.partition("?")[2], h.get("content-type", ""), b)
                    for m, t, h, b in proxy.requests)
    ours = sorted(pushover_parameters(r.method, r.path, r.query, r.headers.get("Content-Type", ""), r.body)
                  for r in server.requests)
    assert len(theirs) == 4
    assert ours == theirs
    assert all(not r.query for r in server.requests)  # tocsin keeps the token out of the URL
