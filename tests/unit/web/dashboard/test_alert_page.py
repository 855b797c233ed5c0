"""One alert's page and the actions on it: acknowledge, unacknowledge, resolve."""

from __future__ import annotations

import re

from tests.unit.web.dashboard.helpers import HOSTILE, csrf_of, dashboard, open_page, post_alerts
from tests.unit.web.tokens import TOKEN_AUTH, TOKENS
from tocsin.core.records import HistoryEvent, Outcome, RemediationRun


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


async def one(client, rt, labels=None, annotations=None, headers=None) -> tuple[str, str]:
    """(the alert's incident id, the CSRF token of a page)."""
    await post_alerts(
        client,
        rt,
        {"labels": labels or {"alertname": "Disk", "instance": "db1"}, "annotations": annotations or {}},
    )
    [alert] = list(rt.alerts)
    inc = rt.lifecycle.get(alert.fingerprint)
    assert inc is not None
    _, page = await open_page(client, f"/alerts/{inc.id}", headers=headers or {})
    return inc.id, csrf_of(page) if 'name="csrf"' in page else ""


async def test_the_page_shows_labels_annotations_links_and_history(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        aid, _ = await one(
            client,
            rt,
            {"alertname": "Disk", "instance": "db1", "evil": HOSTILE},
            {
                "runbook_url": "https://runbooks.example/disk?a=1&b=2",
                "dashboard_url": "javascript:alert(1)",
                "summary": HOSTILE,
            },
        )
        inc = rt.lifecycle.get(next(iter(rt.alerts)).fingerprint)
        assert inc is not None
        await rt.store.save(
            history=[
                HistoryEvent(
                    at=rt.clock.now() + 1,
                    alert_id=aid,
                    fingerprint=inc.fingerprint,
                    kind="notified",
                    actor="team-a",
                    detail={"receiver": "team-a", "integration": "slack[0]", "status": "firing"},
                )
            ],
            runs=[
                RemediationRun(
                    id="run1",
                    remediation="restart-db",
                    kind="command",
                    fingerprint=inc.fingerprint,
                    alert_id=aid,
                    state="succeeded",
                    trigger="route 1",
                    created_at=rt.clock.now(),
                    outcome=Outcome(ok=True, exit_code=0, output=f"restarted {HOSTILE}"),
                )
            ],
        )
        await rt.store.save(
            history=[
                HistoryEvent(
                    at=rt.clock.now() + 2,
                    alert_id=aid,
                    fingerprint=inc.fingerprint,
                    kind="remediation",
                    actor="tocsin",
                    detail={"run": "run1", "remediation": "restart-db", "state": "succeeded"},
                )
            ]
        )
        status, page = await open_page(client, f"/alerts/{aid}")
        assert status == 200
        assert "<dt>instance</dt><dd>db1</dd>" in page
        assert '<a href="https://runbooks.example/disk?a=1&amp;b=2"' in page
        assert 'href="javascript' not in page
        assert "<dd>javascript:alert(1)</dd>" in page
        assert HOSTILE not in page
        kinds = re.findall(r'<li class="k-(\w+)">', page)
        assert kinds == ["fired", "notified", "remediation"]
        assert "slack[0]" in page
        assert "team-a" in page
        assert "exit 0" in page
        assert "restarted &lt;script&gt;" in page
        # By fingerprint and by short reference too, as the API.
        assert (await client.get(f"/alerts/{inc.fingerprint}")).status == 200
        assert (await client.get(f"/alerts/{aid[-6:]}")).status == 200
        status, page = await open_page(client, "/alerts/ffffffffffffffff")
        assert status == 404
        assert "No such alert" in page


async def test_acknowledge_unacknowledge_and_resolve_with_a_note(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        aid, token = await one(client, rt)
        resp = await client.post(
            f"/alerts/{aid}/ack",
            data={"csrf": token, "note": "on it", "next": "/alerts"},
            allow_redirects=False,
        )
        assert resp.status == 303
        assert resp.headers["Location"] == "/alerts"
        inc = rt.lifecycle.get(next(iter(rt.alerts)).fingerprint)
        assert inc is not None
        assert inc.state == "acknowledged"
        assert inc.ack_note == "on it"
        assert inc.acknowledged_by == "dashboard"  # no auth and no name given
        _, page = await open_page(client, f"/alerts/{aid}")
        assert 'name="who"' in page  # without auth, the form asks who
        assert "Unacknowledge" in page
        assert ">Acknowledge<" not in page
        assert re.search(r'<li class="k-acknowledged">.*?on it', page, re.S)
        resp = await client.post(f"/alerts/{aid}/unack", data={"csrf": token, "who": "carol"},
                                 allow_redirects=False)
        assert resp.status == 303
        assert resp.headers["Location"] == f"/alerts/{aid}"
        assert rt.lifecycle.get(inc.fingerprint).state == "firing"
        resp = await client.post(
            f"/alerts/{aid}/resolve",
            data={"csrf": token, "note": "fixed", "next": "https://evil.example/"},
            allow_redirects=False,
        )
        assert resp.status == 303
        assert resp.headers["Location"] == f"/alerts/{aid}"
        history = await rt.store.load_history(aid)
        assert [h.kind for h in history] == ["fired", "acknowledged", "unacknowledged", "resolved"]
        assert all(h.detail.get("source") == "dashboard" for h in history[1:])
        assert [h.actor for h in history[1:]] == ["dashboard", "carol", "dashboard"]
        # Resolved: nothing left to do, so no form.
        _, page = await open_page(client, f"/alerts/{aid}")
        assert '/ack"' not in page
        # Acknowledging it again is refused, with the reason.
        resp = await client.post(f"/alerts/{aid}/ack", data={"csrf": token})
        assert resp.status == 409


async def test_an_action_without_the_dashboards_token_or_from_another_site_is_refused(tmp_path):
    async with dashboard(tmp_path) as (client, rt):
        aid, token = await one(client, rt)
        for data, headers in (
            ({}, {}),
            ({"csrf": "x" * 43}, {}),
            ({"csrf": token}, {"Origin": "https://evil.example"}),
            ({"csrf": token}, {"Sec-Fetch-Site": "cross-site"}),
        ):
            resp = await client.post(f"/alerts/{aid}/ack", data=data, headers=headers, allow_redirects=False)
            assert resp.status == 403, (data, headers)
            assert "Not done" in await resp.text()
        assert rt.lifecycle.get(next(iter(rt.alerts)).fingerprint).state == "firing"
        # The same form from this site goes through.
        resp = await client.post(
            f"/alerts/{aid}/ack",
            data={"csrf": token},
            headers={"Origin": str(client.make_url("")).rstrip("/"), "Sec-Fetch-Site": "same-origin"},
            allow_redirects=False,
        )
        assert resp.status == 303


async def test_a_read_only_role_sees_no_action_and_cannot_act(tmp_path):
    async with dashboard(tmp_path, TOKEN_AUTH) as (client, rt):
        resp = await client.post(
            "/api/v2/alerts", json=[{"labels": {"alertname": "Disk"}}], headers=bearer("ingest")
        )
        assert resp.status == 200
        await rt.settle()
        inc = rt.lifecycle.get(next(iter(rt.alerts)).fingerprint)
        assert inc is not None
        for path in ("/alerts", f"/alerts/{inc.id}"):
            status, page = await open_page(client, path, headers=bearer("read"))
            assert status == 200
            for action in ('/ack"', "Silence…", 'name="csrf"'):
                assert action not in page, (path, action)
        # Even with the dashboard's token (its cookie), the read role may not act.
        token = next(c.value for c in client.session.cookie_jar if c.key == "tocsin_csrf")
        resp = await client.post(f"/alerts/{inc.id}/ack", data={"csrf": token}, headers=bearer("read"))
        assert resp.status == 403
        assert rt.lifecycle.get(inc.fingerprint).state == "firing"
        # admin may; the actor is the token's name.
        _, page = await open_page(client, f"/alerts/{inc.id}", headers=bearer("admin"))
        assert '/ack"' in page
        resp = await client.post(
            f"/alerts/{inc.id}/ack",
            data={"csrf": csrf_of(page)},
            headers=bearer("admin"),
            allow_redirects=False,
        )
        assert resp.status == 303
        assert rt.lifecycle.get(inc.fingerprint).acknowledged_by == "oncall"
