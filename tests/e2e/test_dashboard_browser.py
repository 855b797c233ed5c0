"""The dashboard in a real browser: Debian's chromium, driven by Playwright, against a
``tocsin serve`` subprocess (one daemon and one browser for the module; what the browser
tests share is in ``tests/e2e/dashboard_browser.py``). Skipped loudly when chromium or
Playwright is missing, failed under CI=true.

One walk through the pages an on-call engineer uses, logged in with HTTP basic auth: the
list, a filter, an alert, an acknowledgement, a silence made from the alert with its live
preview, an Alertmanager UI link, and an alert that arrives while the list is open (by
server-sent events). Alert text carries script payloads all along; none may run, and no
page may log a JavaScript error (the Content-Security-Policy's refusals included).
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import bcrypt
import pytest

from tests.e2e.dashboard_browser import Daemon, Watch, browser_for, require_browser

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
#: Basic auth on: the browser logs in as a person would (cost 4: the cheapest bcrypt).
CONFIG = f"""
route:
  receiver: default
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: default
server:
  auth:
    basic_auth_users:
      alice: "{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()}"
"""
PAYLOAD = '<img src=x onerror="window.pwned=1">'
CREDENTIALS = {"username": "alice", "password": PASSWORD}


def post(url: str, alerts: list[dict]) -> None:
    auth = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(f"{url}/api/v2/alerts", data=json.dumps(alerts).encode(), method="POST",
                                     headers={"Authorization": auth, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200


def alert(name: str, severity: str, **labels: str) -> dict:
    return {
        "labels": {"alertname": name, "severity": severity, **labels},
        "annotations": {
            "summary": f"{name} {PAYLOAD}",
            "runbook_url": "javascript:window.pwned=2",
            "dashboard": "https://grafana.example/d/disk",
        },
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    sync_playwright = require_browser()
    daemon = Daemon(CONFIG, tmp_path_factory.mktemp("walk"))
    try:
        # A name that is itself a payload: it shows in the list and in the stats' bars.
        post(daemon.url, [alert("DiskFull", "critical", instance="db1", evil=PAYLOAD),
                          alert("CPUHigh", "warning", instance="web1"), alert(PAYLOAD, "warning")])
        with browser_for(sync_playwright) as browser:
            yield daemon.url, browser
    finally:
        daemon.stop()


def test_on_call_walk_through_the_dashboard(site: tuple[str, Any]) -> None:
    url, browser = site
    # The browser answers the 401's Basic challenge with alice's password.
    context = browser.new_context(http_credentials=CREDENTIALS)
    try:
        page = context.new_page()
        watch = Watch(page)
        # The list, then a filter in Alertmanager's syntax.
        page.goto(f"{url}/")
        page.wait_for_selector("li.alert >> text=CPUHigh")
        assert page.inner_text("header .who") == "alice (admin)"
        assert page.locator("li.alert").count() == 3
        page.fill("#filter", "alertname=D")  # completed from the alerts held
        page.wait_for_selector('#filter-completions option[value=\'alertname="DiskFull"\']',
                                     state="attached")
        page.fill("#filter", 'alertname="DiskFull"')
        page.press("#filter", "Enter")
        page.wait_for_url("**/alerts?filter=*")
        assert page.locator("li.alert").count() == 1

        # The alert, then acknowledge it with a note.
        page.click("li.alert a.name")
        page.wait_for_selector("h1 >> text=DiskFull")
        assert page.locator("a[href='https://grafana.example/d/disk']").count() == 1
        assert page.locator("a[href^='javascript']").count() == 0
        page.click("details.act summary")
        page.fill("details.act input[name=note]", "looking at the disk")
        page.click("details.act button:has-text('Acknowledge')")
        page.wait_for_selector("h1 .chip >> text=acknowledged")
        page.wait_for_selector("ol.timeline >> text=looking at the disk")

        # Silence it from the alert: the matchers come prefilled; widening them widens
        # the preview before anything is created.
        page.click("a.button:has-text('Silence')")
        page.wait_for_selector("#preview[data-count='1']")
        assert 'alertname="DiskFull"' in page.input_value("#matchers")
        page.fill("#matchers", 'alertname=~"DiskFull|CPUHigh"')
        page.wait_for_selector("#preview[data-count='2']")
        page.click("button[data-duration='1h']")
        assert page.input_value("#duration") == "1h"
        assert page.input_value("input[name=created_by]") == "alice"  # who is logged in
        page.fill("textarea[name=comment]", "disk being replaced")
        page.click("button:has-text('Create silence')")
        page.wait_for_url("**/silences/*-*")
        page.wait_for_selector("h1 >> text=active")
        silence_path = page.url.removeprefix(url)

        # Alertmanager UI links land on their pages: a new silence prefilled, a silence,
        # the alerts filtered.
        page.goto(f"{url}/#/silences/new?filter=%7Binstance%3D%22web1%22%7D")
        page.wait_for_url("**/silences/new?filter=*")
        assert page.input_value("#matchers") == 'instance="web1"'
        page.goto(f"{url}/#{silence_path}")
        page.wait_for_url(f"{url}{silence_path}")
        page.goto(f"{url}/#/alerts?filter=%7Balertname%3D%22CPUHigh%22%7D&silenced=true")
        page.wait_for_url("**/alerts?filter=*")
        assert page.locator("li.alert a.name").all_inner_texts() == ["CPUHigh"]

        # A new alert shows up in the open list by itself, but not while a form there is
        # open: the note being typed stays until the form is closed.
        page.goto(f"{url}/alerts?state=firing&state=acknowledged&state=silenced")
        page.wait_for_selector("body[data-live='open']")
        page.evaluate("window.sameDocument = true")
        page.click("li.alert details.act summary")
        page.fill("li.alert details.act input[name=note]", "half typed")
        post(url, [alert("Fresh", "info", instance="db9")])
        page.wait_for_selector("body[data-pending='true']", timeout=8000)
        assert page.input_value("li.alert details[open] input[name=note]") == "half typed"
        assert page.locator("li.alert >> text=Fresh").count() == 0
        page.click("li.alert details[open] summary")
        page.wait_for_selector("li.alert >> text=Fresh", timeout=8000)
        assert page.evaluate("window.sameDocument") is True  # swapped in, not reloaded
        assert int(page.get_attribute("body", "data-updates") or "0") >= 1

        assert page.evaluate("window.pwned") is None
        assert watch.errors == []
    finally:
        context.close()


def test_stats_page_draws_its_charts_with_uplot(site: tuple[str, Any]) -> None:
    url, browser = site
    context = browser.new_context(http_credentials=CREDENTIALS, viewport={"width": 390, "height": 800})
    try:
        page = context.new_page()
        watch = Watch(page)
        page.goto(f"{url}/stats?window=1")
        # Incidents per hour: drawn by uPlot from the JSON in the page, its bars on a canvas.
        page.wait_for_selector("figure[data-chart='per_hour'].drawn .uplot canvas")
        width = page.evaluate("document.querySelector(\"figure[data-chart='per_hour'] canvas\").width")
        assert width > 0
        # Nothing acknowledged when it was drawn first; the walk may have since. Either way
        # that chart is a plot or says why not, never an empty frame.
        response = page.locator("figure[data-chart='response']")
        assert "No incident acknowledged" in response.inner_text() or response.locator("canvas").count()
        assert page.locator("ol.bars li").count() >= 2
        assert page.evaluate("window.pwned") is None
        assert watch.errors == []
    finally:
        context.close()
