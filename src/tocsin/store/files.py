"""Noticing that the database's files were removed or replaced under a running store.

SQLite goes on writing to the files it opened. When one of them is unlinked, or
another file is renamed over it, while tocsin runs, every commit still succeeds,
into a file that nothing can open again: what was acknowledged is gone at the
next start. The store remembers each file's identity (device and inode) once the
database is open, and compares it after every commit and every journal append,
before anyone is told the write is durable, and every second
(:data:`CHECK_INTERVAL`). Once they differ
the store has failed: it refuses writes, with the reason, until a restart opens
whatever is at the path then (see :class:`tocsin.store.sqlite.SQLiteStore`).
"""

from __future__ import annotations

import asyncio
import os

import structlog

__all__ = ["CHECK_INTERVAL", "JOURNALED", "SUFFIXES", "FileWatch"]

log = structlog.get_logger("tocsin.store")

#: Seconds between checks when nothing is written.
CHECK_INTERVAL = 1.0

#: The database file, its write-ahead log and the log's shared-memory index, and the
#: ingest journal (:mod:`tocsin.store.journal`).
SUFFIXES = ("", "-wal", "-shm", ".journal")
#: What a journal frame needs, to be committed at the next start: the database and the journal.
JOURNALED = ("", ".journal")


class FileWatch:
    """The device and inode of the database's files as they were when remembered, and
    the failure found once they are no longer those at the path."""

    def __init__(self, path: str) -> None:
        self.path = path
        #: Why writes are refused until a restart, or None.
        self.failure: str | None = None
        #: Each file's suffix and its identity (device, inode).
        self._known: list[tuple[str, tuple[int, int]]] = []

    def remember(self) -> None:
        """Take the identity of the files there now (those that exist)."""
        known = []
        for suffix in SUFFIXES:
            name = self.path + suffix
            try:
                st = os.stat(name)
            except FileNotFoundError:
                continue
            known.append((suffix, (st.st_dev, st.st_ino)))
        self._known = known

    def check(self, *, suffixes: tuple[str, ...] = SUFFIXES) -> str | None:
        """The failure; checked now if none was found yet (an error is logged once), for
        the files of ``suffixes`` (after a journal append: the database file and the
        journal, what a frame needs to be replayed; the others are checked after the commit)."""
        if self.failure is None:
            self.failure = self._changed(suffixes)
            if self.failure is not None:
                log.error("database files removed or replaced while running; writes are refused "
                          "until a restart", reason=self.failure, path=self.path)
        return self.failure

    async def run(self) -> None:
        """Check every :data:`CHECK_INTERVAL` seconds until the files changed, so that a
        failure shows (``/-/ready``) with nothing written."""
        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            if self.check() is not None:
                return

    def _changed(self, suffixes: tuple[str, ...]) -> str | None:
        for suffix, identity in self._known:
            if suffix not in suffixes:
                continue
            name = self.path + suffix
            try:
                st = os.stat(name)
            except FileNotFoundError:
                what = "was removed"
            except OSError as exc:
                what = f"cannot be checked ({exc.strerror or exc})"
            else:
                if (st.st_dev, st.st_ino) == identity:
                    continue
                what = "was replaced by another file"
            return (f"the database file {name} {what} while tocsin was running. Writes are refused, "
                    "since they could not be read back after a restart. Restart tocsin: it opens "
                    "the database now at that path, or creates a new one")
        return None
