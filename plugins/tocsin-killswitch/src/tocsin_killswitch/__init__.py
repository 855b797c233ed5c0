"""The ``killswitch`` remediation kind for tocsin: flip a feature flag in a JSON file.

Applications that read their feature flags from a JSON object on disk
(``{"search.enabled": true, "recommendations.enabled": true}``) can have an
expensive or misbehaving feature turned off by a remediation::

    remediations:
      - name: search-off
        kind: killswitch
        path: /etc/myapp/flags.json
        flag: "{{ labels.feature }}.enabled"     # a template; renders to the key
        value: false                             # any JSON value; default false
        create: true                             # create the file if missing (default)

Running it sets that one top-level key and keeps every other key. The file is
replaced atomically (a temporary file in the same directory, written, fsync'ed,
then ``os.replace``), so a reader sees the old document or the new one, never
half of one. The outcome says what changed: ``flag search.enabled: true -> false``.

Everything the plugin registers lives in this module: a config Struct, a
factory, and the ``tocsin_remediation_kinds`` hook that contributes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import threading
from typing import Any

from tocsin import hookimpl
from tocsin.config.validate import field_error
from tocsin.notify.templates import Templates
from tocsin.remediation import (
    ExecContext,
    Outcome,
    RemediationConfig,
    RemediationError,
    RemediationKind,
    Rendered,
)
from tocsin.remediation.kinds import CompiledTemplate, TemplateText

__version__ = "0.1.0"

__all__ = ["KILLSWITCH", "Killswitch", "KillswitchConfig", "__version__", "flip"]

_ABSENT = object()


class KillswitchConfig(RemediationConfig):
    """A ``remediations:`` entry of ``kind: killswitch``; the shared guards come from the base class."""

    #: The JSON file (absolute path). It holds one JSON object.
    path: str
    #: The key to set: a template, e.g. ``"{{ labels.feature }}.enabled"``. Top-level, used as is.
    flag: TemplateText
    #: The JSON value to set it to.
    value: Any = False
    #: Create the file (``{flag: value}``) when it does not exist; otherwise that is a failure.
    create: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()  # name, timeout, for, cooldown, max_per_hour
        if not os.path.isabs(self.path):
            raise field_error("path", f"must be an absolute path, got {self.path!r}")
        if self.path.endswith("/"):
            raise field_error("path", "must name a file, not a directory")
        try:
            json.dumps(self.value, allow_nan=False)
        except (TypeError, ValueError):
            raise field_error("value", f"must be a JSON value, got {self.value!r}") from None


class KillswitchError(Exception):
    """Why the flag could not be set (becomes the outcome's error)."""


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON (``1 == True`` in Python, not in JSON)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value, ensure_ascii=False)


# One writer per file at a time within tocsin (runs for several alerts can overlap).
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(path: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


def _write_atomically(path: str, doc: dict[str, Any], mode: int) -> None:
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)


def flip(path: str, flag: str, value: Any, *, create: bool = True) -> str:
    """Set ``flag`` to ``value`` in the JSON object in ``path``; answer what changed.

    Blocking (run it in a thread). A symlink is followed: its target is replaced and the
    link kept. The file's permission bits are kept; a new file gets 0644.
    """
    real = os.path.realpath(path)
    with _lock(real):
        try:
            with open(real, encoding="utf-8") as f:
                text = f.read()
                mode = os.fstat(f.fileno()).st_mode & 0o7777
        except FileNotFoundError:
            if not create:
                raise KillswitchError(f"{path} does not exist (create: false)") from None
            if not os.path.isdir(os.path.dirname(real)):
                raise KillswitchError(f"cannot create {path}: its directory does not exist") from None
            doc: Any = {}
            mode = 0o644
        else:
            try:
                doc = json.loads(text)
            except ValueError as exc:
                raise KillswitchError(f"{path} is not valid JSON ({exc}); left as it is") from None
            if not isinstance(doc, dict):
                raise KillswitchError(f"{path} does not hold a JSON object; left as it is")
        previous = doc.get(flag, _ABSENT)
        change = f"flag {flag}: {_show(previous)} -> {_show(value)}"
        if previous is not _ABSENT and _same(previous, value):
            return change + " (already set; file not rewritten)"
        doc[flag] = value
        _write_atomically(real, doc, mode)
        return change


class Killswitch:
    """What ``factory(config, templates)`` builds: renders the flag, then sets it."""

    def __init__(self, config: KillswitchConfig, templates: Templates) -> None:
        self.config = config
        # Compiled at load: a template error is reported when the config loads.
        self.flag = CompiledTemplate(templates, config.flag, "flag")

    def render(self, data: dict[str, Any]) -> Rendered:
        flag = self.flag.render(data)  # raises RemediationError, e.g. for a label the alert lacks
        if not flag.strip():
            raise RemediationError("flag rendered empty")
        c = self.config
        return Rendered(
            summary=f"killswitch: set {flag} = {_show(c.value)} in {c.path}",
            detail={"path": c.path, "flag": flag, "value": c.value, "create": c.create},
        )

    async def execute(self, rendered: Rendered, ctx: ExecContext) -> Outcome:
        c = self.config
        d = rendered.detail
        flag = d.get("flag")
        if not isinstance(flag, str) or d.get("path") != c.path or not _same(d.get("value"), c.value):
            return Outcome(ok=False, error="the rendered run does not match this remediation's config "
                                           "(was it changed since?); nothing was written")
        try:
            # Never raise for a failure of what runs: every way it can fail becomes the Outcome.
            output = await asyncio.wait_for(asyncio.to_thread(flip, c.path, flag, c.value, create=c.create),
                                            ctx.timeout)
        except TimeoutError:
            return Outcome(ok=False, error=f"timed out after {ctx.timeout:g}s (the write may still complete)")
        except KillswitchError as exc:
            return Outcome(ok=False, error=str(exc))
        except OSError as exc:
            return Outcome(ok=False, error=f"cannot write {c.path}: {exc.strerror or exc}")
        return Outcome(ok=True, output=output)


KILLSWITCH = RemediationKind("killswitch", KillswitchConfig, Killswitch)


@hookimpl
def tocsin_remediation_kinds() -> list[RemediationKind]:
    return [KILLSWITCH]
