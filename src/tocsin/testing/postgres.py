"""A real PostgreSQL server for tests: ``initdb`` and ``pg_ctl`` in a temporary directory,
on 127.0.0.1 and a free port, and an empty database per test.

    server = PostgresServer.start()          # or the tocsin_postgres fixture
    url = server.create_database()           # postgresql://postgres@127.0.0.1:PORT/t_1
    ...
    server.drop_database(url)
    server.stop()

The server runs with ``fsync=off`` (fast, and nothing a test does needs its data to
survive a power cut; a crash of the server itself loses nothing committed). PostgreSQL
refuses to run as root: as root, its commands run as the ``postgres`` user (``runuser``)
in a directory that user owns. A database is copied from ``template0`` with the
``FILE_COPY`` strategy: a few tens of milliseconds.

The binaries are looked up in ``$TOCSIN_PG_BINDIR``, ``$PATH``, and the newest
``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql`` package). When they are missing,
:func:`require_postgres` skips the test with a loud reason, or fails it under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tocsin.testing.process import free_port

__all__ = ["PostgresServer", "find_bindir", "require_postgres"]

#: The server's settings: fast, and small.
SETTINGS = ("fsync=off", "full_page_writes=off", "shared_buffers=16MB", "max_connections=200",
            "max_wal_size=64MB", "log_min_messages=warning")

#: Where Debian's postgresql package puts the binaries of each version.
DEBIAN = Path("/usr/lib/postgresql")


def find_bindir() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``, or None."""
    env = os.environ.get("TOCSIN_PG_BINDIR")
    if env:
        return Path(env) if (Path(env) / "initdb").exists() else None
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    versions = sorted((p for p in DEBIAN.glob("*/bin") if (p / "initdb").exists()),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return versions[-1] if versions else None


def require_postgres() -> Path:
    """The binaries' directory; skip loudly if there is none, but fail under CI=true."""
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    msg = ("MISSING POSTGRESQL (initdb, pg_ctl): install it (apt-get install -y postgresql) or set "
           "TOCSIN_PG_BINDIR to run the PostgreSQL tests")
    import pytest

    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def _as_server_user() -> list[str]:
    """The command prefix that runs a PostgreSQL binary: ``runuser -u postgres --`` as root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root, and there is no postgres user to run PostgreSQL as (it "
                           "refuses root): create one, or run the tests as another user") from None
    runuser = shutil.which("runuser")
    return [runuser, "-u", "postgres", "--"] if runuser else ["su", "postgres", "-s", "/bin/sh", "-c"]


@dataclass
class PostgresServer:
    """One PostgreSQL server (a cluster) in ``directory``, listening on 127.0.0.1:``port``."""

    bindir: Path
    directory: Path
    port: int
    user: str = "postgres"
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls, bindir: Path | None = None) -> PostgresServer:
        """``initdb`` a new cluster in a temporary directory and start it on a free port."""
        bindir = bindir or require_postgres()
        directory = Path(tempfile.mkdtemp(prefix="tocsin-pg-"))
        prefix = _as_server_user()
        if prefix:
            shutil.chown(directory, "postgres", "postgres")
        server = cls(bindir, directory, 0)
        try:
            server._run("initdb", "-D", str(server.data), "-U", server.user, "--auth=trust",
                        "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions")
            for attempt in range(3):  # a free port may be taken before the server binds it
                server.port = free_port()
                try:
                    server.resume()
                    break
                except RuntimeError:
                    if attempt == 2:
                        raise
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return server

    def _run(self, binary: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = _as_server_user()
        argv = [str(self.bindir / binary), *args]
        if prefix and prefix[0] == "su":
            argv = [*prefix, " ".join(map(shlex.quote, argv))]
        else:
            argv = [*prefix, *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=self.directory)
        if check and done.returncode != 0:
            raise RuntimeError(f"{binary} {' '.join(args)} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}{self._log_tail()}")
        return done

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\nserver log:\n" + self.log.read_text(errors="replace")[-2000:]
        return ""

    def resume(self) -> None:
        """Start the server (again, after :meth:`pause`), on its port; once it accepts connections."""
        options = " ".join([f"-h 127.0.0.1 -p {self.port} -k {self.directory}",
                            *(f"-c {s}" for s in SETTINGS)])
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", options, "start")

    def pause(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: connections are closed; ``immediate``: as a crash),
        keeping its data for :meth:`resume`."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement with ``psql``; its output (unaligned, tuples only)."""
        psql = self.bindir / "psql"
        argv = [str(psql) if psql.exists() else "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", database, "-c", statement]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {statement}: {done.stderr}")
        return done.stdout

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database; its URL."""
        name = name or f"t_{next(self._names)}"
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE template0 STRATEGY FILE_COPY')
        return self.url(name)

    def drop_database(self, url_or_name: str) -> None:
        name = urlsplit(url_or_name).path.lstrip("/") if "://" in url_or_name else url_or_name
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
