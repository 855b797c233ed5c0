"""pytest fixtures for tocsin plugin authors; loaded automatically where tocsin is installed.

- ``tocsin_clock``: a :class:`~tocsin.core.clock.FakeClock` you move by hand.
- ``tocsin_receiver``: a started :class:`~tocsin.testing.RecordingServer`.
- ``tocsin_daemon``: a factory: ``await tocsin_daemon(config_yaml, plugins=[...])`` serves
  a real runtime on a free 127.0.0.1 port, on ``tocsin_clock``; it returns an object with
  ``url``, ``runtime`` and ``client`` (aiohttp test client), and ``advance(seconds)``.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from tocsin.core.clock import FakeClock
from tocsin.testing import RecordingServer, advance, api_client


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
