"""The built-in remediation kinds: ``command``, ``webhook`` and ``systemd``.

Each is a :class:`~tocsin.remediation.RemediationKind` (config Struct,
factory, load-time check) contributed by :func:`tocsin_remediation_kinds`,
registered through the ``tocsin.plugins`` entry point ``remediation-kinds``
exactly as a third-party kind would be.

``command``
    Runs a program with an argv whose elements are Jinja2 templates. Each
    element renders to exactly one argument: nothing is ever split, globbed
    or given to a shell (:func:`run_process` uses ``create_subprocess_exec``).
    The program (``argv[0]``) is a fixed absolute path, never a template. The
    child gets no stdin, an environment of ``env_allow`` names copied from
    tocsin's plus the rendered ``env``, and its own process group, which is
    killed as a whole on timeout.
``webhook``
    Sends one HTTP request with a JSON body (the alert's data, or
    ``body_template``), optionally with a bearer token and an HMAC-SHA256
    signature of the body in ``X-Tocsin-Signature: sha256=<hex>`` (the
    webhook channel's format). Credentials are never part of what is shown.
``systemd``
    ``systemctl [--user] <action> -- <unit>`` with the unit rendered from a
    template, checked against a strict unit-name syntax and ``allowed_units``
    when rendered, so an approver sees a refusal rather than a surprise.

Templates render with :class:`jinja2.StrictUndefined`: a label the template
names that the alert lacks is an error (:class:`RemediationError`), not an
empty string; write ``{{ labels.x | default("") }}`` to allow it.

The helpers plugin kinds may reuse: :class:`TemplateText` (a template config
field that also accepts a YAML number), :class:`CompiledTemplate`,
:func:`run_process`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import hmac
import json
import os
import re
import shlex
import signal
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import aiohttp
import jinja2
import msgspec

from tocsin import hookimpl
from tocsin.channels import DeliveryError
from tocsin.channels.http import HTTPConfig, redact_url
from tocsin.config.types import URL, Secret
from tocsin.config.validate import field_error
from tocsin.notify.templates import Template, Templates
from tocsin.remediation import (
    MAX_OUTPUT,
    ExecContext,
    Outcome,
    RemediationConfig,
    RemediationError,
    RemediationKind,
    Rendered,
    truncate_output,
)

__all__ = [
    "COMMAND", "DEFAULT_ENV_ALLOW", "SYSTEMD", "SYSTEMD_ENV_ALLOW", "UNIT_SUFFIXES", "WEBHOOK",
    "CommandConfig", "CommandRemediation", "CompiledTemplate", "SystemdConfig", "SystemdRemediation",
    "TemplateText", "WebhookRemediation", "WebhookRemediationConfig", "run_process", "shown_url",
    "tocsin_remediation_kinds", "unit_problem",
]

#: What a ``command`` child inherits from tocsin's environment unless ``env_allow`` says otherwise.
DEFAULT_ENV_ALLOW = ("PATH", "LANG", "LC_ALL", "TZ")
#: ``systemctl --user`` also needs to find the user's manager.
SYSTEMD_ENV_ALLOW = (*DEFAULT_ENV_ALLOW, "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")
#: After SIGTERM to a timed-out run's process group, this long before SIGKILL.
KILL_GRACE = 2.0
#: Response bytes read (and counted) past ``max_output`` before tocsin stops reading.
_HTTP_DISCARD = 1024 * 1024
#: Shown in a rendered request instead of a credential.
SECRET_SHOWN = "<secret>"

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.\-@]+$")
#: Every systemd unit type.
UNIT_SUFFIXES = (".service", ".socket", ".target", ".timer", ".path", ".mount", ".automount", ".swap",
                 ".slice", ".scope", ".device")
_UNIT_MAX = 255


# -- templates ------------------------------------------------------------------------------------


def _has_markup(text: str) -> bool:
    return any(m in text for m in ("{{", "{%", "{#"))


class TemplateText(Template):
    """A template field (syntax checked at load) that also takes a YAML number or boolean
    as its text, so ``argv: [/usr/bin/x, --count, 5]`` needs no quotes."""

    __slots__ = ()

    @classmethod
    def from_config(cls, obj: object) -> TemplateText:
        if isinstance(obj, bool):
            obj = "true" if obj else "false"
        elif isinstance(obj, int | float):
            obj = str(obj)
        return cls(Template.from_config(obj))


_strict_envs: weakref.WeakKeyDictionary[Templates, jinja2.Environment] = weakref.WeakKeyDictionary()


def _strict_env(templates: Templates) -> jinja2.Environment:
    """The config's sandboxed environment (with its macros and filters), but strict about undefined names."""
    env = _strict_envs.get(templates)
    if env is None:
        env = templates.env.overlay(undefined=jinja2.StrictUndefined)
        _strict_envs[templates] = env
    return env


class CompiledTemplate:
    """One template of a remediation, compiled at load; ``render`` raises :class:`RemediationError`."""

    def __init__(self, templates: Templates, source: str, what: str) -> None:
        self.source = source
        self.what = what
        try:
            self._template = _strict_env(templates).from_string(source)
        except jinja2.TemplateError as exc:
            raise RemediationError(f"{what}: {exc}") from None

    def render(self, data: Mapping[str, Any]) -> str:
        try:
            return self._template.render(**data)
        except Exception as exc:  # undefined names, sandbox refusals, errors in filters and macros
            raise RemediationError(f"{self.what}: {type(exc).__name__}: {exc}") from None


# -- processes ------------------------------------------------------------------------------------


class _Capture:
    """The first ``limit`` bytes of a stream, and how many came in all."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.total = 0
        self.stopped = False

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept += chunk[:room]

    def text(self) -> str:
        text = self.kept.decode("utf-8", "replace")
        cut = self.total - len(self.kept)
        if self.stopped:
            return f"{text}\n[... more than {cut} bytes cut]"
        if cut:
            return f"{text}\n[... {cut} more bytes cut]"
        return truncate_output(text, self.limit)  # never cuts: at most `limit` bytes were kept

    async def drain(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            self.feed(chunk)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _kill_group(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the process group, SIGKILL it if anything of it is left after ``grace``."""
    pgid = proc.pid  # start_new_session: the child leads its own group
    _signal_group(pgid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    # Nothing announces that a group emptied (the leader's exit is not enough): poll.
    while loop.time() < deadline and _group_alive(pgid):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    if _group_alive(pgid):
        _signal_group(pgid, signal.SIGKILL)
    if proc.returncode is None:  # the leader moved itself to another group
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    await proc.wait()


def _fail(error: str, **kw: Any) -> Outcome:
    return Outcome(ok=False, error=error, **kw)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exited with status {code}"


def _cannot_run(argv: list[str], cwd: str | None) -> str | None:
    """Why ``argv`` cannot be started as it is (checked before trying, for a clear message)."""
    if not argv:
        return "nothing to run: empty argv"
    for i, arg in enumerate(argv):
        if not isinstance(arg, str):
            return f"argv[{i}] is not a string"
        if "\0" in arg:
            return f"argv[{i}] contains a NUL character; refusing to run"
    program = argv[0]
    if not os.path.isabs(program):
        return f"{program!r} is not an absolute path; refusing to run"
    if not os.path.isfile(program):
        what = "is a directory" if os.path.isdir(program) else "does not exist"
        return f"cannot run {program}: it {what}"
    if not os.access(program, os.X_OK):
        return f"cannot run {program}: it is not executable"
    if cwd is not None and not os.path.isdir(cwd):
        return f"cannot run {program}: cwd {cwd} is not a directory"
    return None


async def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    cwd: str | None = None,
    max_output: int = MAX_OUTPUT,
    success_codes: Iterable[int] = (0,),
) -> Outcome:
    """Run ``argv`` (no shell, ever) and answer its :class:`Outcome`; never raises for its failure.

    stdin is /dev/null; stdout and stderr are one pipe, so the output reads in the order the
    program wrote it (at most ``max_output`` bytes are kept; the rest is counted). The child
    leads a new session and process group. The run ends when the program has exited and its
    output is closed; past ``timeout`` seconds the whole group gets SIGTERM, then SIGKILL
    after :data:`KILL_GRACE` seconds.
    """
    argv = list(argv)
    refused = _cannot_run(argv, cwd)
    if refused:
        return _fail(refused)
    program = argv[0]
    loop = asyncio.get_running_loop()
    # Our own pipe rather than PIPE: asyncio (3.11) would only report the exit once the pipe
    # closed, and a process that escaped the group could hold it open for ever. Both fds are
    # close-on-exec; the child gets the write end as its stdout and stderr.
    read_fd, write_fd = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
        )
    except BaseException as exc:
        os.close(read_fd)
        if isinstance(exc, OSError):
            return _fail(f"cannot run {program}: {exc.strerror or exc}")
        raise
    finally:
        os.close(write_fd)
    stream = asyncio.StreamReader(loop=loop)
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream, loop=loop), os.fdopen(read_fd, "rb", buffering=0))
    except BaseException:
        _signal_group(proc.pid, signal.SIGKILL)
        raise
    capture = _Capture(max_output)
    reader = asyncio.ensure_future(capture.drain(stream))
    waiter = asyncio.ensure_future(proc.wait())
    try:
        await asyncio.wait({reader, waiter}, timeout=timeout)
        timed_out = not (reader.done() and waiter.done())
        exited_first = waiter.done()
        if timed_out:
            await _kill_group(proc, KILL_GRACE)
            # The group is gone, so is the pipe's write end, unless a process left the group.
            await asyncio.wait({reader}, timeout=0.5)
    except BaseException:  # cancelled (shutdown, the engine's own bound): leave nothing running
        _signal_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise
    finally:
        transport.close()
        for task in (reader, waiter):
            if not task.done():
                task.cancel()
    if reader.done() and not reader.cancelled() and reader.exception() is not None:
        capture.feed(f"\n[output unreadable: {reader.exception()}]".encode())
    output = capture.text()
    if timed_out:
        error = f"timed out after {timeout:g}s"
        if exited_first:
            error += (f" (the program {_describe_exit(waiter.result())}, but processes it started"
                      " kept its output open)")
        return _fail(error, output=output)
    code = waiter.result()
    if code in set(success_codes):
        return Outcome(ok=True, exit_code=code, output=output)
    return _fail(_describe_exit(code), exit_code=code, output=output)


def _child_env(allow: Iterable[str], extra: Mapping[str, str]) -> dict[str, str]:
    env = {name: os.environ[name] for name in allow if name in os.environ}
    env.update(extra)
    return env


def _check_env_names(names: Iterable[str], field: str) -> None:
    for i, name in enumerate(names):
        if not _ENV_NAME.match(name):
            raise field_error(f"{field}[{i}]", f"{name!r} is not a valid environment variable name")


def _check_max_output(value: int) -> None:
    if value < 1:
        raise field_error("max_output", "must be at least 1 (bytes)")


# -- command --------------------------------------------------------------------------------------


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

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.argv:
            raise field_error("argv", "must not be empty: argv[0] is the program to run")
        program = self.argv[0]
        if _has_markup(program):
            raise field_error("argv[0]", "the program must be a fixed path, not a template")
        if not os.path.isabs(program):
            raise field_error("argv[0]", f"must be an absolute path to an executable, got {program!r}")
        for i, arg in enumerate(self.argv):
            if "\0" in arg:
                raise field_error(f"argv[{i}]", "contains a NUL character")
        if self.cwd is not None and not os.path.isabs(self.cwd):
            raise field_error("cwd", f"must be an absolute path, got {self.cwd!r}")
        for name, value in self.env.items():
            if not _ENV_NAME.match(name):
                raise field_error(f"env.{name}", "is not a valid environment variable name")
            if "\0" in value:
                raise field_error(f"env.{name}", "contains a NUL character")
        _check_env_names(self.env_allow, "env_allow")
        _check_max_output(self.max_output)
        if not self.success_codes:
            raise field_error("success_codes", "must not be empty")
        for i, code in enumerate(self.success_codes):
            if not 0 <= code <= 255:
                raise field_error(f"success_codes[{i}]", f"{code} is not an exit status (0-255)")


class CommandRemediation:
    """``render`` -> ``{"argv", "cwd", "env", "env_inherited"}``; ``execute`` runs it (run_process)."""

    def __init__(self, config: CommandConfig, templates: Templates) -> None:
        self.config = config
        self.program = str(config.argv[0])
        self.args = [CompiledTemplate(templates, a, f"argv[{i}]") for i, a in enumerate(config.argv[1:], 1)]
        self.env = {k: CompiledTemplate(templates, v, f"env.{k}") for k, v in config.env.items()}

    def render(self, data: dict[str, Any]) -> Rendered:
        argv = [self.program] + [t.render(data) for t in self.args]
        for i, arg in enumerate(argv):
            if "\0" in arg:
                raise RemediationError(f"argv[{i}] rendered with a NUL character, which cannot be passed "
                                       "to a program; refusing to run")
        env: dict[str, str] = {}
        for name, t in self.env.items():
            value = t.render(data)
            if "\0" in value:
                raise RemediationError(f"env.{name} rendered with a NUL character; refusing to run")
            env[name] = value
        inherited = [n for n in self.config.env_allow if n not in env]
        return Rendered(
            summary="argv: " + shlex.join(argv),
            detail={"argv": argv, "cwd": self.config.cwd, "env": env, "env_inherited": inherited},
        )

    async def execute(self, rendered: Rendered, ctx: ExecContext) -> Outcome:
        detail = rendered.detail
        argv, env = detail.get("argv"), detail.get("env") or {}
        if not isinstance(argv, list) or not argv or argv[0] != self.program:
            return _fail(f"the rendered argv does not start with this remediation's program {self.program} "
                         "(was the config changed since it was rendered?); nothing ran")
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            return _fail("the rendered env is not a mapping of strings; nothing ran")
        return await run_process(
            argv, env=_child_env(self.config.env_allow, env), cwd=self.config.cwd, timeout=ctx.timeout,
            max_output=self.config.max_output, success_codes=self.config.success_codes,
        )


# -- systemd --------------------------------------------------------------------------------------


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
        _check_env_names(self.env_allow, "env_allow")
        _check_max_output(self.max_output)


def _systemd_check(config: SystemdConfig) -> list[tuple[str, str]]:
    if not _has_markup(config.unit):
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
        problem = unit_problem(unit, self.allowed)
        if problem:
            raise RemediationError(problem)
        argv = self.argv(unit)
        return Rendered(summary="argv: " + shlex.join(argv),
                        detail={"argv": argv, "unit": unit, "action": self.config.action,
                                "user": self.config.user})

    async def execute(self, rendered: Rendered, ctx: ExecContext) -> Outcome:
        unit = rendered.detail.get("unit")
        if not isinstance(unit, str):
            return _fail("no unit in the rendered request; nothing ran")
        problem = unit_problem(unit, self.allowed)  # the config may have changed since it was rendered
        if problem:
            return _fail(problem)
        return await run_process(
            self.argv(unit), env=_child_env(self.config.env_allow, {}), timeout=ctx.timeout,
            max_output=self.config.max_output,
        )


# -- webhook --------------------------------------------------------------------------------------


def shown_url(url: str) -> str:
    """The URL as approvers and records see it: scheme and host, no credentials, path or query."""
    parts = url.split("://", 1)
    if len(parts) == 2:
        scheme, rest = parts
        netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        url = f"{scheme}://{netloc.rpartition('@')[2]}/"
    return redact_url(url)


def _read_secret(path: str, field: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise RemediationError(f"{field}: cannot read {path}: {why}") from None


class WebhookRemediationConfig(RemediationConfig):
    url: URL | None = None
    #: File holding the URL (read when rendered and when run, so it can be rotated).
    url_file: str | None = None
    method: Literal["POST", "PUT", "PATCH", "DELETE"] = "POST"
    #: Extra headers; values are templates and are shown to approvers (no credentials here).
    headers: dict[str, TemplateText] = {}
    #: Jinja2 template for the body; it must render JSON. Default: the alert's data as JSON.
    body_template: Template | None = None
    bearer_token: Secret | None = None
    bearer_token_file: str | None = None
    #: Signs the body: ``<hmac_header>: sha256=<hex HMAC-SHA256 of the body>``.
    hmac_secret: Secret | None = None
    hmac_secret_file: str | None = None
    hmac_header: str = "X-Tocsin-Signature"
    #: Statuses that count as success; empty: any 2xx.
    expected_status: list[int] = []
    #: TLS, basic auth, authorization, redirects.
    http_config: HTTPConfig | None = None
    #: Response body bytes kept.
    max_output: int = MAX_OUTPUT

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in self.headers:
            if not _HEADER_NAME.match(name):
                raise field_error(f"headers.{name}", "is not a valid HTTP header name")
        if not _HEADER_NAME.match(self.hmac_header):
            raise field_error("hmac_header", "is not a valid HTTP header name")
        for i, status in enumerate(self.expected_status):
            if not 100 <= status <= 599:
                raise field_error(f"expected_status[{i}]", f"{status} is not an HTTP status")
        _check_max_output(self.max_output)


_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization")


def _webhook_check(c: WebhookRemediationConfig) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if (c.url is None) == (c.url_file is None):
        problems.append(("url", "exactly one of url and url_file must be set"))
    if c.bearer_token and c.bearer_token_file:
        problems.append(("bearer_token_file", "set bearer_token or bearer_token_file, not both"))
    if c.hmac_secret and c.hmac_secret_file:
        problems.append(("hmac_secret_file", "set hmac_secret or hmac_secret_file, not both"))
    h = c.http_config
    if (c.bearer_token or c.bearer_token_file) and h is not None and (
            h.authorization or h.basic_auth or h.bearer_token or h.bearer_token_file):
        problems.append(("bearer_token", "http_config already sets the Authorization header; set one"))
    for name in c.headers:
        if name.lower() in _CREDENTIAL_HEADERS:
            problems.append((f"headers.{name}", "headers are shown to approvers and kept in records: put "
                                                "credentials in bearer_token(_file) or http_config"))
        elif name.lower() == c.hmac_header.lower():
            problems.append((f"headers.{name}", "this is the signature header (hmac_header)"))
    return problems


class WebhookRemediation:
    """``render`` -> ``{"method", "url", "headers", "body"}``: the URL cut to scheme and host,
    credentials shown as ``<secret>``. ``execute`` reads the real URL and credentials then."""

    def __init__(self, config: WebhookRemediationConfig, templates: Templates) -> None:
        self.config = config
        self.headers = {k: CompiledTemplate(templates, v, f"headers.{k}") for k, v in config.headers.items()}
        self.body = (CompiledTemplate(templates, config.body_template, "body_template")
                     if config.body_template is not None else None)
        h = config.http_config
        self.has_auth = bool(config.bearer_token or config.bearer_token_file or (h is not None and (
            h.authorization or h.basic_auth or h.bearer_token or h.bearer_token_file)))
        self.signs = bool(config.hmac_secret or config.hmac_secret_file)
        self.managed = {"authorization", config.hmac_header.lower()}

    def url(self) -> str:
        if self.config.url is not None:
            return self.config.url
        assert self.config.url_file is not None
        text = _read_secret(self.config.url_file, "url_file")
        try:
            return URL.parse(text)
        except ValueError:
            raise RemediationError(f"url_file: {self.config.url_file} does not hold an http(s) URL") from None

    def render_body(self, data: dict[str, Any]) -> str:
        if self.body is None:
            return msgspec.json.encode({**data, "remediation": self.config.name}).decode()
        text = self.body.render(data)
        try:
            json.loads(text)
        except ValueError as exc:
            raise RemediationError(f"body_template did not render JSON: {exc}") from None
        return text

    def render(self, data: dict[str, Any]) -> Rendered:
        shown = shown_url(self.url())
        body = self.render_body(data)
        headers = {"Content-Type": "application/json"}
        for name, t in self.headers.items():
            value = t.render(data)
            if any(c in value for c in "\r\n\0"):
                raise RemediationError(f"headers.{name} rendered with a line break or NUL, which an HTTP "
                                       "header cannot hold; refusing to send")
            if name.lower() == "content-type":
                headers.pop("Content-Type", None)
            headers[name] = value
        if self.has_auth:
            headers["Authorization"] = SECRET_SHOWN
        if self.signs:
            headers[self.config.hmac_header] = SECRET_SHOWN
        return Rendered(summary=f"{self.config.method} {shown}",
                        detail={"method": self.config.method, "url": shown, "headers": headers, "body": body})

    def credential_headers(self, body: bytes) -> dict[str, str]:
        """Authorization and signature, read now (files are read at each run, so they can be rotated)."""
        c = self.config
        out: dict[str, str] = {}
        if c.bearer_token_file:
            out["Authorization"] = f"Bearer {_read_secret(c.bearer_token_file, 'bearer_token_file')}"
        elif c.bearer_token:
            out["Authorization"] = f"Bearer {c.bearer_token}"
        elif c.http_config is not None:
            try:
                out.update(c.http_config.headers())
            except DeliveryError as exc:
                raise RemediationError(f"http_config: {exc}") from None
        secret = _read_secret(c.hmac_secret_file, "hmac_secret_file") if c.hmac_secret_file else c.hmac_secret
        if secret:
            # As the webhook channel signs: GitHub's format, over the exact bytes sent.
            digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            out[c.hmac_header] = f"sha256={digest}"
        return out

    async def execute(self, rendered: Rendered, ctx: ExecContext) -> Outcome:
        d = rendered.detail
        body_text, shown_headers = d.get("body"), d.get("headers") or {}
        if not isinstance(body_text, str) or not isinstance(shown_headers, dict):
            return _fail("the rendered request has no body or headers; nothing was sent")
        body = body_text.encode()
        c = self.config
        try:
            url = self.url()
            headers = {"User-Agent": "tocsin"}
            headers.update({k: str(v) for k, v in shown_headers.items() if k.lower() not in self.managed})
            headers.update(self.credential_headers(body))
            ssl_ctx = c.http_config.ssl_context() if c.http_config is not None else None
        except RemediationError as exc:
            return _fail(str(exc))
        except OSError as exc:  # TLS files
            return _fail(f"http_config.tls_config: {exc.strerror or exc}")
        shown = shown_url(url)
        capture = _Capture(c.max_output)
        status: int | None = None
        try:
            async with asyncio.timeout(ctx.timeout), ctx.session.request(
                c.method, url, data=body, headers=headers,
                allow_redirects=c.http_config.follow_redirects if c.http_config is not None else True,
                ssl=ssl_ctx if ssl_ctx is not None else True,
            ) as resp:
                status = resp.status
                async for chunk in resp.content.iter_any():
                    capture.feed(chunk)
                    if capture.total > c.max_output + _HTTP_DISCARD:
                        capture.stopped = True
                        break
        except TimeoutError:
            return _fail(f"timed out after {ctx.timeout:g}s", http_status=status, output=capture.text())
        except (aiohttp.ClientError, ValueError) as exc:
            text = str(exc).replace(url, shown)  # never echo a URL that may carry a token
            return _fail(f"{shown}: {type(exc).__name__}: {text}".rstrip(": "), http_status=status,
                         output=capture.text())
        output = capture.text()
        expected = c.expected_status
        ok = status in expected if expected else 200 <= status < 300
        if ok:
            return Outcome(ok=True, http_status=status, output=output)
        want = ", ".join(map(str, expected)) if expected else "2xx"
        return _fail(f"HTTP {status}, expected {want}", http_status=status, output=output)


# -- registration ---------------------------------------------------------------------------------

COMMAND = RemediationKind("command", CommandConfig, CommandRemediation)
WEBHOOK = RemediationKind("webhook", WebhookRemediationConfig, WebhookRemediation, _webhook_check)
SYSTEMD = RemediationKind("systemd", SystemdConfig, SystemdRemediation, _systemd_check)


@hookimpl
def tocsin_remediation_kinds() -> list[RemediationKind]:
    return [COMMAND, WEBHOOK, SYSTEMD]
