"""What the reliability tests measure of a daemon process, and where they report it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psutil

__all__ = ["open_fds", "rss_kib", "write_report"]


def write_report(key: str, figures: dict[str, Any]) -> None:
    """Append ``{key: figures}`` as one JSON line to ``$TOCSIN_RELIABILITY_REPORT``, if set."""
    report = os.environ.get("TOCSIN_RELIABILITY_REPORT")
    if report:
        with open(report, "a") as f:
            f.write(json.dumps({key: figures}) + "\n")


def _tree(pid: int) -> list[int]:
    """The process and its children: the daemon and its database writer."""
    try:
        return [pid] + [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return [pid]


def rss_kib(pid: int) -> int:
    """A daemon's resident set (``VmRSS``), summed over its processes, in KiB."""
    total = 0
    for p in _tree(pid):
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
                break
        else:
            raise AssertionError(f"no VmRSS for pid {p}")
    return total


def open_fds(pid: int) -> int:
    """Open file descriptors, summed over the daemon's processes."""
    return sum(len(os.listdir(f"/proc/{p}/fd")) for p in _tree(pid))
