"""The ``systemd`` remediation kind: ``systemctl [--user] <action> -- <unit>``.

Registered through the ``tocsin.plugins`` entry point ``remediation-systemd``.

The unit is rendered from a template, then checked against a strict unit-name
syntax and ``allowed_units`` when rendered (so an approver sees a refusal
rather than a surprise) and again when run; a unit that fails either check is
refused (:class:`~tocsin.remediation.RemediationRefused`), and the run recorded
``refused``. The syntax leaves out what systemctl would read as an option or a
pattern (a leading ``-``; ``*``, ``?``, ``[``, ``\\``), and the unit comes after
``--`` as well. systemctl runs through
:func:`~tocsin.remediation.kinds.process.run_process`, like a ``command``.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from tocsin import hookimpl
from tocsin.config.validate import field_error
from tocsin.notify.templates import Templates
from tocsin.remediation import (
    MAX_OUTPUT,
    ExecContext,
    Outcome,
    RemediationConfig,
    RemediationKind,
    RemediationRefused,
    Rendered,
)
from tocsin.remediation.kinds.output import check_max_output, fail
from tocsin.remediation.kinds.process import DEFAULT_ENV_ALLOW, check_env_names, child_env, run_process
from tocsin.remediation.kinds.templating import CompiledTemplate, TemplateText, has_markup

__all__ = [
    "SYSTEMD", "SYSTEMD_ENV_ALLOW", "UNIT_SUFFIXES", "SystemdConfig", "SystemdRemediation", "unit_problem",
]

#: ``systemctl --user`` also needs to find the user's manager.
SYSTEMD_ENV_ALLOW = (*DEFAULT_ENV_ALLOW, "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")
#: Every systemd unit type.
UNIT_SUFFIXES = (".service", ".socket", ".target", ".timer", ".path", ".mount", ".automount", ".swap",
                 ".slice", ".scope", ".device")

_UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.\-@]+$")
_UNIT_MAX = 255

SystemdAction = Literal["restart", "reload", "try-restart", "reload-or-restart", "start", "stop"]


def unit_problem(unit: str, allowed: Sequence[str]) -> str | None:
    """Why ``unit`` may not be acted on, or None."""
    if not unit:
        return "the unit name is empty"
    if len(unit) > _UNIT_MAX:
        return f"the unit name is longer than {_UNIT_MAX} characters"
    if not _UNIT_NAME.match(unit):
        return (f"{unit!r} is not a valid unit name (letters, digits and : _ . - @ only)")
    if unit.startswith("-"):
        return f"{unit!r} is not a valid unit name (starts with -)"
    if not unit.endswith(UNIT_SUFFIXES):
        return f"{unit!r} has no unit type suffix ({', '.join(UNIT_SUFFIXES)})"
    if not any(fnmatch.fnmatchcase(unit, pattern) for pattern in allowed):
        return f"unit {unit!r} is not in allowed_units ({', '.join(allowed)}); refusing to run"
    return None


class SystemdConfig(RemediationConfig):
    #: The unit (a template, e.g. ``app@{{ labels.instance }}.service``).
    unit: TemplateText
    action: SystemdAction = "restart"
    #: fnmatch globs the rendered unit must match; required when ``unit`` is a template.
    allowed_units: list[str] = []
    #: The systemctl program (absolute path).
    systemctl: str = "/bin/systemctl"
    #: Act on the user's service manager (``systemctl --user``).
    user: bool = False
    #: Names copied from tocsin's own environment for systemctl.
    env_allow: list[str] = msgspec.field(default_factory=lambda: list(SYSTEMD_ENV_ALLOW))
    max_output: int = MAX_OUTPUT

    def __post_init__(self) -> None:
        super().__post_init__()
        if not os.path.isabs(self.systemctl):
            raise field_error("systemctl", f"must be an absolute path, got {self.systemctl!r}")
        for i, pattern in enumerate(self.allowed_units):
            if not pattern:
                raise field_error(f"allowed_units[{i}]", "must not be empty")
        check_env_names(self.env_allow, "env_allow")
        check_max_output(self.max_output)


def _systemd_check(config: SystemdConfig) -> list[tuple[str, str]]:
    if not has_markup(config.unit):
        problem = unit_problem(config.unit, config.allowed_units or [config.unit])
        return [("unit", problem)] if problem else []
    if not config.allowed_units:
        return [("allowed_units", "required when unit is a template: list the units it may render to "
                                  "(globs such as app@*.service)")]
    return []


class SystemdRemediation:
    """``render`` -> ``{"argv", "unit", "action", "user"}``; the unit is checked when rendered and again
    when run."""

    def __init__(self, config: SystemdConfig, templates: Templates) -> None:
        self.config = config
        self.unit = CompiledTemplate(templates, config.unit, "unit")
        self.allowed = list(config.allowed_units) or [str(config.unit)]

    def argv(self, unit: str) -> list[str]:
        c = self.config
        return [c.systemctl, *(["--user"] if c.user else []), c.action, "--", unit]

    def render(self, data: dict[str, Any]) -> Rendered:
        unit = self.unit.render(data)
        argv = self.argv(unit)
        rendered = Rendered(summary="argv: " + shlex.join(argv),
                            detail={"argv": argv, "unit": unit, "action": self.config.action,
                                    "user": self.config.user})
        problem = unit_problem(unit, self.allowed)
        if problem:
            raise RemediationRefused(problem, rendered)
        return rendered

    async def execute(self, rendered: Rendered, ctx: ExecContext) -> Outcome:
        unit = rendered.detail.get("unit")
        if not isinstance(unit, str):
            return fail("no unit in the rendered request; nothing ran")
        problem = unit_problem(unit, self.allowed)  # the config may have changed since it was rendered
        if problem:
            raise RemediationRefused(problem)
        return await run_process(
            self.argv(unit), env=child_env(self.config.env_allow, {}), timeout=ctx.timeout,
            max_output=self.config.max_output,
        )


SYSTEMD = RemediationKind("systemd", SystemdConfig, SystemdRemediation, _systemd_check)


@hookimpl
def tocsin_remediation_kinds() -> list[RemediationKind]:
    return [SYSTEMD]
