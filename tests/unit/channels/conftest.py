"""Fixtures of the channel tests."""

from __future__ import annotations

import pytest

from tocsin.testing import RecordingServer


@pytest.fixture
async def server():
    """A local server standing in for the chat and paging services (and Slack's response_url)."""
    s = RecordingServer()
    await s.start()
    yield s
    await s.stop()
