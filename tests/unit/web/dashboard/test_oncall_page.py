"""The on-call page: escalations to come, remediations awaiting approval with approve and
reject, dead letters with replay and drop; every action a CSRF-checked form with the API's
role, and no action button for a read-only session."""

from __future__ import annotations

from typing import Any

from tests.unit.web.dashboard.pagetext import elements
from tests.unit.web.tokens import TOKENS
from tocsin import hookimpl
from tocsin.core.clock import FakeClock
from tocsin.remediation import ExecContext, Outcome, RemediationConfig, RemediationKind, Rendered
from tocsin.remediation.engine import PENDING
from tocsin.testing import advance, api_client, instant_retries, post, wait_until

T0 = 1_700_000_000.0
RAN: list[str] = []

CONFIG = """
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  routes:
    - matchers: ['team="db"']
      receiver: team
      escalation_policy: db-oncall
    - matchers: ['alertname="AppDown"']
      receiver: team
      remediations: [restart]
receivers:
  - name: team
    webhook_configs: [{{url: "{url}/team"}}]
  - name: lead
    webhook_configs: [{{url: "{url}/lead"}}]
escalation_policies:
  - name: db-oncall
    levels:
      - {{after: 0m, receivers: [team]}}
      - {{after: 5m, receivers: [lead]}}
remediations:
  - name: restart
    kind: fix
    require_approval: true
    description: restart the app
{auth}
"""

AUTH = f"""
server:
  auth:
    tokens:
      - {{name: grafana, role: read, token: {TOKENS["read"]}}}
      - {{name: oncall, role: admin, token: {TOKENS["admin"]}}}
"""


class FixConfig(RemediationConfig, kw_only=True):
    pass


class Fix:
    def __init__(self, config: FixConfig, templates: Any) -> None:
        pass

    def render(self, data: dict[str, Any]) -> Rendered:
        return Rendered(summary=f"restart {data['labels'].get('instance', '')}")

    async def execute(self, rendered: Rendered, ctx: ExecContext) -> Outcome:
        RAN.append(rendered.summary)
        return Outcome(ok=True, exit_code=0, output="done")


class Kinds:
    @hookimpl
    def tocsin_remediation_kinds(self) -> list[RemediationKind]:
        return [RemediationKind("fix", FixConfig, Fix)]


def csrf_of(html: str) -> str:
    return next(e.attrs["value"] for e in elements(html) if e.attrs.get("name") == "csrf")


def forms(html: str) -> list[str]:
    """Where each action of the page posts (a form's action, or a button's formaction)."""
    found = elements(html)
    return [e.attrs.get("formaction") or e.attrs.get("action", "") for e in found
            if (e.tag == "form" and e.attrs.get("method") == "post" and e.attrs.get("action"))
            or (e.tag == "button" and e.attrs.get("formaction"))]


async def oncall(client, **headers: str) -> str:
    resp = await client.get("/oncall", headers=headers)
    assert resp.status == 200
    return await resp.text()


async def act(client, path: str, html: str, **fields: str) -> str:
    resp = await client.post(path, data={"csrf": csrf_of(html), **fields}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    return resp.headers["Location"]


async def test_escalations_and_approvals_listed_and_decided(tmp_path, tocsin_receiver):
    RAN.clear()
    clock = FakeClock(T0)
    config = CONFIG.format(url=tocsin_receiver.url, auth="")
    async with api_client(config, tmp_path, clock=clock, plugins=[Kinds()]) as (client, rt):
        await post(rt, {"labels": {"alertname": "DBDown", "team": "db"}},
                   {"labels": {"alertname": "AppDown", "instance": "app1"}},
                   {"labels": {"alertname": "AppDown", "instance": "app2"}})
        await advance(rt, 30)
        html = await oncall(client)
        rows = [e for e in elements(html) if e.tag == "tr" and e.children and e.children[0].tag == "td"]
        [esc] = [" ".join(r.text.split()) for r in rows if "db-oncall" in r.text]
        assert "DBDown" in esc
        assert "level 2" in esc
        assert "lead" in esc
        assert "in 4m" in esc
        runs = [e for e in elements(html) if e.tag == "article" and "run" in e.classes]
        assert len(runs) == 2
        assert all("restart the app" in r.text for r in runs)
        ids = [r.attrs["id"].removeprefix("run-") for r in runs]
        assert forms(html) == [f"/oncall/remediations/{i}/{a}" for i in ids for a in ("approve", "reject")]

        # No CSRF token, or a wrong one: refused, nothing decided.
        resp = await client.post(f"/oncall/remediations/{ids[0]}/approve", data={"who": "eve"})
        assert resp.status == 403
        resp = await client.post(f"/oncall/remediations/{ids[0]}/approve", data={"csrf": "x" * 40})
        assert resp.status == 403
        assert RAN == []

        assert await act(client, f"/oncall/remediations/{ids[0]}/approve", html, who="alice",
                         note="go") == "/oncall?done=approved"
        await advance(rt, 0)
        assert len(RAN) == 1
        assert await act(client, f"/oncall/remediations/{ids[1]}/reject", html, who="bob") == \
            "/oncall?done=rejected"
        assert (await rt.remediator.get(ids[1])).decided_by == "bob"
        # Decided already: said so, nothing else happens.
        assert await act(client, f"/oncall/remediations/{ids[0]}/reject", html) == "/oncall?done=run-gone"
        after = await oncall(client)
        assert "No remediation awaits approval." in after
        done = await (await client.get("/oncall?done=approved")).text()
        assert "Remediation approved" in done
        assert "<script>" not in await (await client.get("/oncall?done=<script>")).text()


async def test_dead_letters_replayed_and_dropped(tmp_path, tocsin_receiver):
    tocsin_receiver.status = 503
    config = CONFIG.format(url=tocsin_receiver.url, auth="")
    async with api_client(config, tmp_path, plugins=[Kinds()]) as (client, rt):
        instant_retries(rt)
        await post(rt, {"labels": {"alertname": "A"}}, {"labels": {"alertname": "B"}})
        await advance(rt, 30)
        html = await oncall(client)
        letters = [e.attrs["id"].removeprefix("dead-letter-") for e in elements(html)
                   if e.attrs.get("id", "").startswith("dead-letter-")]
        assert len(letters) == 2
        assert "503" in html
        first, second = letters
        assert await act(client, f"/oncall/dead-letters/{first}/replay", html) == "/oncall?done=replay-failed"
        tocsin_receiver.status = 200
        assert await act(client, f"/oncall/dead-letters/{first}/replay", html) == "/oncall?done=replayed"
        assert await act(client, f"/oncall/dead-letters/{second}/drop", html) == "/oncall?done=dropped"
        assert await act(client, f"/oncall/dead-letters/{second}/drop", html) == "/oncall?done=letter-gone"
        assert rt.dead_letters.list() == []
        assert "No dead letter." in await oncall(client)


async def test_a_read_only_session_sees_no_action_and_may_not_act(tmp_path, tocsin_receiver):
    config = CONFIG.format(url=tocsin_receiver.url, auth=AUTH)
    read = {"Authorization": f"Bearer {TOKENS['read']}"}
    admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
    async with api_client(config, tmp_path, plugins=[Kinds()]) as (client, rt):
        instant_retries(rt)
        await post(rt, {"labels": {"alertname": "AppDown", "instance": "app1"}})
        await advance(rt, 30)
        await wait_until(lambda: [r for r in rt.remediator.runs.values() if r.state == PENDING])
        tocsin_receiver.status = 503  # the next notification ends as a dead letter
        await post(rt, {"labels": {"alertname": "Other"}})
        await advance(rt, 30)
        await wait_until(lambda: rt.dead_letters.list())
        html = await oncall(client, **read)
        assert "restart the app" in html
        assert "dead-letter-" in html
        assert forms(html) == []
        letters = rt.dead_letters.list()
        assert letters
        resp = await client.post(f"/oncall/dead-letters/{letters[0].id}/drop", headers=read,
                                 data={"csrf": csrf_of(await oncall(client, **admin))})
        assert resp.status == 403
        assert len(rt.dead_letters.list()) == len(letters)
        # The admin sees approve and reject, replay and drop of each letter.
        assert len(forms(await oncall(client, **admin))) == 2 + 2 * len(letters)
        assert (await client.get("/oncall", allow_redirects=False)).status in (303, 401)
