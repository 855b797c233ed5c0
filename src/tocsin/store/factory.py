"""The store a config (or a command line) names: SQLite at a path, or PostgreSQL at a URL."""

from __future__ import annotations

from tocsin.config.server import StorageConfig, StorageLocation
from tocsin.store.sql import SQLStore

__all__ = ["make_store", "store_at"]


def store_at(where: StorageLocation, storage: StorageConfig | None = None) -> SQLStore:
    """The store at ``where``, with the SQLite settings of ``storage`` (default: a thread
    writer, as a command line wants; the daemon's config says ``process``)."""
    if where.kind == "postgresql":
        # Imported here: asyncpg is only loaded by a tocsin that uses PostgreSQL.
        from tocsin.store.postgres import PostgresStore

        if storage is None or not storage.replicas:
            return PostgresStore(where.target)
        return PostgresStore(where.target, replicas=True, lease_timeout=float(storage.lease_timeout))
    from tocsin.store.sqlite import SQLiteStore

    if storage is None:
        return SQLiteStore(where.target, writer="thread")
    return SQLiteStore(where.target, synchronous=storage.synchronous, writer=storage.writer)


def make_store(storage: StorageConfig) -> SQLStore:
    """The store of the ``storage`` section: ``url`` when set, else the SQLite ``path``."""
    return store_at(storage.location, storage)
