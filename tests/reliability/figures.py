"""What the reliability tests measure of a daemon process, and where they report it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["open_fds", "rss_kib", "write_report"]


def write_report(key: str, figures: dict[str, Any]) -> None:
    """Append ``{key: figures}`` as one JSON line to ``$TOCSIN_RELIABILITY_REPORT``, if set."""
    report = os.environ.get("TOCSIN_RELIABILITY_REPORT")
    if report:
        with open(report, "a") as f:
            f.write(json.dumps({key: figures}) + "\n")


def rss_kib(pid: int) -> int:
    """A process's resident set (``VmRSS``), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
