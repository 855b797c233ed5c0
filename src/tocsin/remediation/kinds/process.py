"""Running a program for a remediation: no shell, its own process group, bounded output.

:func:`run_process` is what the ``command`` and ``systemd`` kinds run through
(``create_subprocess_exec``: an argv is never split, globbed or given to a
shell). The child gets no stdin, only the environment it is given (see
:func:`child_env`), and leads its own process group, which is killed as a
whole on timeout or cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Iterable, Mapping, Sequence

from tocsin.config.validate import field_error
from tocsin.remediation import MAX_OUTPUT, Outcome
from tocsin.remediation.kinds.output import OutputCapture, fail

__all__ = ["DEFAULT_ENV_ALLOW", "KILL_GRACE", "check_env_names", "child_env", "is_env_name", "run_process"]

#: What a child inherits from tocsin's environment unless ``env_allow`` says otherwise.
DEFAULT_ENV_ALLOW = ("PATH", "LANG", "LC_ALL", "TZ")
#: After SIGTERM to a timed-out run's process group, this long before SIGKILL.
KILL_GRACE = 2.0

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_env_name(name: str) -> bool:
    """Whether ``name`` may be an environment variable's name (letters, digits, _; no digit first)."""
    return bool(_ENV_NAME.match(name))


def check_env_names(names: Iterable[str], field: str) -> None:
    """An ``env_allow``-like config field's check: each entry is a variable name."""
    for i, name in enumerate(names):
        if not is_env_name(name):
            raise field_error(f"{field}[{i}]", f"{name!r} is not a valid environment variable name")


def child_env(allow: Iterable[str], extra: Mapping[str, str]) -> dict[str, str]:
    """The names in ``allow`` copied from tocsin's environment, then ``extra``; nothing else."""
    env = {name: os.environ[name] for name in allow if name in os.environ}
    env.update(extra)
    return env


# -- the process group ----------------------------------------------------------------------------


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


# -- running --------------------------------------------------------------------------------------


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


class _NotStarted(Exception):
    """The program could not be started; the message says why."""


_Started = tuple[asyncio.subprocess.Process, asyncio.StreamReader, asyncio.ReadTransport]


async def _start(argv: list[str], env: Mapping[str, str], cwd: str | None) -> _Started:
    """Start ``argv`` in a new session, its stdout and stderr on one pipe read through a stream."""
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
            raise _NotStarted(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
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
    return proc, stream, transport


async def _supervise(started: _Started, capture: OutputCapture, timeout: float) -> tuple[bool, int | None]:
    """Read the output into ``capture`` and wait for the exit; past ``timeout``, kill the group.
    Answers whether it timed out, and the exit status if the program exited by then."""
    proc, stream, transport = started
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
    return timed_out, waiter.result() if exited_first else None


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
        return fail(refused)
    try:
        started = await _start(argv, env, cwd)
    except _NotStarted as exc:
        return fail(str(exc))
    capture = OutputCapture(max_output)
    timed_out, code = await _supervise(started, capture, timeout)
    output = capture.text()
    if timed_out:
        error = f"timed out after {timeout:g}s"
        if code is not None:
            error += (f" (the program {_describe_exit(code)}, but processes it started"
                      " kept its output open)")
        return fail(error, output=output)
    assert code is not None  # not timed out: it exited
    if code in set(success_codes):
        return Outcome(ok=True, exit_code=code, output=output)
    return fail(_describe_exit(code), exit_code=code, output=output)
