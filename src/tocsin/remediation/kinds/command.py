"""The ``command`` remediation kind: run a program with arguments rendered from the alert.

Registered through the ``tocsin.plugins`` entry point ``remediation-command``.

The argv's elements are Jinja2 templates. Each element renders to exactly one
argument: nothing is ever split, globbed or given to a shell (it runs through
:func:`~tocsin.remediation.kinds.process.run_process`). The program
(``argv[0]``) is a fixed absolute path, never a template. The child gets no
stdin, an environment of ``env_allow`` names copied from tocsin's plus the
rendered ``env``, and its own process group, which is killed as a whole on
timeout.

A templated argument that renders to something starting with ``-`` would be
taken by most programs as an option (``git log --output=/etc/x``), letting
whoever posts alerts choose one: such a run is refused
(:class:`~tocsin.remediation.RemediationRefused`) unless its index is in
``argv_options``. Fixed arguments and everything after a fixed ``--`` argument
(operands, by convention) are never refused.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

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
from tocsin.remediation.kinds.process import (
    DEFAULT_ENV_ALLOW,
    check_env_names,
    child_env,
    is_env_name,
    run_process,
)
from tocsin.remediation.kinds.templating import CompiledTemplate, TemplateText, has_markup

__all__ = ["COMMAND", "CommandConfig", "CommandRemediation"]


class CommandConfig(RemediationConfig):
    #: The program (a fixed absolute path) and its arguments (templates, one argument each).
    argv: list[TemplateText]
    #: Working directory (absolute); tocsin's own when unset.
    cwd: str | None = None
    #: Environment variables set for the program (values are templates, shown to approvers).
    env: dict[str, TemplateText] = {}
    #: Names copied from tocsin's own environment; nothing else of it is passed on.
    env_allow: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_ENV_ALLOW))
    #: Output bytes kept (stdout and stderr together).
    max_output: int = MAX_OUTPUT
    #: Exit statuses that count as success.
    success_codes: list[int] = msgspec.field(default_factory=lambda: [0])
    #: Indexes of templated ``argv`` elements that may render to an option (text starting with ``-``).
    argv_options: list[int] = []

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_argv(self.argv)
        _check_argv_options(self.argv, self.argv_options)
        if self.cwd is not None and not os.path.isabs(self.cwd):
            raise field_error("cwd", f"must be an absolute path, got {self.cwd!r}")
        for name, value in self.env.items():
            if not is_env_name(name):
                raise field_error(f"env.{name}", "is not a valid environment variable name")
            if "\0" in value:
                raise field_error(f"env.{name}", "contains a NUL character")
        check_env_names(self.env_allow, "env_allow")
        check_max_output(self.max_output)
        if not self.success_codes:
            raise field_error("success_codes", "must not be empty")
        for i, code in enumerate(self.success_codes):
            if not 0 <= code <= 255:
                raise field_error(f"success_codes[{i}]", f"{code} is not an exit status (0-255)")


def _check_argv(argv: list[TemplateText]) -> None:
    """A fixed, absolute program path; arguments (templates) without NUL characters."""
    if not argv:
        raise field_error("argv", "must not be empty: argv[0] is the program to run")
    program = argv[0]
    if has_markup(program):
        raise field_error("argv[0]", "the program must be a fixed path, not a template")
    if not os.path.isabs(program):
        raise field_error("argv[0]", f"must be an absolute path to an executable, got {program!r}")
    for i, arg in enumerate(argv):
        if "\0" in arg:
            raise field_error(f"argv[{i}]", "contains a NUL character")


def _end_of_options(argv: list[TemplateText]) -> int:
    """The index of the first fixed ``--`` argument (what follows it are operands), or len(argv)."""
    return next((i for i, arg in enumerate(argv) if i and arg == "--"), len(argv))


def _check_argv_options(argv: list[TemplateText], options: list[int]) -> None:
    """Each index names a templated argument before any fixed ``--``: the only ones ever refused."""
    end = _end_of_options(argv)
    for k, i in enumerate(options):
        field = f"argv_options[{k}]"
        if not 1 <= i < len(argv):
            raise field_error(field, f"argv has no argument {i} (argv[0] is the program; its arguments are "
                                     f"argv[1] to argv[{len(argv) - 1}])")
        if not has_markup(argv[i]):
            raise field_error(field, f"argv[{i}] ({str(argv[i])!r}) is fixed text, not a template: it is "
                                     "never refused, so it needs no entry here")
        if i > end:
            raise field_error(field, f"argv[{i}] comes after the fixed '--' at argv[{end}]: it is an "
                                     "operand and never refused, so it needs no entry here")


def _shown(value: str, limit: int = 80) -> str:
    return repr(value) if len(value) <= limit else repr(value[:limit]) + "..."


class CommandRemediation:
    """``render`` -> ``{"argv", "cwd", "env", "env_inherited"}``; ``execute`` runs it (run_process)."""

    def __init__(self, config: CommandConfig, templates: Templates) -> None:
        self.config = config
        self.program = str(config.argv[0])
        self.args = [CompiledTemplate(templates, a, f"argv[{i}]") for i, a in enumerate(config.argv[1:], 1)]
        self.env = {k: CompiledTemplate(templates, v, f"env.{k}") for k, v in config.env.items()}
        #: Templated arguments whose rendered text may not start with "-" (see the module's notes).
        self.guarded = [i for i in range(1, _end_of_options(config.argv))
                        if has_markup(config.argv[i]) and i not in config.argv_options]

    def render(self, data: dict[str, Any]) -> Rendered:
        argv = [self.program] + [t.render(data) for t in self.args]
        for i, arg in enumerate(argv):
            if "\0" in arg:
                raise RemediationRefused(f"argv[{i}] rendered with a NUL character, which cannot be passed "
                                       "to a program; refusing to run")
        env: dict[str, str] = {}
        for name, t in self.env.items():
            value = t.render(data)
            if "\0" in value:
                raise RemediationRefused(f"env.{name} rendered with a NUL character; refusing to run")
            env[name] = value
        inherited = [n for n in self.config.env_allow if n not in env]
        rendered = Rendered(
            summary="argv: " + shlex.join(argv),
            detail={"argv": argv, "cwd": self.config.cwd, "env": env, "env_inherited": inherited},
        )
        for i in self.guarded:
            if argv[i].startswith("-"):
                raise RemediationRefused(
                    f"argv[{i}] rendered as {_shown(argv[i])}, which starts with '-': the program would take "
                    f"it as an option. Refusing to run (if it may be an option, list {i} in argv_options; "
                    "if it is an operand, put a fixed '--' argument before it)", rendered)
        return rendered

    async def execute(self, rendered: Rendered, ctx: ExecContext) -> Outcome:
        detail = rendered.detail
        argv, env = detail.get("argv"), detail.get("env") or {}
        if not isinstance(argv, list) or not argv or argv[0] != self.program:
            return fail(f"the rendered argv does not start with this remediation's program {self.program} "
                        "(was the config changed since it was rendered?); nothing ran")
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            return fail("the rendered env is not a mapping of strings; nothing ran")
        return await run_process(
            argv, env=child_env(self.config.env_allow, env), cwd=self.config.cwd, timeout=ctx.timeout,
            max_output=self.config.max_output, success_codes=self.config.success_codes,
        )


COMMAND = RemediationKind("command", CommandConfig, CommandRemediation)


@hookimpl
def tocsin_remediation_kinds() -> list[RemediationKind]:
    return [COMMAND]
