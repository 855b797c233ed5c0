"""Alertmanager and tocsin, same config, same alerts: the same notifications.

Each scenario uses its own alertname, so all run at once on one pair of
daemons. Notifications are compared by content (receiver, groupLabels,
status, the set of firing and of resolved fingerprints), never by timing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from tests.peers import Alertmanager, Daemon, WebhookReceiver

pytestmark = pytest.mark.e2e

GROUP_WAIT = 1.0
GROUP_INTERVAL = 2.0
#: Long enough for any flush that could still come to have come.
SETTLE = GROUP_WAIT + 2 * GROUP_INTERVAL + 1.5

CONFIG = """
global:
  resolve_timeout: 5m
route:
  receiver: default
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: ['severity="page"']
      receiver: pager
      continue: true
    - matchers: ['team="db"']
      receiver: db
    - matchers: ['alertname="MuteTime"']
      receiver: default
      mute_time_intervals: [always]
receivers:
  - name: default
    webhook_configs: [{{url: "{url}/default", send_resolved: true}}]
  - name: pager
    webhook_configs: [{{url: "{url}/pager", send_resolved: true}}]
  - name: db
    webhook_configs: [{{url: "{url}/db", send_resolved: true}}]
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname]
time_intervals:
  - name: always
    time_intervals:
      - times: [{{start_time: "00:00", end_time: "24:00"}}]
"""


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


class System:
    """One system under comparison: its base URL and its webhook receiver."""

    def __init__(self, name: str, url: str, receiver: WebhookReceiver) -> None:
        self.name = name
        self.url = url
        self.receiver = receiver

    async def post(self, alerts: list[dict]) -> None:
        async with aiohttp.ClientSession() as s, s.post(f"{self.url}/api/v2/alerts", json=alerts) as r:
            assert r.status == 200, (self.name, await r.text())

    async def silence(self, **labels: str) -> str:
        now = datetime.now(UTC)
        body = {"matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True}
                             for k, v in labels.items()],
                "startsAt": iso(now), "endsAt": iso(now + timedelta(hours=1)),
                "createdBy": "test", "comment": "differential"}
        async with aiohttp.ClientSession() as s, s.post(f"{self.url}/api/v2/silences", json=body) as r:
            assert r.status == 200, (self.name, await r.text())
            return (await r.json())["silenceID"]

    def notices(self, alertname: str) -> list[tuple]:
        out = []
        for m in self.receiver.messages:
            if m["groupLabels"].get("alertname") != alertname:
                continue
            firing = frozenset(a["fingerprint"] for a in m["alerts"] if a["status"] == "firing")
            resolved = frozenset(a["fingerprint"] for a in m["alerts"] if a["status"] == "resolved")
            out.append((m["receiver"], tuple(sorted(m["groupLabels"].items())), m["status"],
                        firing, resolved))
        # Receivers deliver independently: order matters within a receiver only.
        return sorted(out, key=lambda n: n[0])


def alert(name: str, **labels: str) -> dict:
    return {"labels": {"alertname": name, **labels}, "annotations": {"summary": name}}


async def both(systems, fn) -> None:
    await asyncio.gather(*(fn(s) for s in systems))


# -- scenarios: each posts to both systems; the comparison happens afterwards ----------


async def grouping(systems):
    await both(systems, lambda s: s.post([alert("Grouping", instance=f"h{i}") for i in range(3)]))
    await asyncio.sleep(SETTLE)


async def repost_unchanged(systems):
    batch = [alert("Repost", instance="a"), alert("Repost", instance="b")]
    await both(systems, lambda s: s.post(batch))
    await asyncio.sleep(GROUP_WAIT + 1)
    for _ in range(3):  # Prometheus re-sends every evaluation; nothing changed
        await both(systems, lambda s: s.post(batch))
        await asyncio.sleep(GROUP_INTERVAL / 2)
    await asyncio.sleep(SETTLE)


async def resolution(systems):
    start = datetime.now(UTC) - timedelta(minutes=5)
    await both(systems, lambda s: s.post([alert("Resolution", instance="a") | {"startsAt": iso(start)}]))
    await asyncio.sleep(GROUP_WAIT + 1.5)
    ended = alert("Resolution", instance="a") | {"startsAt": iso(start), "endsAt": iso(datetime.now(UTC))}
    await both(systems, lambda s: s.post([ended]))
    await asyncio.sleep(SETTLE)


async def inhibition(systems):
    await both(systems, lambda s: s.post([alert("Inhibition", severity="critical"),
                                          alert("Inhibition", severity="warning")]))
    await asyncio.sleep(SETTLE)


async def silence_before(systems):
    await both(systems, lambda s: s.silence(alertname="SilenceBefore"))
    await both(systems, lambda s: s.post([alert("SilenceBefore", instance="a")]))
    await asyncio.sleep(SETTLE)


async def silence_after(systems):
    await both(systems, lambda s: s.post([alert("SilenceAfter", instance="a"),
                                          alert("SilenceAfter", instance="b")]))
    await asyncio.sleep(GROUP_WAIT + 1.5)
    await both(systems, lambda s: s.silence(alertname="SilenceAfter", instance="a"))
    await asyncio.sleep(GROUP_INTERVAL)
    # A new alert makes the group notify again: without the silenced one.
    await both(systems, lambda s: s.post([alert("SilenceAfter", instance="c")]))
    await asyncio.sleep(SETTLE)


async def continue_route(systems):
    await both(systems, lambda s: s.post([alert("Continue", severity="page", team="db")]))
    await asyncio.sleep(SETTLE)


async def mute_time_interval(systems):
    await both(systems, lambda s: s.post([alert("MuteTime", instance="a")]))
    await asyncio.sleep(SETTLE)


SCENARIOS = {
    "Grouping": grouping,
    "Repost": repost_unchanged,
    "Resolution": resolution,
    "Inhibition": inhibition,
    "SilenceBefore": silence_before,
    "SilenceAfter": silence_after,
    "Continue": continue_route,
    "MuteTime": mute_time_interval,
}


@pytest.fixture
async def systems(tmp_path):
    receivers = {"alertmanager": WebhookReceiver(), "tocsin": WebhookReceiver()}
    for r in receivers.values():
        await r.start()
    base = {name: r.url.rsplit("/", 1)[0] for name, r in receivers.items()}

    am = Alertmanager(tmp_path / "am", CONFIG.format(url=base["alertmanager"]))
    (tmp_path / "tocsin.yml").write_text(CONFIG.format(url=base["tocsin"]))
    tocsin = Daemon(tmp_path / "tocsin.yml", tmp_path / "db" / "t.db", tmp_path / "tocsin.log")
    try:
        await am.start()
        await tocsin.start()
        yield [System("alertmanager", am.url, receivers["alertmanager"]),
               System("tocsin", tocsin.url, receivers["tocsin"])]
    finally:
        tocsin.stop()
        am.stop()
        for r in receivers.values():
            await r.stop()


async def test_same_notifications_as_alertmanager(systems):
    await asyncio.gather(*(scenario(systems) for scenario in SCENARIOS.values()))
    am, ours = systems
    differences = {}
    for name in SCENARIOS:
        theirs, mine = am.notices(name), ours.notices(name)
        if theirs != mine:
            differences[name] = {"alertmanager": theirs, "tocsin": mine}
    assert differences == {}

    # The scenarios did what they were meant to, on Alertmanager too.
    def receivers(name):
        return sorted({n[0] for n in am.notices(name)})

    assert len(am.notices("Grouping")) == 1
    assert len(am.notices("Grouping")[0][3]) == 3
    assert len(am.notices("Repost")) == 1
    assert [n[2] for n in am.notices("Resolution")] == ["firing", "resolved"]
    assert len(am.notices("Inhibition")[0][3]) == 1
    assert am.notices("SilenceBefore") == []
    assert am.notices("MuteTime") == []
    assert [len(n[3]) for n in am.notices("SilenceAfter")] == [2, 2]
    assert receivers("Continue") == ["db", "pager"]
