"""Every store test runs on every backend: SQLite with each of its writers, and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.backends import Backend, backend_for


@pytest.fixture(params=["sqlite-thread", "sqlite-process", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path) -> Backend:
    return backend_for(request, request.param, tmp_path)
