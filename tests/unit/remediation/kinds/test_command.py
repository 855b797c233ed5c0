"""tocsin.remediation.kinds.command, loaded from config the way the daemon loads it and run for real
against local programs. Nothing here runs a shell."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.unit.remediation.kinds.helpers import alert_data, ctx, load, problems, run, script
from tocsin.remediation import Outcome, RemediationError, Rendered
from tocsin.remediation.kinds import process
from tocsin.testing import wait_until


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def gone(pid: int, within: float = 3.0) -> bool:
    """True once ``pid`` no longer runs (a killed orphan is reaped by init a moment later);
    AssertionError if it still runs ``within`` seconds later."""
    return await wait_until(lambda: not alive(pid), within, 0.05, message=f"pid {pid} to end")


DUMP_ARGV = """\
import json, sys
print(json.dumps(sys.argv[1:]))
"""

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
          argv_options: [2]   # so "--flag" gets through too (test_argv_options.py has the refusals)
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
    assert kwargs["stdin"] == subprocess.DEVNULL
    assert kwargs["start_new_session"] is True


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
    assert not out.ok
    assert "NUL" in out.error
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
    assert "TOCSIN_TEST_SECRET" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert "hunter2" not in out.output
    assert "hunter3" not in out.output
    assert env["INSTANCE"] == "db1"
    assert env["LANG"] == "en_GB.UTF-8"  # env wins over the inherited value
    assert env["TZ"] == "UTC"
    assert env["PATH"] == os.environ["PATH"]
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
    assert out.ok
    assert out.exit_code == 3


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
    assert not out.ok
    assert out.error == f"cannot run {tmp_path}/plain: it is not executable"
    prog = script(tmp_path / "dump", DUMP_ARGV)
    spec = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}"]
          cwd: {tmp_path}/gone
        """)
    out = await run(spec, session)
    assert not out.ok
    assert "cwd" in out.error
    assert out.exit_code is None


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
    assert not out.ok
    assert "does not start with this remediation's program" in out.error


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
    monkeypatch.setattr(process, "KILL_GRACE", 0.3)
    prog = script(tmp_path / "hang", SPAWNER)
    pids = tmp_path / "pids"
    spec = load(f"""
        - name: fix
          kind: command
          argv: ["{prog}", "{pids}"]
        """)
    out = await run(spec, session, timeout=1.0)
    assert out.ok is False
    assert out.exit_code is None
    assert out.error == "timed out after 1s"
    assert "started" in out.output  # what it said before it was killed is kept
    child, grandchild = map(int, pids.read_text().split())
    assert await gone(child)
    assert await gone(grandchild)


async def test_a_background_process_holding_the_output_open_is_killed_at_the_timeout(tmp_path, session,
                                                                                     monkeypatch):
    monkeypatch.setattr(process, "KILL_GRACE", 0.3)
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
    assert not out.ok
    assert out.error.startswith("timed out after 0.5s (the program exited with status 0")
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
    await wait_until(lambda: pids.exists() and pids.read_text(), timeout=4.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    child, grandchild = map(int, pids.read_text().split())
    assert await gone(child)
    assert await gone(grandchild)


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
    assert list(found) == ["remediations[0].argv[1]"]
    assert "syntax" in found["remediations[0].argv[1]"]
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
    assert float(c.timeout) == 30
    assert spec.kind == "command"
