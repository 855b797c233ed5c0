"""tocsin behind a real Alertmanager: Alertmanager's webhook message as a source."""

from __future__ import annotations

import aiohttp
import pytest

from tests.peers import Alertmanager
from tocsin.testing import wait_until

pytestmark = pytest.mark.e2e


async def am_post(url: str, alerts: list[dict]) -> None:
    async with aiohttp.ClientSession() as s, s.post(f"{url}/api/v2/alerts", json=alerts) as resp:
        assert resp.status == 200, await resp.text()


async def tocsin_get(url: str, path: str) -> object:
    async with aiohttp.ClientSession() as s, s.get(f"{url}{path}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_alerts_from_alertmanager_fire_and_resolve_in_tocsin(make_daemon, receiver, tmp_path):
    d = make_daemon(f"""
route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s}}
receivers:
  - name: hook
    webhook_configs: [{{url: "{receiver.url}", send_resolved: true}}]
""")
    await d.start()
    am = Alertmanager(tmp_path / "am", f"""
route: {{receiver: tocsin, group_by: [alertname], group_wait: 0s, group_interval: 1s}}
receivers:
  - name: tocsin
    webhook_configs:
      - url: "{d.url}/api/tocsin/v1/alertmanager/webhook?ttl=6h"
        send_resolved: true
""")
    await am.start()
    try:
        labels = {"alertname": "Upstream", "instance": "db1", "severity": "critical"}
        await am_post(am.url, [{"labels": labels, "annotations": {"summary": "via Alertmanager"}}])
        [firing] = await receiver.wait_for(1, timeout=30)
        assert firing["status"] == "firing"
        assert firing["alerts"][0]["labels"] == labels
        assert firing["alerts"][0]["annotations"] == {"summary": "via Alertmanager"}

        am_alerts = await tocsin_get(am.url, "/api/v2/alerts")
        fp = am_alerts[0]["fingerprint"]
        assert firing["alerts"][0]["fingerprint"] == fp  # the same label set, the same fingerprint
        mine = await tocsin_get(d.url, f"/api/tocsin/v1/alerts/{fp}")
        assert mine["state"] == "firing"
        # Firing until Alertmanager says otherwise (or ttl passes), not resolve_timeout.
        assert mine["ends_at"] > mine["fired_at"]

        await am_post(am.url, [{"labels": labels, "endsAt": "2020-01-01T00:00:00Z"}])
        msgs = await receiver.wait_for(2, timeout=30)
        assert msgs[1]["status"] == "resolved"
        async def resolved() -> bool:
            return (await tocsin_get(d.url, f"/api/tocsin/v1/alerts/{fp}"))["state"] == "resolved"

        await wait_until(resolved, timeout=5.0, interval=0.1)
    finally:
        am.stop()


async def test_bad_messages_are_refused_with_the_reason(make_daemon, receiver):
    d = make_daemon(f"""
route: {{receiver: hook}}
receivers: [{{name: hook, webhook_configs: [{{url: "{receiver.url}"}}]}}]
""")
    await d.start()
    async with aiohttp.ClientSession() as s:
        for body, params, field in (({"version": "3", "alerts": []}, "", "version"),
                                    ({"version": "4", "alerts": []}, "?ttl=soon", "ttl"),
                                    ({"version": "4", "alerts": [{"labels": {"9": "x"}}]}, "", None)):
            async with s.post(f"{d.url}/api/tocsin/v1/alertmanager/webhook{params}", json=body) as resp:
                assert resp.status == 400
                got = await resp.json()
                if field:
                    assert got["field"] == field
                else:
                    assert got["field"].startswith("alerts[0].labels")
