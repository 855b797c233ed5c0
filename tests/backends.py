"""The store backends a test runs against: SQLite (a file in the test's directory, commits in
aiosqlite's thread or in the writer process) and PostgreSQL (a new database on the session's
server, :mod:`tocsin.testing.postgres`).

A :class:`Backend` makes stores on the same database (a test closes one and opens the next
to see what survived), and reaches under the store: the schema version, and a trigger that
makes inserts into ``alerts`` and ``nflog`` fail.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tocsin.store import pgschema, schema
from tocsin.store.postgres import PostgresStore
from tocsin.store.sql import SQLStore
from tocsin.store.sqlite import SQLiteStore
from tocsin.testing.postgres import PostgresServer

__all__ = ["Backend", "PostgresBackend", "SQLiteBackend", "backend_for"]

#: The tables a failing write is made for.
REFUSED = ("alerts", "nflog")


class Backend:
    name: str
    #: How many migrations this backend's schema has.
    migrations: int

    def store(self) -> SQLStore:
        """A new, unopened store on this backend's database."""
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[SQLStore]:
        store = self.store()
        await store.open()
        try:
            yield store
        finally:
            await store.close()

    def schema_version(self) -> int:
        raise NotImplementedError

    def set_schema_version(self, version: int) -> None:
        """Record ``version`` as the last migration applied (the tables stay as they are)."""
        raise NotImplementedError

    def refuse_writes(self, refuse: bool) -> None:
        """Make every insert into alerts and nflog fail with 'writes refused by the test', or
        stop doing so: a schema change, so it reaches every connection."""
        raise NotImplementedError


class SQLiteBackend(Backend):
    migrations = len(schema.MIGRATIONS)

    def __init__(self, path: Path, writer: str) -> None:
        self.name = f"sqlite-{writer}"
        self.path = path
        self.writer = writer

    def store(self) -> SQLiteStore:
        return SQLiteStore(self.path, writer=self.writer)  # type: ignore[arg-type]

    def _sql(self, *statements: str) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(self.path, isolation_level=None)) as db:
            out: list[tuple] = []
            for s in statements:
                out = db.execute(s).fetchall()
            return out

    def schema_version(self) -> int:
        return self._sql("PRAGMA user_version")[0][0]

    def set_schema_version(self, version: int) -> None:
        self._sql(f"PRAGMA user_version={version}")

    def refuse_writes(self, refuse: bool) -> None:
        for table in REFUSED:
            if refuse:
                self._sql(f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table}"
                          " BEGIN SELECT RAISE(ABORT, 'writes refused by the test'); END")
            else:
                self._sql(f"DROP TRIGGER refuse_{table}")


class PostgresBackend(Backend):
    name = "postgresql"
    migrations = len(pgschema.MIGRATIONS)

    def __init__(self, server: PostgresServer, url: str) -> None:
        self.server = server
        self.url = url
        self.database = url.rsplit("/", 1)[1]

    def store(self) -> PostgresStore:
        return PostgresStore(self.url)

    def sql(self, statement: str) -> str:
        return self.server.sql(statement, self.database)

    def schema_version(self) -> int:
        found = self.sql("SELECT COALESCE(MAX(version), 0) FROM schema_version").strip()
        return int(found or 0)

    def set_schema_version(self, version: int) -> None:
        self.sql("CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY,"
                 " applied_at timestamptz NOT NULL DEFAULT now());"
                 f" INSERT INTO schema_version (version) VALUES ({version})")

    def refuse_writes(self, refuse: bool) -> None:
        if refuse:
            self.sql("CREATE OR REPLACE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
                     " $$ BEGIN RAISE EXCEPTION 'writes refused by the test'; END $$")
            for table in REFUSED:
                self.sql(f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table}"
                         " FOR EACH ROW EXECUTE FUNCTION refuse()")
        else:
            for table in REFUSED:
                self.sql(f"DROP TRIGGER refuse_{table} ON {table}")


def backend_for(request: pytest.FixtureRequest, name: str, tmp_path: Path) -> Backend:
    """The backend ``name`` (``sqlite-thread``, ``sqlite-process``, ``postgresql``) for a test;
    PostgreSQL's server is started only for the tests that use it."""
    if name == "postgresql":
        return PostgresBackend(request.getfixturevalue("tocsin_postgres"),
                               request.getfixturevalue("tocsin_postgres_url"))
    return SQLiteBackend(tmp_path / "t.db", name.removeprefix("sqlite-"))
