"""tocsin.testing.postgres: a missing PostgreSQL skips loudly, and fails under CI=true; the
server it starts takes connections and gives each test an empty database."""

from __future__ import annotations

import pytest

from tocsin.testing.postgres import find_bindir, require_postgres


def test_missing_binaries_skip_loudly_but_fail_under_ci(monkeypatch):
    monkeypatch.setenv("TOCSIN_PG_BINDIR", "/nonexistent")
    assert find_bindir() is None
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="MISSING POSTGRESQL"):
        require_postgres()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y postgresql"):
        require_postgres()


def test_each_database_is_new_and_empty(tocsin_postgres):
    first, second = tocsin_postgres.create_database(), tocsin_postgres.create_database()
    try:
        assert first != second
        name = first.rsplit("/", 1)[1]
        tocsin_postgres.sql("CREATE TABLE t (a int)", name)
        listed = tocsin_postgres.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                                     second.rsplit("/", 1)[1])
        assert listed.strip() == "0"
    finally:
        tocsin_postgres.drop_database(first)
        tocsin_postgres.drop_database(second)
    assert "127.0.0.1" in first
