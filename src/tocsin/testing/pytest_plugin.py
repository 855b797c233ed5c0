"""pytest fixtures for tocsin plugin authors; loaded automatically where tocsin is installed.

- ``tocsin_clock``: a :class:`~tocsin.core.clock.FakeClock` you move by hand.
- ``tocsin_receiver``: a started :class:`~tocsin.testing.RecordingServer`.
- ``tocsin_daemon``: a factory: ``await tocsin_daemon(config_yaml, plugins=[...])`` serves
  a real runtime on a free 127.0.0.1 port, on ``tocsin_clock``; it returns an object with
  ``url``, ``runtime`` and ``client`` (aiohttp test client), and ``advance(seconds)``.
- ``tocsin_postgres``: a real PostgreSQL server (:class:`~tocsin.testing.postgres.PostgresServer`),
  one per test session (per xdist worker), stopped at its end; skipped loudly when
  PostgreSQL is not installed, failed under ``CI=true``.
- ``tocsin_postgres_url``: the URL of a new, empty database on it, dropped after the test.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from tocsin.core.clock import FakeClock
from tocsin.testing import RecordingServer, advance, api_client
from tocsin.testing.postgres import PostgresServer


class DaemonHandle:
    def __init__(self, client: Any, runtime: Any) -> None:
        self.client = client
        self.runtime = runtime
        self.url = str(client.make_url("")).rstrip("/")

    async def advance(self, seconds: float) -> None:
        await advance(self.runtime, seconds)


@pytest.fixture
def tocsin_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def tocsin_receiver() -> AsyncIterator[RecordingServer]:
    server = RecordingServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def tocsin_daemon(
    tmp_path: Any, tocsin_clock: FakeClock
) -> AsyncIterator[Callable[..., Awaitable[DaemonHandle]]]:
    started = itertools.count()
    async with AsyncExitStack() as stack:

        async def start(config: str, plugins: list[object] = ()) -> DaemonHandle:  # type: ignore[assignment]
            n = next(started)
            path = tmp_path / f"tocsin-daemon-{n}"
            path.mkdir()
            client, rt = await stack.enter_async_context(
                api_client(config, path, plugins=plugins, clock=tocsin_clock))
            return DaemonHandle(client, rt)

        yield start


@pytest.fixture(scope="session")
def tocsin_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tocsin_postgres_url(tocsin_postgres: PostgresServer) -> Iterator[str]:
    url = tocsin_postgres.create_database()
    yield url
    tocsin_postgres.drop_database(url)
