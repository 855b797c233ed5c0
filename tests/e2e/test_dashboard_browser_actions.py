"""Each action of the dashboard in a real browser against one ``tocsin serve`` subprocess
(token auth) and one chromium for the module: log in and out, acknowledge from the list,
silence from an alert with its preview, expire a silence, follow Alertmanager UI links,
approve a remediation (a webhook that waits for approval, sent to a local HTTP server),
replay a dead letter (a receiver that refused, then takes it), a read-only session
without action buttons, and forms refused without this dashboard's CSRF token.

Each test fails on any JavaScript console error, page error or failed request, but for
the refusals it provokes (a wrong token, a forged form)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.dashboard_browser import (
    TOKENS,
    Daemon,
    Peer,
    Watch,
    alert,
    browser_for,
    config,
    log_in,
    require_browser,
    wait_for,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    sync_playwright = require_browser()
    peer = Peer()
    peer.status["/flaky"] = 400
    daemon = Daemon(config(peer), tmp_path_factory.mktemp("actions"))
    try:
        with browser_for(sync_playwright) as browser:
            context = browser.new_context()
            log_in(context.new_page(), daemon.url)
            state = context.storage_state()
            context.close()
            yield {"daemon": daemon, "peer": peer, "browser": browser, "state": state}
    finally:
        daemon.stop()
        peer.close()


@pytest.fixture
def admin(site: dict[str, Any]) -> Iterator[tuple[Any, Watch]]:
    """A page of a session logged in with the admin token, and its watch."""
    context = site["browser"].new_context(storage_state=site["state"])
    page = context.new_page()
    watch = Watch(page)
    yield page, watch
    context.close()
    assert watch.errors == []


def held(daemon: Daemon, name: str) -> dict:
    return wait_for(lambda: next((a for a in daemon.alerts()
                                  if a["labels"]["alertname"] == name), None), what=name)


def test_log_in_with_a_token_then_log_out(site: dict[str, Any]) -> None:
    url = site["daemon"].url
    context = site["browser"].new_context()
    try:
        page = context.new_page()
        watch = Watch(page)
        page.goto(f"{url}/silences")
        page.wait_for_url("**/login?*")  # sent to log in first, the page to come back to kept
        watch.expect(401, "/login")
        page.fill("input[name=token]", "not-a-token")
        page.click("button:has-text('Log in')")
        page.wait_for_selector("p.error[role=alert]")
        page.fill("input[name=token]", TOKENS["admin"])
        page.click("button:has-text('Log in')")
        page.wait_for_url(f"{url}/silences")
        assert page.inner_text("header .who") == "oncall (admin)"
        assert [c["name"] for c in context.cookies() if c["httpOnly"] and c["sameSite"] == "Strict"]
        page.click("header button:has-text('Log out')")
        page.wait_for_url("**/login*")
        page.goto(f"{url}/")
        page.wait_for_url("**/login?*")  # the session is over
        assert page.locator("header .who").inner_text() == ""
        assert watch.errors == []
    finally:
        context.close()


def test_acknowledge_from_the_list(site: dict[str, Any], admin: tuple[Any, Watch]) -> None:
    daemon, (page, _) = site["daemon"], admin
    daemon.post(alert("QueueStuck", "critical", instance="mq1"))
    page.goto(f"{daemon.url}/alerts?filter=alertname%3D%22QueueStuck%22")
    item = page.locator("li.alert", has_text="QueueStuck")
    item.locator("details.act summary").click()
    item.locator("input[name=note]").fill("draining the queue")
    item.locator("button:has-text('Acknowledge')").click()
    page.wait_for_selector("li.alert .chip >> text=acknowledged")
    assert "Acknowledged by oncall: draining the queue" in page.inner_text("li.alert p.ack")
    assert held(daemon, "QueueStuck")["acknowledged_by"] == "oncall"


def test_silence_from_an_alert_with_its_preview(site: dict[str, Any], admin: tuple[Any, Watch]) -> None:
    daemon, (page, _) = site["daemon"], admin
    daemon.post(alert("SwapFull", "warning", instance="db7"), alert("SwapLow", "info", instance="db8"))
    page.goto(f"{daemon.url}/alerts/{held(daemon, 'SwapFull')['id']}")
    page.click("a.button:has-text('Silence')")
    page.wait_for_selector("#preview[data-count='1']")  # the preview before anything is made
    assert 'alertname="SwapFull"' in page.input_value("#matchers")
    page.fill("#matchers", 'alertname=~"Swap.*"')
    page.wait_for_selector("#preview[data-count='2']")
    assert daemon.api("GET", "/api/v2/silences?filter=alertname%3D~%22Swap.%2A%22") == []
    page.click("button[data-duration='2h']")
    page.fill("textarea[name=comment]", "swap being resized")
    page.click("button:has-text('Create silence')")
    page.wait_for_url("**/silences/*-*")
    page.wait_for_selector("h1 >> text=active")
    [made] = [s for s in daemon.api("GET", "/api/v2/silences") if s["comment"] == "swap being resized"]
    assert made["createdBy"] == "oncall"
    assert made["id"] in page.url


def test_expire_a_silence(site: dict[str, Any], admin: tuple[Any, Watch]) -> None:
    daemon, (page, _) = site["daemon"], admin
    made = daemon.api("POST", "/api/v2/silences", {
        "matchers": [{"name": "instance", "value": "expire-me", "isRegex": False, "isEqual": True}],
        "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "oncall", "comment": "to be expired"})["silenceID"]
    page.goto(f"{daemon.url}/silences")
    row = page.locator("#active tr", has_text="expire-me")
    row.locator("button:has-text('Expire')").click()
    page.wait_for_selector("#expired tr >> text=expire-me")
    assert page.locator("#active tr", has_text="expire-me").count() == 0
    assert daemon.api("GET", f"/api/v2/silence/{made}")["status"]["state"] == "expired"


def test_alertmanager_ui_links_land_on_their_pages(site: dict[str, Any], admin: tuple[Any, Watch]) -> None:
    daemon, (page, _) = site["daemon"], admin
    daemon.post(alert("LinkTarget", "warning", instance="web3"))
    page.goto(f"{daemon.url}/#/silences/new?filter=%7Binstance%3D%22web3%22%7D")  # Slack's "Silence 1h"
    page.wait_for_url("**/silences/new?filter=*")
    assert page.input_value("#matchers") == 'instance="web3"'
    page.wait_for_selector("#preview[data-count='1']")
    page.goto(f"{daemon.url}/#/alerts?filter=%7Balertname%3D%22LinkTarget%22%7D")
    page.wait_for_url("**/alerts?filter=*")
    assert page.locator("li.alert a.name").all_inner_texts() == ["LinkTarget"]
    page.goto(f"{daemon.url}/#/silences")
    page.wait_for_url(f"{daemon.url}/silences")


def test_approve_a_remediation(site: dict[str, Any], admin: tuple[Any, Watch]) -> None:
    daemon, peer, (page, _) = site["daemon"], site["peer"], admin
    daemon.post(alert("AppDown", "critical", instance="app7"))
    [run] = wait_for(lambda: daemon.api("GET", "/api/tocsin/v1/remediations?state=pending_approval"),
                     what="the run awaiting approval")
    page.goto(f"{daemon.url}/oncall")
    form = page.locator(f"#run-{run['id']} form.decide")
    form.locator("input[name=who]").fill("carol")
    form.locator("input[name=note]").fill("go ahead")
    assert peer.posted("/restart") == []  # nothing sent before the approval
    form.locator("button:has-text('Approve')").click()
    page.wait_for_selector("p.notice[role=status]")
    wait_for(lambda: peer.posted("/restart"), what="the remediation's webhook")
    decided = daemon.api("GET", f"/api/tocsin/v1/remediations/{run['id']}")
    assert decided["state"] in ("running", "succeeded")
    assert page.locator(f"#run-{run['id']}").count() == 0


def test_replay_a_dead_letter(site: dict[str, Any], admin: tuple[Any, Watch]) -> None:
    daemon, peer, (page, _) = site["daemon"], site["peer"], admin
    daemon.post(alert("Flaky", "warning", instance="lb9"))
    [letter] = wait_for(lambda: daemon.api("GET", "/api/tocsin/v1/dead-letters"), what="the dead letter")
    refused = len(peer.posted("/flaky"))
    peer.status["/flaky"] = 200  # the receiver works again
    page.goto(f"{daemon.url}/oncall")
    page.locator(f"#dead-letter-{letter['id']} button:has-text('Replay')").click()
    page.wait_for_selector("p.notice[role=status]")
    assert len(peer.posted("/flaky")) == refused + 1
    assert page.locator(f"#dead-letter-{letter['id']}").count() == 0
    assert daemon.api("GET", "/api/tocsin/v1/dead-letters") == []


def test_a_read_only_session_sees_no_action_buttons(site: dict[str, Any]) -> None:
    daemon = site["daemon"]
    daemon.post(alert("ReadOnlyView", "critical", instance="db3", team="db"))
    target = held(daemon, "ReadOnlyView")
    silence = daemon.api("POST", "/api/v2/silences", {
        "matchers": [{"name": "instance", "value": "read-only", "isRegex": False, "isEqual": True}],
        "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "oncall", "comment": "seen read-only"})["silenceID"]
    context = site["browser"].new_context()
    try:
        page = context.new_page()
        watch = Watch(page)
        log_in(page, daemon.url, "read")
        for path in ("/", f"/alerts/{target['id']}", "/oncall", "/silences", f"/silences/{silence}"):
            page.goto(daemon.url + path)
            assert "Read-only" in page.inner_text("p.banner"), path
            # Only the GET forms (filters) and logging out are left.
            acting = page.locator("form[method=post]:not(.logout), details.act, a:has-text('Silence…'),"
                                  " a:has-text('New silence'), button.danger")
            assert acting.count() == 0, (path, acting.first.evaluate("e => e.outerHTML"))
        assert page.locator("h2 >> text=Mutes now").count() == 1  # the silence's page: no edit form
        assert watch.errors == []
    finally:
        context.close()


def test_forms_without_this_dashboards_csrf_token_are_refused(site: dict[str, Any],
                                                              admin: tuple[Any, Watch]) -> None:
    daemon, peer, (page, watch) = site["daemon"], site["peer"], admin
    daemon.post(alert("Forged", "critical", instance="db4"))
    target = held(daemon, "Forged")
    # Another site (another port of the same host: the session cookie goes along) posts a
    # form at the dashboard.
    peer.pages["/evil"] = ('<!doctype html><title>evil</title><link rel="icon" href="data:,">'
                           f'<form method="post" action="{daemon.url}/alerts/{target["id"]}/ack">'
                           '<input name="csrf" value="guessed"><input name="note" value="forged">'
                           '<button>go</button></form>')
    page.goto(f"{peer.url}/evil")
    watch.expect(403, f"/alerts/{target['id']}/ack")
    page.click("button")
    page.wait_for_selector("text=another site")
    # The dashboard's own page, its form's token altered.
    page.goto(f"{daemon.url}/alerts/{target['id']}")
    page.click("details.act summary")
    page.eval_on_selector("details.act input[name=csrf]", "e => e.value = 'x'.repeat(43)")
    watch.expect(403, f"/alerts/{target['id']}/ack")
    page.click("details.act button:has-text('Acknowledge')")
    page.wait_for_selector("text=stale")
    assert held(daemon, "Forged")["acknowledged_by"] in (None, "")
