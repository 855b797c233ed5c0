"""``storage.url`` and ``--storage``: where the state lives (a SQLite file, or PostgreSQL), and
a password in a URL never shown."""

from __future__ import annotations

import textwrap

import pytest

from tocsin.config.document import ConfigError
from tocsin.config.server import StorageLocation, parse_storage, redact_url
from tocsin.daemon.serve import ConfigLoader
from tocsin.store.factory import make_store
from tocsin.store.postgres import PostgresStore
from tocsin.store.sqlite import SQLiteStore
from tocsin.testing import make_config, make_plugins

BASE = "route: {receiver: a}\nreceivers: [{name: a}]\n"


def config(storage: str):
    return make_config(BASE + textwrap.dedent(storage))


@pytest.mark.parametrize(("text", "where"), [
    ("postgresql://tocsin@db:5432/tocsin", StorageLocation("postgresql", "postgresql://tocsin@db:5432/tocsin")),
    ("postgres://db/tocsin", StorageLocation("postgresql", "postgres://db/tocsin")),
    ("postgresql://u@h1:5432,h2:5432/t?target_session_attrs=read-write",
     StorageLocation("postgresql", "postgresql://u@h1:5432,h2:5432/t?target_session_attrs=read-write")),
    ("sqlite:/var/lib/tocsin/tocsin.db", StorageLocation("sqlite", "/var/lib/tocsin/tocsin.db")),
    ("sqlite:var/tocsin.db", StorageLocation("sqlite", "var/tocsin.db")),
    ("/var/lib/tocsin/tocsin.db", StorageLocation("sqlite", "/var/lib/tocsin/tocsin.db")),
    ("tocsin.db", StorageLocation("sqlite", "tocsin.db")),
])
def test_storage_locations(text: str, where: StorageLocation) -> None:
    assert parse_storage(text) == where


@pytest.mark.parametrize(("text", "message"), [
    ("postgresql:db", "starts with postgresql://"),
    ("mysql://u:p@db/x", "unknown storage scheme 'mysql'"),
    ("sqlite:", "needs a path"),
    ("", "empty"),
])
def test_bad_storage_locations_say_why_without_the_value(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as exc:
        parse_storage(text)
    assert "u:p" not in str(exc.value)


def test_passwords_are_redacted() -> None:
    assert redact_url("postgresql://tocsin:s3cr3t@db:5432/tocsin") == "postgresql://tocsin:***@db:5432/tocsin"
    assert redact_url("postgresql://db/tocsin?user=t&password=s3cr3t&sslmode=require") == (
        "postgresql://db/tocsin?user=t&password=***&sslmode=require")
    assert redact_url("postgresql://tocsin@h1,h2/t") == "postgresql://tocsin@h1,h2/t"


def test_storage_url_picks_postgresql_and_the_summary_hides_the_password() -> None:
    cfg = config("storage:\n  url: postgresql://tocsin:s3cr3t@db:5432/tocsin\n")
    assert cfg.storage.location == StorageLocation("postgresql", "postgresql://tocsin:s3cr3t@db:5432/tocsin")
    assert cfg.summary().endswith("storage postgresql://tocsin:***@db:5432/tocsin")
    assert "s3cr3t" not in repr(cfg.storage)
    store = make_store(cfg.storage)
    assert isinstance(store, PostgresStore)
    assert store.url == "postgresql://tocsin:s3cr3t@db:5432/tocsin"


def test_without_url_the_store_is_sqlite_at_path() -> None:
    cfg = config("storage:\n  path: /tmp/t.db\n  writer: thread\n")
    assert cfg.storage.location == StorageLocation("sqlite", "/tmp/t.db")
    store = make_store(cfg.storage)
    assert isinstance(store, SQLiteStore)
    assert store.path == "/tmp/t.db"
    assert isinstance(make_store(config("storage: {url: 'sqlite:/tmp/u.db'}\n").storage), SQLiteStore)


def test_path_and_url_together_are_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        config("storage:\n  path: /tmp/t.db\n  url: postgresql://db/tocsin\n")
    [problem] = exc.value.problems
    assert problem.path == "storage.url"
    assert problem.message == "set path (a SQLite file) or url, not both"


def test_a_bad_url_names_the_field_and_hides_the_value() -> None:
    with pytest.raises(ConfigError) as exc:
        config("storage:\n  url: 'mysql://tocsin:s3cr3t@db/tocsin'\n")
    [problem] = exc.value.problems
    assert problem.path == "storage.url"
    assert problem.line == 4
    assert "unknown storage scheme" in problem.message
    assert "s3cr3t" not in str(exc.value)


@pytest.mark.parametrize(("flag", "where"), [
    ("postgresql://t@db/tocsin", StorageLocation("postgresql", "postgresql://t@db/tocsin")),
    ("sqlite:/tmp/x.db", StorageLocation("sqlite", "/tmp/x.db")),
    ("/tmp/y.db", StorageLocation("sqlite", "/tmp/y.db")),
])
def test_the_storage_flag_replaces_path_and_url(tmp_path, flag: str, where: StorageLocation) -> None:
    for storage in ("storage: {path: /srv/a.db}\n", "storage: {url: 'postgresql://other/x'}\n"):
        path = tmp_path / "tocsin.yml"
        path.write_text(BASE + storage)
        assert ConfigLoader(path, make_plugins(), {"storage": flag}).load().storage.location == where


def test_a_bad_storage_flag_is_a_config_error(tmp_path) -> None:
    path = tmp_path / "tocsin.yml"
    path.write_text(BASE)
    with pytest.raises(ConfigError, match="--storage: unknown storage scheme"):
        ConfigLoader(path, make_plugins(), {"storage": "redis://x"}).load()


@pytest.mark.parametrize(("storage", "where"), [
    ("", StorageLocation("sqlite", "/var/lib/t.db")),
    ("storage: {path: var/tocsin.db}\n", StorageLocation("sqlite", "/var/lib/t.db")),  # the default
    ("storage: {path: /srv/a.db}\n", StorageLocation("sqlite", "/srv/a.db")),
    ("storage: {url: 'postgresql://t@db/x'}\n", StorageLocation("postgresql", "postgresql://t@db/x")),
])
def test_the_default_storage_flag_applies_only_when_the_file_names_none(tmp_path, storage, where) -> None:
    """The systemd unit's --default-storage: a storage.url set in the file wins (with
    --storage, the unit used to replace it, and tocsin kept its state in SQLite)."""
    path = tmp_path / "tocsin.yml"
    path.write_text(BASE + storage)
    flags = {"default_storage": "/var/lib/t.db"}
    assert ConfigLoader(path, make_plugins(), flags).load().storage.location == where
    flags["storage"] = "postgresql://flag/y"  # --storage still replaces both
    assert ConfigLoader(path, make_plugins(), flags).load().storage.location.target == "postgresql://flag/y"


def test_a_bad_default_storage_flag_is_a_config_error(tmp_path) -> None:
    path = tmp_path / "tocsin.yml"
    path.write_text(BASE)
    with pytest.raises(ConfigError, match="--default-storage: unknown storage scheme"):
        ConfigLoader(path, make_plugins(), {"default_storage": "redis://x"}).load()
