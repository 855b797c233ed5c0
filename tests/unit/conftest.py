"""Fixtures shared by the unit tests of several packages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.backends import Backend, backend_for
from tocsin.testing import RecordingServer


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
