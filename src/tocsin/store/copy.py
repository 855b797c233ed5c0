"""Copying every record from one store into another: ``tocsin storage copy``, how a single
host's SQLite state moves into PostgreSQL (and back).

Table by table (:data:`tocsin.store.rows.TABLES`), row by row as they are (ids included:
a history event or a delivery attempt keeps its number, and the ids PostgreSQL assigns
next come after them), a chunk per transaction. A target that holds records already is
refused, unless ``force``: it is emptied first. Both stores are opened (and so brought to
their latest schema) by the caller.
"""

from __future__ import annotations

from tocsin.store import StorageError
from tocsin.store.rows import TABLES
from tocsin.store.sql import SQLStore

__all__ = ["CHUNK", "TargetNotEmpty", "copy_store"]

#: Rows per transaction.
CHUNK = 1000


class TargetNotEmpty(StorageError):
    """The target holds records, and ``force`` was not given."""


async def copy_store(source: SQLStore, target: SQLStore, *, force: bool = False) -> dict[str, int]:
    """Copy every row of ``source`` into ``target``; how many of each table."""
    held = {table: n for table, n in (await target.count_rows()).items() if n}
    if held:
        if not force:
            listed = ", ".join(f"{n} {table}" for table, n in held.items())
            raise TargetNotEmpty(f"the target holds records already ({listed}); "
                                 "--force deletes them first")
        await target.clear()
    copied: dict[str, int] = {}
    for table in TABLES:
        copied[table] = 0
        async for chunk in source.export_rows(table, CHUNK):
            await target.import_rows(table, chunk)
            copied[table] += len(chunk)
    return copied
