"""The stats page: its charts' data embedded as JSON (per hour, MTTA/MTTR, delivery per
receiver), the heatmap and the bar charts in HTML, a table for each chart without
JavaScript, alert text escaped, bad parameters refused by name, and auth."""

from __future__ import annotations

import json
import math

from tests.unit.web.dashboard.pagetext import elements, script_json_text
from tests.unit.web.tokens import TOKEN_AUTH, TOKENS
from tocsin.core.clock import FakeClock
from tocsin.core.records import Incident
from tocsin.store import Attempt
from tocsin.testing import api_client

H = 3600.0
#: Thursday 2023-11-16 10:13:20 UTC.
T0 = 1_700_129_600.0
CONFIG = "route: {receiver: team}\nreceivers: [{name: team}, {name: ops}]\n"
HOSTILE = '</script><script>alert("x")</script><img src=x onerror=alert(1)>'


def incident(i: str, fired_at: float, name: str = "DiskFull", *, acked: float = 0.0,
             resolved: float = 0.0, fp: str = "") -> Incident:
    return Incident(id=f"{i:0>32}", fingerprint=fp or f"fp-{i}",
                    labels={"alertname": name, "instance": f"db{i}"},
                    state="resolved" if resolved else "firing", fired_at=fired_at, last_seen=fired_at,
                    acknowledged_at=acked, resolved_at=resolved)


def attempt(at: float, receiver: str, error: str = "") -> Attempt:
    return Attempt(at=at, receiver=receiver, integration="webhook[0]", group_key="{}:{}", attempt=1,
                   status=None if error else 200, latency=0.1, error=error)


async def seed(rt) -> None:
    flap = [incident(f"f{i}", T0 - 2 * H + i * 600, "Flappy", resolved=T0 - 2 * H + i * 600 + 60, fp="flappy")
            for i in range(5)]
    await rt.store.save(incidents=[
        incident("1", T0 - 30 * H, acked=T0 - 30 * H + 120, resolved=T0 - 29 * H),
        incident("2", T0 - 26 * H, acked=T0 - 26 * H + 240),
        incident("3", T0 - 9 * 86400),  # outside a 7-day window
        incident("4", T0 - 3 * H, HOSTILE),
        *flap,
    ])
    for a in (attempt(T0 - 5 * H, "team"), attempt(T0 - 5 * H, "team", "HTTP 500"),
              attempt(T0 - 4 * H, "team"), attempt(T0 - 50 * H, "ops")):
        await rt.store.save_attempt(a)


async def test_stats_page_embeds_the_series_and_draws_heatmap_and_bars(tmp_path):
    async with api_client(CONFIG, tmp_path, clock=FakeClock(T0)) as (client, rt):
        await seed(rt)
        resp = await client.get("/stats", params={"window": "7"})
        assert resp.status == 200
        html = await resp.text()
    data = json.loads(script_json_text(html, "chart-data"))
    until = (math.floor(T0 / H) + 1) * H
    per_hour = data["per_hour"]
    assert len(per_hour["x"]) == 7 * 24
    assert per_hour["x"][-1] == until - H
    counts = per_hour["series"][0]["values"]
    assert sum(counts) == 8  # the one from nine days ago is outside
    assert counts[per_hour["x"].index(math.floor((T0 - 30 * H) / H) * H)] == 1
    # MTTA and MTTR per day: the two acknowledged on Wednesday, 2 and 4 minutes.
    response = data["response"]
    [label_a, label_r] = [s["label"] for s in response["series"]]
    assert (label_a, label_r) == ("MTTA", "MTTR")
    assert [v for v in response["series"][0]["values"] if v is not None] == [180.0]
    # Delivery success per receiver over time: team 2 of 3 in one hour, ops in another.
    delivery = {s["label"]: [v for v in s["values"] if v is not None] for s in data["delivery"]["series"]}
    assert delivery == {"ops": [100.0], "team": [50.0, 100.0]}

    found = elements(html)
    # The heatmap: Thursday's hour of the flapping alerts holds the most.
    cells = [e for e in found if e.tag == "td" and any(c.startswith("heat-") for c in e.classes)]
    assert len(cells) == 7 * 24
    assert sum(int(c.text) for c in cells if c.text.strip()) == 8
    assert max(cells, key=lambda c: int(c.text or 0)).classes == {"heat-5"}
    bars = {e.attrs["aria-label"]: [li.text.split() for li in e.children] for e in found if e.tag == "ol"}
    noisy = bars["Firings per alert"]
    assert noisy[0][0] == "Flappy"
    flapping = bars["Most firings in an hour per alert"]
    assert [row[0] for row in flapping] == ["Flappy"]
    delivered = bars["Successful delivery attempts per receiver"]
    assert [row[0] for row in delivered] == ["ops", "team"]
    assert "66.7%" in delivered[1]
    # The charts' fallbacks, and alert text escaped wherever it shows.
    assert html.count("<noscript>") == 3
    assert HOSTILE not in html
    assert "&lt;/script&gt;" in html or "\\u003c/script\\u003e" in html
    assert "alert(1)>" not in html


async def test_stats_page_refuses_a_bad_window_or_time_zone(tmp_path):
    async with api_client(CONFIG, tmp_path, clock=FakeClock(T0)) as (client, _rt):
        resp = await client.get("/stats", params={"window": "5"})
        assert resp.status == 400
        assert "window: one of 1, 7, 30, 90 days" in await resp.text()
        resp = await client.get("/stats", params={"tz": "Mars/Olympus"})
        assert resp.status == 400
        assert "tz: unknown time zone" in await resp.text()
        one_day = await client.get("/stats", params={"window": "1", "tz": "Europe/Berlin"})
        assert one_day.status == 200
        data = json.loads(script_json_text(await one_day.text(), "chart-data"))
        assert len(data["per_hour"]["x"]) == 24
        assert len(data["response"]["x"]) == 24  # per hour in a one-day window


async def test_stats_page_needs_the_read_role(tmp_path):
    async with api_client(TOKEN_AUTH, tmp_path, clock=FakeClock(T0)) as (client, _rt):
        refused = await client.get("/stats", allow_redirects=False)
        assert refused.status in (303, 401)
        ingest = await client.get("/stats", allow_redirects=False,
                                  headers={"Authorization": f"Bearer {TOKENS['ingest']}"})
        assert ingest.status == 403
        ok = await client.get("/stats", headers={"Authorization": f"Bearer {TOKENS['read']}"})
        assert ok.status == 200
