"""The process's limit of open files, and the cap on client connections under it.

Every client connection, outbound delivery, database file and child-process pipe is a
file descriptor, and the limit (``RLIMIT_NOFILE``) counts them all. At start-up the
daemon raises its soft limit towards the hard one (up to :data:`TARGET`, as Go programs
do; ``LimitNOFILE=`` in the systemd unit sets both), and client connections get what is
left once :data:`RESERVED` descriptors are kept back for the rest.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

from tocsin.config.server import ServerConfig
from tocsin.web.connections import ConnectionLimits

__all__ = ["DEFAULT_MAX_CONNECTIONS", "RESERVED", "TARGET", "FileLimit", "connection_limits", "raise_limit"]

#: Descriptors kept back from client connections: outbound HTTP (aiohttp's pool holds up
#: to 100 sockets), SMTP, the database and its writer process, the log, remediation pipes.
RESERVED = 256
#: The default cap on client connections when the limit allows more.
DEFAULT_MAX_CONNECTIONS = 4096
#: How far the soft limit is raised at start-up (children inherit it; some programs
#: handle a very large one badly).
TARGET = 65536


@dataclass(frozen=True)
class FileLimit:
    soft: int
    hard: int
    #: The soft limit before the daemon raised it; None when it was left alone.
    raised_from: int | None = None

    @property
    def room(self) -> int:
        """Descriptors client connections may use."""
        if self.soft == resource.RLIM_INFINITY:
            return DEFAULT_MAX_CONNECTIONS
        if self.soft > 2 * RESERVED:
            return self.soft - RESERVED
        return max(1, self.soft // 2)


def raise_limit(target: int = TARGET) -> FileLimit:
    """Raise the soft limit of open files to ``min(hard limit, target)`` if it is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = target if hard == resource.RLIM_INFINITY else min(hard, target)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            return FileLimit(soft, hard)
        return FileLimit(want, hard, raised_from=soft)
    return FileLimit(soft, hard)


def connection_limits(server: ServerConfig, files: FileLimit) -> ConnectionLimits:
    """The limits ``server`` sets; an unset ``max_connections`` is what ``files`` leaves
    (at most :data:`DEFAULT_MAX_CONNECTIONS`)."""
    cap = server.max_connections or min(DEFAULT_MAX_CONNECTIONS, files.room)
    return ConnectionLimits(max_connections=cap, header_timeout=float(server.header_timeout),
                            idle_timeout=float(server.idle_timeout))
