"""`tocsin silence add|query|expire` against a running daemon, and amtool alongside."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.peers import Daemon, free_port, require_binary

pytestmark = pytest.mark.e2e


@pytest.fixture
async def daemon(tmp_path):
    cfg = tmp_path / "tocsin.yml"
    cfg.write_text("route: {receiver: r}\nreceivers: [{name: r}]\n")
    d = Daemon(cfg, tmp_path / "db" / "t.db", tmp_path / "t.log")
    await d.start()
    yield d
    d.stop()


def tocsin(url: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "tocsin", "silence", "--url", url, *args],
                         capture_output=True, text=True, timeout=60)
    if ok:
        assert out.returncode == 0, out.stderr
    return out


def amtool(url: str, *args: str) -> str:
    out = subprocess.run([require_binary("amtool"), f"--alertmanager.url={url}", *args],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


async def test_add_query_expire_and_amtool_sees_the_same(daemon):
    url = daemon.url
    sid = tocsin(url, "add", "DiskFull", 'instance=~"db.*"', "--duration", "2h",
                 "--author", "ops", "--comment", "resize").stdout.strip()
    assert len(sid) == 36

    [s] = json.loads(tocsin(url, "query", "-o", "json").stdout)
    assert s["id"] == sid
    assert s["createdBy"] == "ops"
    assert s["comment"] == "resize"
    assert {(m["name"], m["value"], m["isRegex"]) for m in s["matchers"]} == {
        ("alertname", "DiskFull", False), ("instance", "db.*", True)}
    table = tocsin(url, "query").stdout.splitlines()
    assert table[0].split() == ["ID", "Matchers", "Ends", "At", "Created", "By", "Comment"]
    assert table[1].startswith(sid)
    assert 'alertname="DiskFull" instance=~"db.*"' in table[1]
    assert tocsin(url, "query", "-q", "alertname=Other").stdout == ""
    assert amtool(url, "silence", "query", "-q").split() == [sid]

    other = amtool(url, "silence", "add", "alertname=Load", "--comment=x", "--duration=1h").strip()
    assert sorted(tocsin(url, "query", "-q").stdout.split()) == sorted([sid, other])

    tocsin(url, "expire", sid, other)
    assert tocsin(url, "query", "-q").stdout == ""
    assert sorted(tocsin(url, "query", "--expired", "-q").stdout.split()) == sorted([sid, other])
    assert amtool(url, "silence", "query", "-q").split() == []


async def test_errors_are_clear(daemon):
    bad = tocsin(daemon.url, "add", 'job=~"(x"', ok=False)
    assert bad.returncode == 1
    assert "invalid regex" in bad.stderr
    assert "(x" in bad.stderr
    gone = tocsin(daemon.url, "expire", "0f9e3a14-0000-4000-8000-000000000000", ok=False)
    assert gone.returncode == 1
    assert "HTTP 404: silence not found" in gone.stderr
    malformed = tocsin(daemon.url, "expire", "no-such-id", ok=False)
    assert malformed.returncode == 1
    assert 'HTTP 422: silenceID in path must be of type uuid: "no-such-id"' in malformed.stderr
    everything = tocsin(daemon.url, "add", 'job=~".*"', ok=False)
    assert everything.returncode == 1
    assert "must not match the empty string" in everything.stderr
    port = free_port()
    down = tocsin(f"http://127.0.0.1:{port}", "query", ok=False)
    assert down.returncode == 1
    assert f"127.0.0.1:{port}" in down.stderr


async def test_silences_with_a_token(tmp_path):
    """`silence` had no --token: with server.auth set it could not add, list or expire."""
    token = "silence-admin-token-0123456789"
    cfg = tmp_path / "tocsin.yml"
    cfg.write_text(f"server: {{auth: {{tokens: [{{name: ops, role: admin, token: {token}}}]}}}}\n"
                   "route: {receiver: r}\nreceivers: [{name: r}]\n")
    d = Daemon(cfg, tmp_path / "db" / "t.db", tmp_path / "t.log")
    await d.start()
    try:
        refused = tocsin(d.url, "add", "DiskFull", ok=False)
        assert refused.returncode == 1
        assert "HTTP 401" in refused.stderr
        added = tocsin(d.url, "add", "DiskFull", "--token", token, "-o", "json")
        sid = json.loads(added.stdout)["silenceID"]
        assert tocsin(d.url, "query", "-q", "--token", token).stdout.split() == [sid]
        tocsin(d.url, "expire", sid, "--token", token)
        assert tocsin(d.url, "query", "-q", "--expired", "--token", token).stdout.split() == [sid]
    finally:
        d.stop()
