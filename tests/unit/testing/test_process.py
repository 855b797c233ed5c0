"""serving: ``tocsin serve`` as a subprocess, ready when it says so, and a start that fails
reported at once with the daemon's own words."""

from __future__ import annotations

import aiohttp
import pytest

from tocsin.testing import serving

pytestmark = pytest.mark.e2e

CONFIG = """
route: {receiver: r}
receivers: [{name: r}]
"""


async def test_yields_the_url_once_ready_and_stops_it_after(tmp_path):
    async with serving(CONFIG, tmp_path) as url:
        assert url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as s, s.get(f"{url}/-/ready") as r:
            assert r.status == 200
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as s, s.get(f"{url}/-/ready") as r:
            pass


async def test_a_daemon_that_exits_stops_the_wait_with_its_log(tmp_path):
    with pytest.raises(RuntimeError, match=r"(?s)tocsin serve exited with \d+:.*undefined receiver"):
        async with serving("route: {receiver: nope}\n", tmp_path):
            pass
