"""A SQLite database opened to read only, beside the tocsin that writes it.

``tocsin replay`` reads the history of a running daemon's database: it takes no lock
(the daemon holds it), migrates nothing, starts no writer and refuses every write.
SQLite in WAL mode lets it read while the daemon writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from tocsin.store import ConfigLoad, StorageError
from tocsin.store.notices import Notice
from tocsin.store.rows import Op
from tocsin.store.sql import SQLStore

__all__ = ["SQLiteReader"]


class SQLiteReader(SQLStore):
    """The read methods of the store, on a SQLite file opened read-only."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db: aiosqlite.Connection | None = None

    @property
    def failure(self) -> str | None:
        return None

    @property
    def needs_restart(self) -> bool:
        return False

    async def open(self) -> None:
        path = Path(self.path)
        if not path.is_file():  # noqa: ASYNC240 -- one stat, once
            raise StorageError(f"no SQLite database at {self.path}")
        uri = f"{path.absolute().as_uri()}?mode=ro"  # noqa: ASYNC240
        try:
            self._db = await aiosqlite.connect(uri, uri=True)
            await self._db.execute("PRAGMA busy_timeout=5000")
            async with self._db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'history'") as cur:
                row = await cur.fetchone()
        except sqlite3.Error as exc:
            await self.close()
            raise StorageError(f"{self.path}: {exc}") from None
        if not row or not row[0]:
            await self.close()
            raise StorageError(f"{self.path} holds no tocsin history")

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _write(self, ops: list[Op], *, journal: bool = False) -> None:
        raise StorageError(f"{self.path} is open to read only")

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> Iterable[Sequence[Any]]:
        assert self._db is not None
        try:
            async with self._db.execute(sql, params) as cur:
                return await cur.fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: {exc}") from None

    async def _fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any] | None:
        found = list(await self._fetch(sql, params))
        return found[0] if found else None

    async def config_loads(self, until: float) -> list[ConfigLoad]:
        """As the store's; none from a database written by a tocsin that did not record them."""
        exists = await self._fetch_one("SELECT COUNT(*) FROM sqlite_master WHERE name = 'configs'")
        if not exists or not exists[0]:
            return []
        return await super().config_loads(until)

    async def notices_page(self, since: float, until: float, after_id: int, limit: int) -> list[Notice]:
        """As the store's; none from a database written by a tocsin that kept no notices."""
        exists = await self._fetch_one("SELECT COUNT(*) FROM sqlite_master WHERE name = 'notices'")
        if not exists or not exists[0]:
            return []
        return await super().notices_page(since, until, after_id, limit)
