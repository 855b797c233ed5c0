"""The Alertmanager API v2's answers, tocsin beside the real Alertmanager 0.25.

Both get the same config and the same requests; their answers are compared as a client
(amtool, Grafana, scripts) sees them: status code, body shape and text, and for silence
queries and alert receivers the content.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.peers import Alertmanager, Daemon, require_binary
from tocsin.testing import wait_until

pytestmark = pytest.mark.e2e

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['team="db"']
      receiver: zeta
      continue: true
    - matchers: ['team="db"']
      receiver: alpha
      continue: true
    - matchers: ['severity="page"']
      receiver: alpha
receivers:
  - name: default
  - name: zeta
  - name: alpha
"""


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Peer:
    def __init__(self, name: str, url: str, session: aiohttp.ClientSession) -> None:
        self.name, self.url, self.session = name, url, session

    async def ask(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        kw: dict[str, Any] = {}
        if body is not None:
            kw["data"] = body if isinstance(body, str) else json.dumps(body)
            kw["headers"] = {"Content-Type": "application/json"}
        async with self.session.request(method, self.url + path, **kw) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text) if text.strip() else None
            except ValueError:
                return r.status, text

    async def silence(self, *matchers: tuple[str, str, bool, bool], comment: str) -> int:
        now = datetime.now(UTC)
        body = {"matchers": [{"name": n, "value": v, "isRegex": rx, "isEqual": eq}
                             for n, v, rx, eq in matchers],
                "startsAt": iso(now), "endsAt": iso(now + timedelta(hours=1)), "createdBy": "t",
                "comment": comment}
        status, _ = await self.ask("POST", "/api/v2/silences", body)
        return status


@pytest.fixture
async def peers(tmp_path):
    am = Alertmanager(tmp_path / "am", CONFIG)
    (tmp_path / "tocsin.yml").write_text(CONFIG + "silences:\n  allow_negative_only: true\n")
    tocsin = Daemon(tmp_path / "tocsin.yml", tmp_path / "db" / "t.db", tmp_path / "t.log")
    try:
        await am.start()
        await tocsin.start()
        async with aiohttp.ClientSession() as session:
            yield Peer("alertmanager", am.url, session), Peer("tocsin", tocsin.url, session)
    finally:
        tocsin.stop()
        am.stop()


def shape(body: Any) -> Any:
    """What a client decodes: a string, or the keys of an object."""
    if isinstance(body, dict):
        return sorted(body)
    return "string" if isinstance(body, str) else type(body).__name__


SOON, LATER = iso(datetime.now(UTC) + timedelta(days=1)), iso(datetime.now(UTC) + timedelta(days=2))
UNKNOWN = "0f9e3a14-0000-4000-8000-000000000000"


def silence_body(**changes: Any) -> dict[str, Any]:
    return {"matchers": [{"name": "a", "value": "b", "isRegex": False, "isEqual": True}], "startsAt": SOON,
            "endsAt": LATER, "createdBy": "t", "comment": "c"} | changes


#: (method, path, body, compare the text too)
ERRORS = [
    ("GET", "/api/v2/nothing", None, True),
    ("POST", "/api/v2/status", None, True),
    ("GET", "/api/v2/silences?filter=foo", None, False),
    ("GET", '/api/v2/silences?filter={alertname="K"}', None, False),
    ("GET", '/api/v2/alerts?filter={alertname="K"}', None, False),
    ("GET", "/api/v2/alerts?receiver=(", None, False),
    ("GET", "/api/v2/silence/notauuid", None, True),
    ("DELETE", "/api/v2/silence/notauuid", None, True),
    ("POST", "/api/v2/silences", silence_body(id=UNKNOWN), True),
    ("POST", "/api/v2/silences", silence_body(matchers=[]), True),
    ("POST", "/api/v2/silences", {k: v for k, v in silence_body().items() if k != "comment"}, True),
    ("POST", "/api/v2/silences", silence_body(matchers=[{"name": "a", "value": ".*", "isRegex": True,
                                                         "isEqual": True}]), True),
    ("POST", "/api/v2/silences", silence_body(endsAt=SOON), True),
    ("POST", "/api/v2/silences", silence_body(startsAt=iso(datetime.now(UTC) - timedelta(days=2)),
                                              endsAt=iso(datetime.now(UTC) - timedelta(days=1))), True),
    ("POST", "/api/v2/silences", "notjson", False),
    ("POST", "/api/v2/alerts", [{"annotations": {}}], True),
    ("POST", "/api/v2/alerts", [{"labels": {}}], False),
    ("POST", "/api/v2/alerts", {"labels": {"a": "b"}}, False),
    ("POST", "/api/v2/alerts", "notjson", False),
    ("POST", "/api/v2/alerts", [{"labels": {"0bad": "b"}}], False),
]


async def test_errors_come_in_alertmanagers_shapes(peers):
    am, ours = peers
    differences = []
    for method, path, body, same_text in ERRORS:
        theirs, mine = await am.ask(method, path, body), await ours.ask(method, path, body)
        if theirs[0] != mine[0] or shape(theirs[1]) != shape(mine[1]) or (same_text and theirs[1] != mine[1]):
            differences.append((method, path, theirs, mine))
    assert differences == []


async def test_silence_filters_compare_matchers_as_written(peers):
    ours = peers[1]
    for peer in peers:
        assert await peer.silence(("inst", "1|3", True, True), comment="regex") == 200
        assert await peer.silence(("inst", "1", False, True), comment="equal") == 200
        assert await peer.silence(("inst", "2", False, False), ("job", "x", False, True),
                                  comment="not") == 200
    for filters in (['inst=~"1|3"'], ['inst=~"1.*"'], ['inst="1"'], ['inst!="2"'], ['inst="3"'],
                    ['inst!="2"', 'job="x"'], ['job=~"x"'], []):
        query = "".join(f"&filter={f}" for f in filters).lstrip("&")
        found = []
        for peer in peers:
            status, body = await peer.ask("GET", f"/api/v2/silences?{query}")
            assert status == 200, (peer.name, body)
            found.append(sorted(s["comment"] for s in body))
        assert found[0] == found[1], filters
    _, regex = await ours.ask("GET", '/api/v2/silences?filter=inst=~"1|3"')
    assert [s["comment"] for s in regex] == ["regex"]


async def test_negative_only_silence_accepted_with_the_flag(peers):
    for peer in peers:
        assert await peer.silence(("env", "prod", False, False), comment="negative") == 200
        assert await peer.silence(("env", "p.*", True, False), comment="negative regex") == 200
        # A negative matcher beside one that matches the empty string is accepted too ...
        assert await peer.silence(("env", "", False, True), ("x", "y", False, False), comment="mixed") == 200
        # ... and both still refuse what matches the empty string by Alertmanager's own test.
        assert await peer.silence(("env", "", False, True), ("x", "y|", True, True), comment="empty") == 400


async def active(peer: Peer) -> None:
    """Until Alertmanager has processed every alert (it shows them "unprocessed" before)."""
    async def processed() -> bool:
        _, body = await peer.ask("GET", "/api/v2/alerts")
        return all(a["status"]["state"] != "unprocessed" for a in body)

    await wait_until(processed, 10, 0.05, message="Alertmanager to process the alerts")


async def test_boolean_query_parameters_read_as_alertmanager_reads_them(peers):
    now = datetime.now(UTC)
    alert = [{"labels": {"alertname": "Bool", "team": "db"}, "startsAt": iso(now)}]
    for peer in peers:
        assert (await peer.ask("POST", "/api/v2/alerts", alert))[0] == 200
    await active(peers[0])
    for value in ("1", "0", "yes", "no", "TRUE", "false", "x", ""):
        answers = []
        for peer in peers:
            status, body = await peer.ask("GET", f"/api/v2/alerts?active={value}")
            answers.append((status, len(body) if isinstance(body, list) else body))
        assert answers[0] == answers[1], value


async def test_receivers_in_the_order_alertmanager_gives(peers):
    now = datetime.now(UTC)
    alert = [{"labels": {"alertname": "Order", "team": "db", "severity": "page"}, "startsAt": iso(now)}]
    for peer in peers:
        assert (await peer.ask("POST", "/api/v2/alerts", alert))[0] == 200
    seen = []
    for peer in peers:
        _, alerts = await peer.ask("GET", "/api/v2/alerts")
        _, groups = await peer.ask("GET", "/api/v2/alerts/groups")
        seen.append(([r["name"] for r in alerts[0]["receivers"]],
                     sorted((g["receiver"]["name"], [r["name"] for r in g["alerts"][0]["receivers"]])
                            for g in groups)))
    assert seen[0] == seen[1]


async def test_version_is_the_alertmanager_api_tocsin_speaks(peers):
    am, ours = peers
    _, theirs = await am.ask("GET", "/api/v2/status")
    _, mine = await ours.ask("GET", "/api/v2/status")
    major_minor = theirs["versionInfo"]["version"].rsplit(".", 1)[0]
    assert mine["versionInfo"]["version"].rsplit(".", 1)[0] == major_minor
    assert mine["versionInfo"]["revision"].startswith("tocsin ")


def amtool(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("amtool"), f"--alertmanager.url={url}", *args],
                          capture_output=True, text=True, timeout=60, input=stdin)


async def test_amtool_silence_import_moves_alertmanagers_silences_into_tocsin(peers, tmp_path):
    """An export from Alertmanager (ids tocsin does not know) imports: amtool retries each
    without its id after tocsin's 404 "silence not found", as it does with Alertmanager."""
    am, ours = peers
    await am.silence(("alertname", "DiskFull", False, True), ("instance", "db.*", True, True), comment="disk")
    await am.silence(("env", "prod", False, False), ("team", "ops", False, True), comment="not prod")
    await am.silence(("job", "node", False, True), comment="node")
    exported = amtool(am.url, "silence", "query", "-o", "json")
    assert exported.returncode == 0, exported.stderr
    assert len(json.loads(exported.stdout)) == 3
    path = tmp_path / "silences.json"
    path.write_text(exported.stdout)
    imported = amtool(ours.url, "silence", "import", str(path))
    assert imported.returncode == 0, imported.stderr
    assert "Warning" not in imported.stderr
    assert len(imported.stdout.split()) == 3
    _, silences = await ours.ask("GET", "/api/v2/silences")
    theirs = {s["comment"]: sorted((m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in s["matchers"])
              for s in json.loads(exported.stdout)}
    assert {s["comment"]: sorted((m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in s["matchers"])
            for s in silences} == theirs
