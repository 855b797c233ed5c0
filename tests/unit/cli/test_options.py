"""The command line is uniform: every command that talks to a daemon takes --url and
--token (and sends the token), every command that prints data takes -o json, the exit
statuses are listed in ``tocsin --help`` and the README."""

from __future__ import annotations

import argparse
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tocsin.cli.main import EXIT_CODES, build_parser, main

README = Path(__file__).resolve().parents[3] / "README.md"

#: Commands that work without a daemon.
LOCAL = {"serve", "check-config", "route test", "notify test", "plugins list", "storage copy", "replay"}
#: Commands that print no data (so take no -o).
SILENT = {"serve", "silence expire"}
#: Arguments each daemon command needs to run at all.
ARGS = {
    "silence add": ["alertname=x"], "silence query": [],
    "silence expire": ["0f9e3a14-0000-4000-8000-000000000000"],
    "dlq list": [], "dlq replay": ["1"], "dlq drop": ["1"],
    "alerts list": [], "alerts show": ["01a2"], "alerts ack": ["01a2"], "alerts unack": ["01a2"],
    "alerts resolve": ["01a2"], "escalations list": [], "stats": [],
    "remediations list": [], "remediations approve": ["r1"], "remediations reject": ["r1"],
    "heartbeats list": [], "heartbeats beat": ["backup"],
    "cluster status": [],
}


Leaf = tuple[str, argparse.ArgumentParser]


def leaves(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[Leaf]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix.strip(), parser
        return
    for name, child in subs[0].choices.items():
        yield from leaves(child, f"{prefix} {name}")


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings}


def commands() -> dict[str, argparse.ArgumentParser]:
    return dict(leaves(build_parser()))


def test_the_lists_name_real_commands():
    names = set(commands())
    assert names >= LOCAL
    assert names >= SILENT
    assert set(ARGS) == names - LOCAL  # every daemon command has its arguments here


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_has_the_common_options(name):
    opts = options(commands()[name])
    if name not in LOCAL:
        assert {"--url", "--token"} <= opts.keys(), name
    if name not in SILENT:
        assert {"-o", "--output"} <= opts.keys(), name
        assert {"simple", "json"} <= set(opts["-o"].choices or ()), name
        assert opts["-o"].default == "simple"


class Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str | None]] = []

    def _answer(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("Authorization")))
        body = b'{"error": "no"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def recorder() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("name", sorted(ARGS))
def test_every_daemon_command_sends_url_and_token(name, recorder, monkeypatch, capsys):
    """After the subcommand, and before it (the group's); a 401 is exit 1 with the error."""
    monkeypatch.delenv("TOCSIN_TOKEN", raising=False)
    monkeypatch.delenv("TOCSIN_URL", raising=False)
    words = name.split()
    argvs = [[*words, "--url", recorder, "--token", "sekrit", *ARGS[name]]]
    if len(words) > 1:
        argvs.append([words[0], "--url", recorder, "--token", "sekrit", *words[1:], *ARGS[name]])
    for argv in argvs:
        Recorder.seen.clear()
        assert main(argv) == 1, argv
        assert "HTTP 401: no" in capsys.readouterr().err
        assert Recorder.seen, argv
        assert {auth for _, _, auth in Recorder.seen} == {"Bearer sekrit"}, argv


def test_a_command_option_overrides_its_groups(recorder, monkeypatch, capsys):
    monkeypatch.delenv("TOCSIN_TOKEN", raising=False)
    Recorder.seen.clear()
    assert main(["alerts", "--url", "http://127.0.0.1:1", "--token", "group", "list",
                 "--url", recorder, "--token", "own"]) == 1
    assert [auth for _, _, auth in Recorder.seen] == ["Bearer own"]
    capsys.readouterr()


def test_usage_errors_exit_2(capsys):
    for argv in (["alerts"], ["alerts", "list", "-o", "yaml"], ["nonsense"],
                 ["plugins", "list", "--url", "x"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2, argv
    capsys.readouterr()


def test_exit_statuses_are_listed_in_help_and_readme():
    text = build_parser().format_help()
    assert "exit status:" in text
    readme = README.read_text()
    section = readme[readme.index("## Commands"):readme.index("## HTTP API")]
    for code, _ in EXIT_CODES:
        assert f"\n  {code:<5}" in text, code
        assert f"\n| {code} | " in section, code
    assert "NO_COLOR" in text
    assert "NO_COLOR" in section
