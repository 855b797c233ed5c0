"""Loading one ``remediations:`` entry the way the daemon does, and running it as the engine does."""

from __future__ import annotations

import stat
import sys
import textwrap
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tocsin.config.document import ConfigError
from tocsin.remediation import ExecContext, Outcome
from tocsin.testing import make_config


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


def ctx(session: aiohttp.ClientSession, timeout: float = 10.0) -> ExecContext:
    return ExecContext(session=session, timeout=timeout, remediation="fix", fingerprint="0123abcd")


async def run(spec: Any, session: aiohttp.ClientSession, data: dict[str, Any] | None = None, *,
              timeout: float = 10.0) -> Outcome:
    """Render for ``data`` (default: an alert with no extra labels) and run it, as the engine does."""
    rendered = spec.remediation.render(data or alert_data())
    return await spec.remediation.execute(rendered, ctx(session, timeout))
