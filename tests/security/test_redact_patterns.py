"""Your own redaction patterns cannot hold the event loop (issue 15, item 1).

``redact.patterns`` are the operator's regular expressions. One that backtracks without
end, ``(x+x+)+y`` here, on an annotation an attacker with an ingest token chose, used
to run to its end on the event loop: with Python's ``re`` that is, for 3,000 x's, longer
than the universe. tocsin runs them with a time budget; the value it cannot finish is
replaced whole, and the daemon keeps answering.
"""

from __future__ import annotations

import asyncio

import aiohttp
import msgspec
import pytest

from tests.security.probe import probing
from tests.security.test_event_loop import CRAFTED_BOUND, post, recorder
from tocsin.testing import serving

pytestmark = pytest.mark.e2e


def config(url: str) -> str:
    return f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
receivers:
  - name: hook
    webhook_configs: [{{url: "{url}/hook"}}]
redact:
  patterns: ['(x+x+)+y', 'secret=\\w+']
"""


async def test_a_pattern_that_backtracks_without_end_is_stopped(tmp_path):
    crafted = "x" * 3000
    body = msgspec.json.encode([{"labels": {"alertname": "Crafted"},
                                 "annotations": {f"a{i}": crafted for i in range(8)} | {"s": "secret=abc"}}])
    async with recorder() as hook, serving(config(hook.url), tmp_path) as url, \
            aiohttp.ClientSession() as session:
        async with probing(url) as probe:
            await post(session, url, body)
            [sent] = await hook.wait_for(1, timeout=30)
            await asyncio.sleep(0.3)
        print(f"8 annotations a pattern cannot finish: {probe.summary()}")
        [alert] = sent.json()["alerts"]
        assert alert["annotations"]["a0"] == "<redacted>"  # not sent unredacted
        assert "abc" not in alert["annotations"]["s"]
        assert probe.failures == 0
        assert probe.worst < CRAFTED_BOUND, probe.summary()
        log = (tmp_path / "tocsin.log").read_text()
        assert "redaction pattern too slow" in log
        assert "redact.patterns[0]" in log
