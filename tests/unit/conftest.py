"""Fixtures shared by the unit tests of several packages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.backends import Backend, backend_for
from tocsin.testing import RecordingServer
from tocsin.testing.postgres import PostgresServer


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    """A started :class:`~tocsin.testing.RecordingServer` (127.0.0.1, a free port): the
    webhook, chat or paging service (or Slack's response_url) a test delivers to."""
    s = RecordingServer()
    await s.start()
    yield s
    await s.stop()


@pytest.fixture(params=["sqlite-thread", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path) -> Backend:
    """A store backend (:mod:`tests.backends`): each test that takes it runs on SQLite and
    on PostgreSQL."""
    return backend_for(request, request.param, tmp_path)


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the test's own, to stop and start (the session's,
    ``tocsin_postgres``, serves other tests)."""
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()
