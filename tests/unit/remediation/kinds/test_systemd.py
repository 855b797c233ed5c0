"""tocsin.remediation.kinds.systemd, loaded from config the way the daemon loads it and run against a
fake systemctl. Nothing here touches this machine's units."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.remediation.kinds.helpers import alert_data, ctx, load, problems, run, script
from tocsin.remediation import Outcome, RemediationRefused, Rendered

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
                                      "*", "db?", "db[12]", "\\x2dH", "/dev/sda", "db1 --now"])
def test_a_unit_name_outside_the_syntax_is_refused(tmp_path, instance):
    systemctl, _ = fake_systemctl(tmp_path)
    spec = load(f"""
        - name: fix
          kind: systemd
          unit: "app@{{{{ labels.instance }}}}.service"
          allowed_units: ["*"]
          systemctl: {systemctl}
        """)
    with pytest.raises(RemediationRefused, match="not a valid unit name") as refused:
        spec.remediation.render(alert_data(instance=instance))
    assert refused.value.rendered is not None  # what was refused, for the record
    assert refused.value.rendered.detail["unit"] == f"app@{instance}.service"


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
    with pytest.raises(RemediationRefused, match=r"'sshd.service' is not in allowed_units"):
        spec.remediation.render(alert_data(unit="sshd.service"))
    with pytest.raises(RemediationRefused, match="no unit type suffix"):
        spec.remediation.render(alert_data(unit="app@db1"))
    with pytest.raises(RemediationRefused, match="not a valid unit name"):
        spec.remediation.render(alert_data(unit="-H.service"))
    tampered = Rendered(summary="x", detail={"argv": [str(systemctl), "stop", "--", "sshd.service"],
                                             "unit": "sshd.service"})
    with pytest.raises(RemediationRefused, match="not in allowed_units"):
        await spec.remediation.execute(tampered, ctx(session))
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
