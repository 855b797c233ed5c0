"""The dashboard in a real browser: Debian's chromium, driven by Playwright, against a
``tocsin serve`` subprocess. Skipped loudly when chromium or Playwright is missing, failed
under CI=true. Playwright never downloads a browser here: it is pointed at /usr/bin/chromium.

One walk through the pages an on-call engineer uses: the list, a filter, an alert, an
acknowledgement, a silence made from the alert with its live preview, an Alertmanager UI
link, and an alert that arrives while the list is open (by server-sent events). Alert
text carries script payloads all along; none may run, and no page may log a JavaScript
error (the Content-Security-Policy's refusals included).
"""

from __future__ import annotations

import base64
import os
import shutil
from typing import Any

import aiohttp
import bcrypt
import pytest

from tocsin.testing.process import serving

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
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


def _require_browser() -> Any:
    why = ""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        why = "MISSING playwright: pip install -e '.[test]' to run the dashboard's browser test"
        async_playwright = None
    if not why and not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        why = "MISSING PEER BINARY chromium: apt-get install -y chromium to run the dashboard's browser test"
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return async_playwright


async def post(url: str, alerts: list[dict]) -> None:
    auth = {"Authorization": "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()}
    async with aiohttp.ClientSession(headers=auth) as s, s.post(f"{url}/api/v2/alerts", json=alerts) as r:
        assert r.status == 200, await r.text()


def alert(name: str, severity: str, **labels: str) -> dict:
    return {
        "labels": {"alertname": name, "severity": severity, **labels},
        "annotations": {
            "summary": f"{name} {PAYLOAD}",
            "runbook_url": "javascript:window.pwned=2",
            "dashboard": "https://grafana.example/d/disk",
        },
    }


async def test_on_call_walk_through_the_dashboard(tmp_path):
    async_playwright = _require_browser()
    async with serving(CONFIG, tmp_path) as url, async_playwright() as pw:
        await post(
            url,
            [
                alert("DiskFull", "critical", instance="db1", evil=PAYLOAD),
                alert("CPUHigh", "warning", instance="web1"),
            ],
        )
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            # The browser answers the 401's Basic challenge with alice's password.
            context = await browser.new_context(http_credentials={"username": "alice", "password": PASSWORD})
            page = await context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)

            # The list, then a filter in Alertmanager's syntax.
            await page.goto(f"{url}/")
            await page.wait_for_selector("li.alert >> text=CPUHigh")
            assert await page.inner_text("header .who") == "alice (admin)"
            assert await page.locator("li.alert").count() == 2
            await page.fill("#filter", "alertname=D")  # completed from the alerts held
            await page.wait_for_selector('#filter-completions option[value=\'alertname="DiskFull"\']',
                                         state="attached")
            await page.fill("#filter", 'alertname="DiskFull"')
            await page.press("#filter", "Enter")
            await page.wait_for_url("**/alerts?filter=*")
            assert await page.locator("li.alert").count() == 1

            # The alert, then acknowledge it with a note.
            await page.click("li.alert a.name")
            await page.wait_for_selector("h1 >> text=DiskFull")
            assert await page.locator("a[href='https://grafana.example/d/disk']").count() == 1
            assert await page.locator("a[href^='javascript']").count() == 0
            await page.click("details.act summary")
            await page.fill("details.act input[name=note]", "looking at the disk")
            await page.click("details.act button:has-text('Acknowledge')")
            await page.wait_for_selector("h1 .chip >> text=acknowledged")
            await page.wait_for_selector("ol.timeline >> text=looking at the disk")

            # Silence it from the alert: the matchers come prefilled; widening them widens
            # the preview before anything is created.
            await page.click("a.button:has-text('Silence')")
            await page.wait_for_selector("#preview[data-count='1']")
            assert 'alertname="DiskFull"' in await page.input_value("#matchers")
            await page.fill("#matchers", 'alertname=~"DiskFull|CPUHigh"')
            await page.wait_for_selector("#preview[data-count='2']")
            await page.click("button[data-duration='1h']")
            assert await page.input_value("#duration") == "1h"
            assert await page.input_value("input[name=created_by]") == "alice"  # who is logged in
            await page.fill("textarea[name=comment]", "disk being replaced")
            await page.click("button:has-text('Create silence')")
            await page.wait_for_url("**/silences/*-*")
            await page.wait_for_selector("h1 >> text=active")
            silence_path = page.url.removeprefix(url)

            # Alertmanager UI links land on their pages: a new silence prefilled, a silence,
            # the alerts filtered.
            await page.goto(f"{url}/#/silences/new?filter=%7Binstance%3D%22web1%22%7D")
            await page.wait_for_url("**/silences/new?filter=*")
            assert await page.input_value("#matchers") == 'instance="web1"'
            await page.goto(f"{url}/#{silence_path}")
            await page.wait_for_url(f"{url}{silence_path}")
            await page.goto(f"{url}/#/alerts?filter=%7Balertname%3D%22CPUHigh%22%7D&silenced=true")
            await page.wait_for_url("**/alerts?filter=*")
            assert await page.locator("li.alert a.name").all_inner_texts() == ["CPUHigh"]

            # A new alert shows up in the open list by itself, but not while a form there is
            # open: the note being typed stays until the form is closed.
            await page.goto(f"{url}/alerts?state=firing&state=acknowledged&state=silenced")
            await page.wait_for_selector("body[data-live='open']")
            await page.evaluate("window.sameDocument = true")
            await page.click("li.alert details.act summary")
            await page.fill("li.alert details.act input[name=note]", "half typed")
            await post(url, [alert("Fresh", "info", instance="db9")])
            await page.wait_for_selector("body[data-pending='true']", timeout=8000)
            assert await page.input_value("li.alert details[open] input[name=note]") == "half typed"
            assert await page.locator("li.alert >> text=Fresh").count() == 0
            await page.click("li.alert details[open] summary")
            await page.wait_for_selector("li.alert >> text=Fresh", timeout=8000)
            assert await page.evaluate("window.sameDocument") is True  # swapped in, not reloaded
            assert int(await page.get_attribute("body", "data-updates") or "0") >= 1

            assert await page.evaluate("window.pwned") is None
            assert errors == []
        finally:
            await browser.close()


async def test_stats_page_draws_its_charts_with_uplot(tmp_path):
    async_playwright = _require_browser()
    async with serving(CONFIG, tmp_path) as url, async_playwright() as pw:
        await post(url, [alert("DiskFull", "critical", instance="db1"), alert(PAYLOAD, "warning")])
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = await browser.new_context(http_credentials={"username": "alice", "password": PASSWORD},
                                                viewport={"width": 390, "height": 800})
            page = await context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            await page.goto(f"{url}/stats?window=1")
            # Incidents per hour: drawn by uPlot from the JSON in the page, its bars on a canvas.
            await page.wait_for_selector("figure[data-chart='per_hour'].drawn .uplot canvas")
            width = await page.evaluate(
                "document.querySelector(\"figure[data-chart='per_hour'] canvas\").width")
            assert width > 0
            # Nothing acknowledged yet: that chart says so instead of drawing an empty plot.
            assert "No incident acknowledged" in await page.inner_text("figure[data-chart='response']")
            assert await page.locator("ol.bars li").count() >= 2
            assert await page.evaluate("window.pwned") is None
            assert errors == []
        finally:
            await browser.close()
