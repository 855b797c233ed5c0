"""Every page of the dashboard in a real browser, at desktop (1280x800) and phone (390x844)
width (light and dark mode): it loads without a JavaScript error or a failed request, axe-core finds no
``serious`` or ``critical`` accessibility violation, and, with ``TOCSIN_SCREENSHOTS=DIR``,
its screenshot is written to DIR (``docs/screenshots`` holds the ones the docs show).

One daemon (token auth, an admin logged in through /login) and one chromium for the
module; the daemon holds a bit of everything each page shows: alerts in several states,
a silence, an escalation to come, a remediation awaiting approval, a dead letter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.dashboard_browser import (
    AXE,
    SCHEMES,
    VIEWPORTS,
    Daemon,
    Peer,
    Watch,
    alert,
    browser_for,
    check_accessibility,
    config,
    log_in,
    require_browser,
    screenshot,
    wait_for,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    sync_playwright = require_browser()
    peer = Peer()
    peer.status["/flaky"] = 400  # refused for good: dead-lettered at the first attempt
    daemon = Daemon(config(peer), tmp_path_factory.mktemp("pages"))
    try:
        daemon.post(
            alert("DiskFull", "critical", instance="db1", team="db"),
            alert("CPUHigh", "warning", instance="web1"),
            alert("AppDown", "critical", instance="app1"),
            alert("Flaky", "warning", instance="lb1"),
            alert("CertExpiry", "info", instance="mail1"),
        )
        wait_for(lambda: len(daemon.alerts()) == 5, what="5 alerts")
        held = {a["labels"]["alertname"]: a for a in daemon.alerts()}
        daemon.api("POST", f"/api/tocsin/v1/alerts/{held['CertExpiry']['id']}/ack",
                   {"who": "oncall", "note": "renewal ordered"})
        silence = daemon.api("POST", "/api/v2/silences", {
            "matchers": [{"name": "alertname", "value": "CPUHigh", "isRegex": False, "isEqual": True}],
            "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
            "createdBy": "oncall", "comment": "load test until Friday"})
        wait_for(lambda: daemon.api("GET", "/api/tocsin/v1/dead-letters"), what="a dead letter")
        wait_for(lambda: daemon.api("GET", "/api/tocsin/v1/remediations?state=pending_approval"),
                 what="a remediation awaiting approval")
        with browser_for(sync_playwright) as browser:
            context = browser.new_context()
            log_in(context.new_page(), daemon.url)
            state = context.storage_state()
            context.close()
            yield {"url": daemon.url, "browser": browser, "state": state, "alert": held["DiskFull"]["id"],
                   "silence": silence["silenceID"]}
    finally:
        daemon.stop()
        peer.close()


PAGES = {
    "alerts": "/",
    "alert": "/alerts/{alert}",
    "silences": "/silences",
    "silence-new": "/silences/new?filter=%7Balertname%3D%22DiskFull%22%7D",
    "silence": "/silences/{silence}",
    "oncall": "/oncall",
    "stats": "/stats?window=1",
    "routes": "/routes?labels=alertname%3D%22DiskFull%22%2C+team%3D%22db%22",
    "status": "/status",
    "login": "/login",
}


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("name", PAGES)
def test_page_loads_cleanly_and_passes_axe(site: dict[str, Any], name: str, viewport: str) -> None:
    logged_in = name != "login"
    context = site["browser"].new_context(viewport=VIEWPORTS[viewport], color_scheme=SCHEMES[viewport],
                                          storage_state=site["state"] if logged_in else None)
    try:
        page = context.new_page()
        watch = Watch(page)
        page.goto(site["url"] + PAGES[name].format(**site))
        if name == "stats":  # axe sees the charts drawn
            page.wait_for_selector("figure[data-chart='per_hour'].drawn .uplot canvas")
        check_accessibility(page)
        screenshot(page, name, viewport)
        assert watch.errors == []
    finally:
        context.close()


def test_the_vendored_axe_core_is_the_one_its_record_names() -> None:
    record = (AXE.parent.parent / "VENDORED.md").read_text()
    assert f"file sha256 {hashlib.sha256(AXE.read_bytes()).hexdigest()}" in record
    assert (AXE.parent / "LICENSE").read_text().startswith("Mozilla Public License, version 2.0")
