"""Measurement only (bench/floor.py's ``tocsin-uncommitted``): tocsin with every SQLite
commit answered at once and nothing written, so that its CPU per alert is all of its own
work but storage: the bound a journal-first write path could not go below."""

import os

if os.environ.get("TOCSIN_BENCH_UNCOMMITTED") == "1":
    from tocsin.store import sqlite as _sqlite

    async def _commit(self: _sqlite.SQLiteStore, ops: list) -> None:
        self.commits += 1

    _sqlite.SQLiteStore._commit = _commit  # type: ignore[method-assign]
