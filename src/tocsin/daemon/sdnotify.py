"""A small sd_notify(3) client: tell systemd (or anything listening on ``$NOTIFY_SOCKET``)
how the daemon is doing.

No dependency on libsystemd or python-systemd: a notification is one datagram of
``KEY=value`` lines on the ``AF_UNIX`` socket named by ``$NOTIFY_SOCKET`` (a path, or
``@name`` for an abstract socket). Without ``$NOTIFY_SOCKET`` every call does nothing,
so the daemon runs the same outside systemd. Sending never raises: a failure is logged
once (the daemon must not stop over it) and the call returns False.
"""

from __future__ import annotations

import os
import socket
import time

import structlog

__all__ = [
    "notify",
    "ready",
    "reloading",
    "status",
    "stopping",
    "watchdog",
    "watchdog_interval",
]

log = structlog.get_logger("tocsin.daemon.sdnotify")

#: A send blocks at most this long (systemd reads its socket promptly; a stuck
#: reader must not stall the event loop for long).
SEND_TIMEOUT = 1.0

_warned = False


def _address(value: str) -> str | bytes:
    if value.startswith("@"):
        # Abstract namespace: a leading NUL byte instead of the "@".
        return b"\0" + value[1:].encode()
    return value


def notify(*lines: str) -> bool:
    """Send ``lines`` (``"READY=1"``, ``"STATUS=..."``) as one notification.

    Returns True when sent, False when ``$NOTIFY_SOCKET`` is unset or sending failed.
    """
    global _warned
    target = os.environ.get("NOTIFY_SOCKET")
    if not target:
        return False
    payload = "\n".join(lines).encode()
    try:
        if not target.startswith(("/", "@")):
            raise OSError(f"unsupported NOTIFY_SOCKET address {target!r} (expected a path or @name)")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(SEND_TIMEOUT)
            sock.sendto(payload, _address(target))
    except OSError as exc:
        if not _warned:
            _warned = True
            log.warning("cannot notify the service manager; further failures are not logged",
                        notify_socket=target, error=str(exc), message=lines[0] if lines else "")
        return False
    return True


def _with_status(line: str, text: str | None) -> tuple[str, ...]:
    return (line,) if text is None else (line, f"STATUS={_one_line(text)}")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def ready(status: str | None = None) -> bool:
    """Start-up (or a reload) is complete: ``READY=1``."""
    return notify(*_with_status("READY=1", status))


def reloading(status: str | None = None) -> bool:
    """A reload begins: ``RELOADING=1`` with ``MONOTONIC_USEC`` (CLOCK_MONOTONIC, in µs), as
    systemd ≥ 253 requires for ``Type=notify-reload``; older ones and ``Type=notify`` accept
    it too. ``ready()`` must follow when the reload is over, whether it worked or not."""
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}",
                  *(() if status is None else (f"STATUS={_one_line(status)}",)))


def stopping(status: str | None = None) -> bool:
    """The daemon is shutting down: ``STOPPING=1``."""
    return notify(*_with_status("STOPPING=1", status))


def status(text: str) -> bool:
    """A one-line free-form status (``systemctl status`` shows it)."""
    return notify(f"STATUS={_one_line(text)}")


def watchdog() -> bool:
    """Keep-alive for ``WatchdogSec=``: ``WATCHDOG=1``."""
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings (half of ``$WATCHDOG_USEC``), or None when no watchdog
    is expected of this process: ``$WATCHDOG_USEC`` unset or invalid, or ``$WATCHDOG_PID``
    set to another process's id."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        value = int(usec)
    except ValueError:
        return None
    if value <= 0:
        return None
    return value / 2 / 1_000_000
