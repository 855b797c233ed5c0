"""RecordingServer (the ``tocsin_receiver`` fixture): it records, answers as told, and hangs
until released or until the client gives up."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tocsin.testing import RecordingServer, wait_until


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


async def send(session: aiohttp.ClientSession, url: str, body: object = None, *,
               timeout: float | None = None) -> int:
    async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
        return r.status


async def test_records_and_answers_as_told(tocsin_receiver: RecordingServer, session):
    tocsin_receiver.answer_next(429, {"Retry-After": "2"})
    tocsin_receiver.status = 503
    assert await send(session, f"{tocsin_receiver.url}/a", {"n": 1}) == 429
    assert await send(session, f"{tocsin_receiver.url}/b", {"n": 2}) == 503
    first, second = await tocsin_receiver.wait_for(2)
    assert (first.method, first.path, first.json(), first.status) == ("POST", "/a", {"n": 1}, 429)
    assert (second.path, second.status) == ("/b", 503)
    assert first.headers["Content-Type"] == "application/json"


async def test_hang_next_holds_that_many_requests_until_released(tocsin_receiver, session):
    tocsin_receiver.hang_next(1)
    held = asyncio.create_task(send(session, f"{tocsin_receiver.url}/held"))
    [req] = await wait_until(lambda: tocsin_receiver.held)
    assert (req.path, req.status) == ("/held", None)
    assert tocsin_receiver.requests == [req]  # recorded as it arrived
    # The next one is answered at once, while the first is still held.
    assert await send(session, f"{tocsin_receiver.url}/next") == 200
    assert not held.done()
    assert tocsin_receiver.held == [req]
    tocsin_receiver.answer_next(502)
    tocsin_receiver.release()
    assert await held == 502
    assert req.status == 502
    assert tocsin_receiver.held == []


async def test_hang_holds_every_request_until_released(tocsin_receiver, session):
    tocsin_receiver.hang = True
    tasks = [asyncio.create_task(send(session, f"{tocsin_receiver.url}/{i}")) for i in range(3)]
    await wait_until(lambda: len(tocsin_receiver.held) == 3)
    assert sorted(r.path for r in tocsin_receiver.held) == ["/0", "/1", "/2"]
    tocsin_receiver.release()
    assert await asyncio.gather(*tasks) == [200, 200, 200]
    assert tocsin_receiver.hang is False  # released: it holds no more
    assert await send(session, f"{tocsin_receiver.url}/after") == 200


async def test_a_client_that_gives_up_leaves_the_request_unanswered(tocsin_receiver, session):
    tocsin_receiver.hang = True
    with pytest.raises(TimeoutError):
        await send(session, f"{tocsin_receiver.url}/slow", timeout=0.2)
    # The server sees the connection go and stops holding it.
    await wait_until(lambda: not tocsin_receiver.held)
    [req] = tocsin_receiver.requests
    assert req.status is None


async def test_stopping_releases_what_is_held(session):
    server = RecordingServer()
    url = await server.start()
    server.hang = True
    task = asyncio.create_task(send(session, f"{url}/x"))
    await wait_until(lambda: server.held)
    await server.stop()  # returns: the held request does not keep the clean-up waiting
    await asyncio.gather(task, return_exceptions=True)
    assert server.held == []
