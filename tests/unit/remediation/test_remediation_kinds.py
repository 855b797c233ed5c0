"""tocsin.remediation.kinds: the command, webhook and systemd kinds, loaded from config the way the
daemon loads them (entry point, ``remediations:``), rendered and run for real against local programs
and a local HTTP server on 127.0.0.1. Nothing here runs a shell or touches this machine's units."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

import tocsin.remediation.kinds as rk
from tocsin.config.document import ConfigError
from tocsin.plugins import remediation_kinds
from tocsin.remediation import ExecContext, Outcome, RemediationError, Rendered
from tocsin.testing import make_config, make_plugins

# -- helpers -------------------------------------------------------------------------------------


def script(path: Path, body: str) -> Path:
    """An executable Python program (no shell involved: the kernel reads the #! line)."""
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def load(entry: str) -> Any:
    """Load one ``remediations:`` entry (YAML, indented as a list item) and return its spec."""
    text = "route:\n  receiver: a\nreceivers:\n  - name: a\nremediations:\n" + textwrap.indent(
        textwrap.dedent(entry).strip("\n"), "  ") + "\n"
    cfg = make_config(text)
    [spec] = cfg.remediations.values()
    return spec


def problems(entry: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        load(entry)
    return {p.path: p.message for p in exc.value.problems}


def alert_data(**labels: str) -> dict[str, Any]:
    labels = {"alertname": "AppDown", **labels}
    return {"labels": labels, "annotations": {"summary": "app down"}, "fingerprint": "0123abcd",
            "status": "firing", "startsAt": "2024-01-01T00:00:00Z", "alertname": labels["alertname"],
            "remediation": "fix", "alert_id": "01HX"}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def ctx(session: aiohttp.ClientSession, timeout: float = 10.0) -> ExecContext:
    return ExecContext(session=session, timeout=timeout, remediation="fix", fingerprint="0123abcd")


async def run(spec: Any, session: aiohttp.ClientSession, data: dict[str, Any] | None = None, *,
              timeout: float = 10.0) -> Outcome:
    """Render for ``data`` (default: an alert with no extra labels) and run it, as the engine does."""
    rendered = spec.remediation.render(data or alert_data())
    return await spec.remediation.execute(rendered, ctx(session, timeout))


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def gone(pid: int, within: float = 3.0) -> bool:
    """True once ``pid`` no longer runs (a killed orphan is reaped by init a moment later)."""
    for _ in range(int(within / 0.05)):
        if not alive(pid):
            return True
        await asyncio.sleep(0.05)
    return not alive(pid)


DUMP_ARGV = """\
import json, sys
print(json.dumps(sys.argv[1:]))
"""

# -- registration --------------------------------------------------------------------------------


def test_the_entry_point_contributes_the_three_kinds():
    kinds = remediation_kinds(make_plugins())
    assert {"command", "webhook", "systemd"} <= kinds.keys()
    assert (kinds["command"], kinds["webhook"], kinds["systemd"]) == (rk.COMMAND, rk.WEBHOOK, rk.SYSTEMD)


# -- command: injection --------------------------------------------------------------------------

HOSTILE = ["; rm -rf /", "$(id)", "`id`", "a\nb", "--flag", "x' || true", "*", "  spaced  out ", "",
           "\\", '"quoted"', "|cat /etc/passwd", "&& reboot", "> /tmp/x", "${HOME}", "~", "é✓"]


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
async def test_a_label_value_arrives_as_exactly_one_literal_argument(tmp_path, session, value):
    prog = script(tmp_path / "dump", DUMP_ARGV)
    spec = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}", --instance, "{{{{ labels.instance }}}}", "pre-{{{{ labels.instance }}}}-post"]
        """)
    rendered = spec.remediation.render(alert_data(instance=value))
    assert rendered.detail["argv"] == [str(prog), "--instance", value, f"pre-{value}-post"]
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok, out
    assert json.loads(out.output) == ["--instance", value, f"pre-{value}-post"]


async def test_no_shell_ever_runs(tmp_path, session, monkeypatch):
    pwned = tmp_path / f"pwned-{uuid.uuid4().hex}"
    prog = script(tmp_path / "dump", DUMP_ARGV)
    started: list[tuple[Any, dict[str, Any]]] = []
    real_popen = subprocess.Popen

    def no_shell(*args: Any, **kwargs: Any) -> Any:
        started.append((args, kwargs))
        if kwargs.get("shell"):
            raise AssertionError("a shell was asked for")
        return real_popen(*args, **kwargs)

    async def refuse_shell(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("create_subprocess_shell was called")

    monkeypatch.setattr(subprocess, "Popen", no_shell)
    monkeypatch.setattr(asyncio, "create_subprocess_shell", refuse_shell)
    spec = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}", "{{{{ labels.instance }}}}", "{{{{ labels.other }}}}"]
        """)
    values = [f"$(touch {pwned})", f"; touch {pwned}"]
    rendered = spec.remediation.render(alert_data(instance=values[0], other=values[1]))
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok, out
    assert json.loads(out.output) == values
    assert not pwned.exists()
    [(args, kwargs)] = started
    assert list(args[0]) == [str(prog), *values]  # an argv list, not a command line
    assert not kwargs.get("shell")
    assert kwargs["stdin"] == subprocess.DEVNULL and kwargs["start_new_session"] is True


async def test_a_nul_in_a_label_is_refused_and_nothing_runs(tmp_path, session):
    marker = tmp_path / "ran"
    prog = script(tmp_path / "touch", f"open({str(marker)!r}, 'w').close()\n")
    spec = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}", "{{{{ labels.instance }}}}"]
          env: {{WHO: "{{{{ labels.who }}}}"}}
        """)
    with pytest.raises(RemediationError, match=r"argv\[1\].*NUL"):
        spec.remediation.render(alert_data(instance="db1\0--evil", who="x"))
    with pytest.raises(RemediationError, match=r"env\.WHO.*NUL"):
        spec.remediation.render(alert_data(instance="db1", who="a\0b"))
    # Even a tampered record with a NUL never reaches execve.
    out = await spec.remediation.execute(
        Rendered(summary="x", detail={"argv": [str(prog), "a\0b"], "env": {}}), ctx(session))
    assert not out.ok and "NUL" in out.error
    assert not marker.exists()


async def test_the_rendered_summary_and_detail_show_exactly_what_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    spec = load(f"""
        - name: fix
          kind: command
          argv: [{tmp_path}/restart, --instance, "{{{{ labels.instance }}}}", 5]
          cwd: {tmp_path}
          env: {{ALERT: "{{{{ alertname }}}}-{{{{ alert_id }}}}", TZ: Europe/Paris}}
        """)
    r = spec.remediation.render(alert_data(instance="db 1"))
    assert r.summary == f"argv: {tmp_path}/restart --instance 'db 1' 5"
    assert r.detail == {"argv": [f"{tmp_path}/restart", "--instance", "db 1", "5"], "cwd": str(tmp_path),
                        "env": {"ALERT": "AppDown-01HX", "TZ": "Europe/Paris"},
                        "env_inherited": ["PATH", "LANG", "LC_ALL"]}
    # It survives the audit record's round trip and runs from it.
    assert msgspec.json.decode(msgspec.json.encode(r), type=Rendered) == r


async def test_a_missing_label_is_a_render_error_not_an_empty_argument(tmp_path):
    spec = load(f"""
        - name: fix
          kind: command
          argv: [{tmp_path}/x, "{{{{ labels.instance }}}}", "{{{{ labels.zone | default('none') }}}}"]
        """)
    with pytest.raises(RemediationError, match=r"argv\[1\].*instance"):
        spec.remediation.render(alert_data())
    assert spec.remediation.render(alert_data(instance="i")).detail["argv"][1:] == ["i", "none"]


def test_the_template_sandbox_holds(tmp_path):
    spec = load(f"""
        - name: fix
          kind: command
          argv: [{tmp_path}/x, "{{{{ labels.__class__.__mro__ }}}}"]
        """)
    with pytest.raises(RemediationError, match="unsafe"):
        spec.remediation.render(alert_data())


# -- command: environment ------------------------------------------------------------------------

DUMP_ENV = """\
import json, os
print(json.dumps(dict(os.environ)))
"""


async def test_only_allowed_names_and_env_entries_reach_the_child(tmp_path, session, monkeypatch):
    monkeypatch.setenv("TOCSIN_TEST_SECRET", "hunter2")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter3")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("LC_ALL", raising=False)
    prog = script(tmp_path / "env", DUMP_ENV)
    spec = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}"]
          env: {{INSTANCE: "{{{{ labels.instance }}}}", LANG: en_GB.UTF-8}}
        """)
    rendered = spec.remediation.render(alert_data(instance="db1"))
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok, out
    env = json.loads(out.output)
    assert "TOCSIN_TEST_SECRET" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert "hunter2" not in out.output and "hunter3" not in out.output
    assert env["INSTANCE"] == "db1"
    assert env["LANG"] == "en_GB.UTF-8"  # env wins over the inherited value
    assert env["TZ"] == "UTC" and env["PATH"] == os.environ["PATH"]
    # Python may coerce a C locale by setting LC_CTYPE in its own environment; nothing else appears.
    assert set(env) - {"LC_CTYPE"} == {"INSTANCE", "LANG", "TZ", "PATH"}


async def test_env_allow_replaces_the_default_list(tmp_path, session, monkeypatch):
    monkeypatch.setenv("APP_REGION", "eu-west-1")
    prog = script(tmp_path / "env", DUMP_ENV)
    spec = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}"]
          env_allow: [APP_REGION]
        """)
    out = await run(spec, session)
    assert set(json.loads(out.output)) - {"LC_CTYPE"} == {"APP_REGION"}


# -- command: running ----------------------------------------------------------------------------


async def test_stdout_and_stderr_are_captured_together_in_order(tmp_path, session):
    prog = script(tmp_path / "talk", """\
        import sys
        print("one", flush=True)
        print("two", file=sys.stderr, flush=True)
        print("three", flush=True)
        """)
    spec = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}"]
        """)
    out = await run(spec, session)
    assert out == Outcome(ok=True, exit_code=0, output="one\ntwo\nthree\n")


async def test_output_is_cut_to_max_output(tmp_path, session):
    prog = script(tmp_path / "chatty", "import sys\nsys.stdout.write('x' * 100000)\n")
    spec = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}"]
          max_output: 1000
        """)
    out = await run(spec, session)
    assert out.ok
    assert out.output == "x" * 1000 + "\n[... 99000 more bytes cut]"


async def test_a_nonzero_exit_fails_with_its_status_unless_listed(tmp_path, session):
    prog = script(tmp_path / "fail", "import sys\nprint('no such instance')\nsys.exit(3)\n")
    spec = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}"]
        """)
    out = await run(spec, session)
    assert out == Outcome(ok=False, exit_code=3, output="no such instance\n", error="exited with status 3")
    lenient = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}"]
          success_codes: [0, 3]
        """)
    out = await run(lenient, session)
    assert out.ok and out.exit_code == 3


async def test_a_missing_or_unrunnable_program_fails_clearly(tmp_path, session):
    spec = load(f"""
        - name: fix
          kind: command
          argv: [{tmp_path}/nope, x]
        """)
    out = await run(spec, session)
    assert out == Outcome(ok=False, error=f"cannot run {tmp_path}/nope: it does not exist")
    (tmp_path / "plain").write_text("#!/bin/sh\n")
    spec = load(f"""
        - name: fix
          kind: command
          argv: [{tmp_path}/plain]
        """)
    out = await run(spec, session)
    assert not out.ok and out.error == f"cannot run {tmp_path}/plain: it is not executable"
    prog = script(tmp_path / "dump", DUMP_ARGV)
    spec = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}"]
          cwd: {tmp_path}/gone
        """)
    out = await run(spec, session)
    assert not out.ok and "cwd" in out.error and out.exit_code is None


async def test_cwd_is_used(tmp_path, session):
    prog = script(tmp_path / "pwd", "import os\nprint(os.getcwd())\n")
    (tmp_path / "work").mkdir()
    spec = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}"]
          cwd: {tmp_path}/work
        """)
    out = await run(spec, session)
    assert out.output.strip() == str(tmp_path / "work")


async def test_a_record_whose_program_is_not_the_configured_one_does_not_run(tmp_path, session):
    prog = script(tmp_path / "dump", DUMP_ARGV)
    spec = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}"]
        """)
    out = await spec.remediation.execute(
        Rendered(summary="x", detail={"argv": ["/bin/sh", "-c", "id"], "env": {}}), ctx(session))
    assert not out.ok and "does not start with this remediation's program" in out.error


SPAWNER = """\
import os, signal, subprocess, sys, time
# The grandchild ignores SIGTERM, so only the SIGKILL that follows can stop it.
child = subprocess.Popen([sys.executable, "-c", "import signal, time; "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); print('gc', flush=True); time.sleep(60)"])
with open(sys.argv[1], "w") as f:
    f.write(f"{os.getpid()} {child.pid}")
print("started", flush=True)
time.sleep(60)
"""


async def test_a_timeout_kills_the_whole_process_group(tmp_path, session, monkeypatch):
    monkeypatch.setattr(rk, "KILL_GRACE", 0.3)
    prog = script(tmp_path / "hang", SPAWNER)
    pids = tmp_path / "pids"
    spec = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}", "{pids}"]
        """)
    out = await run(spec, session, timeout=1.0)
    assert out.ok is False and out.exit_code is None
    assert out.error == "timed out after 1s"
    assert "started" in out.output  # what it said before it was killed is kept
    child, grandchild = map(int, pids.read_text().split())
    assert await gone(child) and await gone(grandchild)


async def test_a_background_process_holding_the_output_open_is_killed_at_the_timeout(tmp_path, session,
                                                                                     monkeypatch):
    monkeypatch.setattr(rk, "KILL_GRACE", 0.3)
    prog = script(tmp_path / "fork", """\
        import subprocess, sys
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open(sys.argv[1], "w").write(str(p.pid))
        """)
    pid_file = tmp_path / "pid"
    spec = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}", "{pid_file}"]
        """)
    out = await run(spec, session, timeout=0.5)
    assert not out.ok and out.error.startswith("timed out after 0.5s (the program exited with status 0")
    assert await gone(int(pid_file.read_text()))


async def test_cancelling_a_run_kills_its_group(tmp_path, session):
    prog = script(tmp_path / "hang", SPAWNER)
    pids = tmp_path / "pids"
    spec = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}", "{pids}"]
        """)
    task = asyncio.ensure_future(run(spec, session))
    for _ in range(200):
        if pids.exists() and pids.read_text():
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    child, grandchild = map(int, pids.read_text().split())
    assert await gone(child) and await gone(grandchild)


# -- command: config -----------------------------------------------------------------------------


def test_a_relative_program_is_a_config_error_with_its_path():
    assert problems("""
        - name: fix
          kind: command
          argv: [bin/restart, x]
        """) == {"remediations[0].argv[0]": "must be an absolute path to an executable, got 'bin/restart'"}


def test_command_config_errors_carry_their_paths(tmp_path):
    assert problems("""
        - name: fix
          kind: command
          argv: ["/usr/bin/{{ labels.tool }}"]
        """) == {"remediations[0].argv[0]": "the program must be a fixed path, not a template"}
    assert "remediations[0].argv" in problems("""
        - name: fix
          kind: command
          argv: []
        """)
    found = problems("""
        - name: fix
          kind: command
          argv: [/bin/true, "{{ labels.x "]
        """)
    assert list(found) == ["remediations[0].argv[1]"] and "syntax" in found["remediations[0].argv[1]"]
    assert list(problems("""
        - name: fix
          kind: command
          argv: [/bin/true]
          cwd: relative/dir
        """)) == ["remediations[0].cwd"]
    assert list(problems("""
        - name: fix
          kind: command
          argv: [/bin/true]
          env: {"BAD-NAME": x}
        """)) == ["remediations[0].env.BAD-NAME"]
    assert list(problems("""
        - name: fix
          kind: command
          argv: [/bin/true]
          env_allow: [PATH, "1X"]
        """)) == ["remediations[0].env_allow[1]"]
    assert list(problems("""
        - name: fix
          kind: command
          argv: [/bin/true]
          success_codes: [0, 256]
        """)) == ["remediations[0].success_codes[1]"]
    assert list(problems("""
        - name: fix
          kind: command
          argv: [/bin/true]
          shell: true
        """)) == ["remediations[0].shell"]
    assert list(problems("""
        - name: fix
          kind: command
          argv: [/bin/true]
          timeout: 0s
        """)) == ["remediations[0].timeout"]


def test_command_defaults(tmp_path):
    spec = load("""
        - name: fix
          kind: command
          argv: [/bin/true]
        """)
    c = spec.config
    assert (c.env_allow, c.max_output, c.success_codes, c.cwd, c.env) == (
        ["PATH", "LANG", "LC_ALL", "TZ"], 16 * 1024, [0], None, {})
    assert float(c.timeout) == 30 and spec.kind == "command"


# -- webhook -------------------------------------------------------------------------------------

HMAC_SECRET = "s3cr3t-hmac-" + uuid.uuid4().hex
TOKEN = "tok-" + uuid.uuid4().hex


class Receiver:
    """A remediation endpoint that checks what a real receiver would: the signature over the
    raw body, or the bearer token, and answers as told."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.status = 200
        self.delay = 0.0
        self.released = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.requests.append((request.method, request.path_qs, dict(request.headers), raw))
        if self.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.released.wait(), self.delay)
        if request.path.startswith("/signed"):
            given = request.headers.get("X-Tocsin-Signature", "")
            want = "sha256=" + hmac.new(HMAC_SECRET.encode(), raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(given, want):
                return web.Response(status=401, text="bad signature")
        if request.path.startswith("/bearer"):
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.Response(status=401, text="bad token")
        return web.Response(status=self.status, text="restarted " + json.loads(raw)["labels"]["instance"])

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self.url


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    r.released.set()
    assert r.runner is not None
    await r.runner.cleanup()


def assert_no_secret(rendered: Rendered, *secrets: str) -> None:
    text = msgspec.json.encode(rendered).decode()
    for s in secrets:
        assert s not in text


async def test_a_signed_request_verifies_at_the_receiver(receiver, session):
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/signed/restart
          hmac_secret: {HMAC_SECRET}
          headers: {{X-Instance: "{{{{ labels.instance }}}}"}}
        """)
    rendered = spec.remediation.render(alert_data(instance="db1"))
    assert_no_secret(rendered, HMAC_SECRET)
    assert rendered.summary == f"POST {receiver.url}/<redacted>"
    assert rendered.detail["headers"] == {"Content-Type": "application/json", "X-Instance": "db1",
                                          "X-Tocsin-Signature": "<secret>"}
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out == Outcome(ok=True, http_status=200, output="restarted db1")
    [(method, path, headers, raw)] = receiver.requests
    assert (method, path) == ("POST", "/signed/restart")
    assert raw == rendered.detail["body"].encode()  # the body sent is the body shown, byte for byte
    body = json.loads(raw)
    assert body == {**alert_data(instance="db1"), "remediation": "fix"}
    assert headers["X-Instance"] == "db1" and headers["Content-Type"] == "application/json"


async def test_a_wrong_signature_is_refused_by_the_receiver(receiver, session, tmp_path):
    secret_file = tmp_path / "hmac"
    secret_file.write_text("not-the-secret\n")
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/signed
          hmac_secret_file: {secret_file}
        """)
    rendered = spec.remediation.render(alert_data(instance="db1"))
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out == Outcome(ok=False, http_status=401, output="bad signature", error="HTTP 401, expected 2xx")
    secret_file.write_text(HMAC_SECRET + "\n")  # rotated: read at each run
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok and out.http_status == 200


async def test_a_bearer_token_is_sent_and_never_shown(receiver, session, tmp_path):
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/bearer
          bearer_token: {TOKEN}
        """)
    rendered = spec.remediation.render(alert_data(instance="db1"))
    assert_no_secret(rendered, TOKEN)
    assert rendered.detail["headers"]["Authorization"] == "<secret>"
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok and out.http_status == 200 and out.output == "restarted db1"
    assert receiver.requests[-1][2]["Authorization"] == f"Bearer {TOKEN}"
    # A record carrying a forged Authorization value does not get it sent.
    forged = msgspec.structs.replace(rendered, detail={**rendered.detail, "headers": {
        **rendered.detail["headers"], "Authorization": "Bearer forged"}})
    out = await spec.remediation.execute(forged, ctx(session))
    assert out.ok and receiver.requests[-1][2]["Authorization"] == f"Bearer {TOKEN}"

    token_file = tmp_path / "token"
    token_file.write_text("wrong\n")
    from_file = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/bearer
          bearer_token_file: {token_file}
        """)
    out = await from_file.remediation.execute(rendered, ctx(session))
    assert out.http_status == 401 and not out.ok
    token_file.write_text(TOKEN)
    out = await from_file.remediation.execute(rendered, ctx(session))
    assert out.ok


async def test_an_unreadable_secret_file_fails_without_sending(receiver, session, tmp_path):
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/bearer
          bearer_token_file: {tmp_path}/missing
        """)
    out = await run(spec, session, alert_data(instance="i"))
    assert not out.ok and out.error.startswith(f"bearer_token_file: cannot read {tmp_path}/missing")
    assert receiver.requests == []


async def test_credentials_in_the_url_are_never_shown(receiver, session):
    host = receiver.url.removeprefix("http://")
    spec = load(f"""
        - name: fix
          kind: webhook
          url: "http://user:pa55word@{host}/hooks/restart?token={TOKEN}"
        """)
    rendered = spec.remediation.render(alert_data(instance="db1"))
    assert rendered.detail["url"] == f"http://{host}/<redacted>"
    assert_no_secret(rendered, TOKEN, "pa55word", "hooks")
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok
    assert receiver.requests[0][1] == f"/hooks/restart?token={TOKEN}"  # sent to the real URL


async def test_url_file_is_read_when_run(receiver, session, tmp_path):
    url_file = tmp_path / "url"
    url_file.write_text(f"{receiver.url}/first\n")
    spec = load(f"""
        - name: fix
          kind: webhook
          url_file: {url_file}
          method: PUT
        """)
    rendered = spec.remediation.render(alert_data(instance="db1"))
    assert rendered.summary == f"PUT {receiver.url}/<redacted>"
    url_file.write_text(f"{receiver.url}/second\n")
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok and receiver.requests[0][:2] == ("PUT", "/second")


async def test_an_unexpected_status_fails_with_it(receiver, session):
    receiver.status = 202
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/x
          expected_status: [200, 204]
        """)
    out = await run(spec, session, alert_data(instance="db1"))
    assert out == Outcome(ok=False, http_status=202, output="restarted db1",
                          error="HTTP 202, expected 200, 204")
    receiver.status = 500
    default = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/x
        """)
    out = await run(default, session, alert_data(instance="db1"))
    assert not out.ok and out.http_status == 500 and out.error == "HTTP 500, expected 2xx"


async def test_a_slow_endpoint_times_out(receiver, session):
    receiver.delay = 5
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/slow
        """)
    out = await run(spec, session, alert_data(instance="db1"), timeout=0.3)
    assert out.ok is False and out.error == "timed out after 0.3s" and out.http_status is None


async def test_a_refused_connection_is_an_outcome(session):
    with socket_bound() as port:
        spec = load(f"""
            - name: fix
              kind: webhook
              url: http://127.0.0.1:{port}/x?token={TOKEN}
            """)
        out = await run(spec, session, alert_data(instance="db1"))
    assert not out.ok and out.http_status is None
    assert out.error.startswith(f"http://127.0.0.1:{port}/<redacted>: ClientConnectorError")
    assert TOKEN not in out.error


def socket_bound() -> Any:
    """A port on 127.0.0.1 nothing listens on (bound, not listening: connections are refused)."""
    import socket

    @contextlib.contextmanager
    def cm() -> Any:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        try:
            yield s.getsockname()[1]
        finally:
            s.close()

    return cm()


async def test_response_output_is_cut(receiver, session):
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/x
          max_output: 4
        """)
    out = await run(spec, session, alert_data(instance="db1"))
    assert out.output == "rest\n[... 9 more bytes cut]"


async def test_body_template(receiver, session):
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/x
          body_template: >-
            {{"labels": {{"instance": {{{{ labels.instance | tojson }}}}}},
             "why": {{{{ alertname | tojson }}}}}}
        """)
    rendered = spec.remediation.render(alert_data(instance='db"1'))
    assert json.loads(rendered.detail["body"]) == {"labels": {"instance": 'db"1'}, "why": "AppDown"}
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok and out.output == 'restarted db"1'
    broken = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/x
          body_template: 'instance={{{{ labels.instance }}}}'
        """)
    with pytest.raises(RemediationError, match="did not render JSON"):
        broken.remediation.render(alert_data(instance="db1"))


def test_a_header_value_cannot_smuggle_a_header(receiver):
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/x
          headers: {{X-Instance: "{{{{ labels.instance }}}}"}}
        """)
    with pytest.raises(RemediationError, match="line break"):
        spec.remediation.render(alert_data(instance="db1\r\nX-Admin: yes"))


def test_webhook_config_errors_carry_their_paths():
    assert problems("""
        - name: fix
          kind: webhook
        """) == {"remediations[0].url": "exactly one of url and url_file must be set"}
    assert list(problems("""
        - name: fix
          kind: webhook
          url: ftp://x/
        """)) == ["remediations[0].url"]
    found = problems("""
        - name: fix
          kind: webhook
          url: http://127.0.0.1/
          headers: {Authorization: "Bearer abc"}
        """)
    assert list(found) == ["remediations[0].headers.Authorization"] and "bearer_token" in found[
        "remediations[0].headers.Authorization"]
    assert list(problems("""
        - name: fix
          kind: webhook
          url: http://127.0.0.1/
          bearer_token: a
          http_config: {basic_auth: {username: u, password: p}}
        """)) == ["remediations[0].bearer_token"]
    assert list(problems("""
        - name: fix
          kind: webhook
          url: http://127.0.0.1/
          hmac_secret: a
          hmac_secret_file: /b
        """)) == ["remediations[0].hmac_secret_file"]
    assert list(problems("""
        - name: fix
          kind: webhook
          url: http://127.0.0.1/
          expected_status: [200, 99]
        """)) == ["remediations[0].expected_status[1]"]
    assert list(problems("""
        - name: fix
          kind: webhook
          url: http://127.0.0.1/
          method: GET
        """)) == ["remediations[0].method"]


async def test_http_config_basic_auth_is_sent_and_not_shown(receiver, session):
    spec = load(f"""
        - name: fix
          kind: webhook
          url: {receiver.url}/x
          http_config: {{basic_auth: {{username: ops, password: {TOKEN}}}}}
        """)
    rendered = spec.remediation.render(alert_data(instance="db1"))
    assert_no_secret(rendered, TOKEN)
    assert rendered.detail["headers"]["Authorization"] == "<secret>"
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok
    assert receiver.requests[0][2]["Authorization"].startswith("Basic ")


# -- systemd -------------------------------------------------------------------------------------

FAKE_SYSTEMCTL = """\
import json, os, sys
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls.jsonl"), "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
print("ok")
"""


def fake_systemctl(tmp_path: Path) -> tuple[Path, Path]:
    return script(tmp_path / "systemctl", FAKE_SYSTEMCTL), tmp_path / "calls.jsonl"


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


async def test_an_allowed_unit_is_restarted_with_exactly_that_argv(tmp_path, session):
    systemctl, log = fake_systemctl(tmp_path)
    spec = load(f"""
        - name: fix
          kind: systemd
          unit: "app@{{{{ labels.instance }}}}.service"
          allowed_units: ["app@*.service"]
          systemctl: {systemctl}
        """)
    rendered = spec.remediation.render(alert_data(instance="db1"))
    assert rendered.summary == f"argv: {systemctl} restart -- app@db1.service"
    assert rendered.detail == {"argv": [str(systemctl), "restart", "--", "app@db1.service"],
                               "unit": "app@db1.service", "action": "restart", "user": False}
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out == Outcome(ok=True, exit_code=0, output="ok\n")
    assert calls(log) == [["restart", "--", "app@db1.service"]]


async def test_user_and_action(tmp_path, session):
    systemctl, log = fake_systemctl(tmp_path)
    spec = load(f"""
        - name: fix
          kind: systemd
          unit: worker.service
          action: reload-or-restart
          user: true
          systemctl: {systemctl}
        """)
    out = await run(spec, session)
    assert out.ok
    assert calls(log) == [["--user", "reload-or-restart", "--", "worker.service"]]


@pytest.mark.parametrize("instance", ["db1; reboot", "db 1", "db1\n", "../../etc", "$(id)", "db1.service x",
                                      "*"])
def test_a_unit_name_outside_the_syntax_is_refused(tmp_path, instance):
    systemctl, _ = fake_systemctl(tmp_path)
    spec = load(f"""
        - name: fix
          kind: systemd
          unit: "app@{{{{ labels.instance }}}}.service"
          allowed_units: ["*"]
          systemctl: {systemctl}
        """)
    with pytest.raises(RemediationError, match="not a valid unit name"):
        spec.remediation.render(alert_data(instance=instance))


async def test_a_unit_outside_allowed_units_is_refused_at_render_and_at_run(tmp_path, session):
    systemctl, log = fake_systemctl(tmp_path)
    spec = load(f"""
        - name: fix
          kind: systemd
          unit: "{{{{ labels.unit }}}}"
          allowed_units: ["app@*.service", "worker-?.service"]
          systemctl: {systemctl}
        """)
    assert spec.remediation.render(alert_data(unit="worker-1.service")).detail["unit"] == "worker-1.service"
    with pytest.raises(RemediationError, match=r"'sshd.service' is not in allowed_units"):
        spec.remediation.render(alert_data(unit="sshd.service"))
    with pytest.raises(RemediationError, match="no unit type suffix"):
        spec.remediation.render(alert_data(unit="app@db1"))
    with pytest.raises(RemediationError, match="not a valid unit name"):
        spec.remediation.render(alert_data(unit="-H.service"))
    tampered = Rendered(summary="x", detail={"argv": [str(systemctl), "stop", "--", "sshd.service"],
                                             "unit": "sshd.service"})
    out = await spec.remediation.execute(tampered, ctx(session))
    assert not out.ok and "not in allowed_units" in out.error
    assert calls(log) == []


def test_systemd_config_errors_carry_their_paths():
    assert problems("""
        - name: fix
          kind: systemd
          unit: "app@{{ labels.instance }}.service"
        """).keys() == {"remediations[0].allowed_units"}
    assert problems("""
        - name: fix
          kind: systemd
          unit: nginx.service
          allowed_units: [app@*.service]
        """) == {"remediations[0].unit":
                 "unit 'nginx.service' is not in allowed_units (app@*.service); refusing to run"}
    assert list(problems("""
        - name: fix
          kind: systemd
          unit: "nginx; reboot"
        """)) == ["remediations[0].unit"]
    assert list(problems("""
        - name: fix
          kind: systemd
          unit: nginx.service
          systemctl: systemctl
        """)) == ["remediations[0].systemctl"]
    assert list(problems("""
        - name: fix
          kind: systemd
          unit: nginx.service
          action: kill
        """)) == ["remediations[0].action"]


async def test_a_failing_systemctl_is_an_outcome(tmp_path, session):
    systemctl = script(tmp_path / "systemctl", """\
        import sys
        print("Failed to restart app.service: Unit app.service not found.", file=sys.stderr)
        sys.exit(5)
        """)
    spec = load(f"""
        - name: fix
          kind: systemd
          unit: app.service
          systemctl: {systemctl}
        """)
    out = await run(spec, session)
    assert out == Outcome(ok=False, exit_code=5, error="exited with status 5",
                          output="Failed to restart app.service: Unit app.service not found.\n")
