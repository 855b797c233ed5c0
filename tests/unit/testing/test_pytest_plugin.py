"""The fixtures plugin authors get from tocsin's pytest plugin, used as they would use them."""

from __future__ import annotations

import aiohttp

from tocsin.testing import instant_retries


async def test_daemon_receiver_and_clock_fixtures(tocsin_daemon, tocsin_receiver, tocsin_clock):
    tocsin_receiver.answer_next(503)  # the first try fails, the retry succeeds
    d = await tocsin_daemon(f"""
route: {{receiver: r, group_wait: 30s}}
receivers:
  - name: r
    webhook_configs: [{{url: "{tocsin_receiver.url}/hook"}}]
""")
    assert d.url.startswith("http://127.0.0.1:")

    waits = instant_retries(d.runtime)  # the retry's wait moves tocsin_clock instead
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{d.url}/api/v2/alerts", json=[{"labels": {"alertname": "X"}}]) as r,
    ):
        assert r.status == 200
    await d.runtime.bus.drained()
    await d.advance(29)
    assert tocsin_receiver.requests == []
    await d.advance(1)
    reqs = await tocsin_receiver.wait_for(2)
    assert [r.path for r in reqs] == ["/hook", "/hook"]
    assert reqs[1].json()["alerts"][0]["labels"] == {"alertname": "X"}
    assert reqs[0].headers["Content-Type"] == "application/json"
    assert [r.status for r in reqs] == [503, 200]
    assert len(waits.delays) == 1
