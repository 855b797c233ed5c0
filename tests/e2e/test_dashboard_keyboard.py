"""The alert list by keyboard alone, in a real browser (Debian's chromium through
Playwright, against a ``tocsin serve`` subprocess; skipped loudly without them, failed
under CI=true): an alert acknowledged with Tab and Enter only, and the focus kept on the
same control when a live update redraws the list."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.e2e.dashboard_browser import CHROMIUM, require_browser
from tocsin.testing.process import serving

pytestmark = pytest.mark.e2e

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: default
"""


async def post(url: str, *names: str) -> None:
    body = [{"labels": {"alertname": n, "severity": "critical"}} for n in names]
    async with aiohttp.ClientSession() as s, s.post(f"{url}/api/v2/alerts", json=body) as r:
        assert r.status == 200, await r.text()


async def tab_to(page, selector: str, limit: int = 60) -> None:
    """Press Tab until the focus is on an element matching ``selector``."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(f"() => document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"Tab never reached {selector}")


async def focus_once_two_alerts_shown(page) -> list[str]:
    """Once the live list shows two alerts: the focused element's tag, and the name of the
    alert it is in (None outside one)."""
    await page.wait_for_function("() => document.querySelectorAll('li.alert').length === 2",
                                 timeout=10_000)
    return await page.evaluate(
        "() => [document.activeElement.tagName, document.activeElement.closest('li')"
        " && document.activeElement.closest('li').querySelector('.name').textContent]")


async def test_acknowledge_by_keyboard_and_keep_the_focus_through_a_live_update(tmp_path):
    require_browser()  # skips loudly (fails under CI=true) without playwright or chromium
    from playwright.async_api import async_playwright
    async with serving(CONFIG, tmp_path) as url, async_playwright() as pw:
        await post(url, "DiskFull")
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(url + "/")
            await page.wait_for_function("() => document.body.getAttribute('data-live') === 'open'")
            # The focus is on the alert's "Act"; another alert arrives and the list is redrawn.
            await tab_to(page, "li.alert summary")
            await post(url, "CpuHot")
            assert await focus_once_two_alerts_shown(page) == ["SUMMARY", "DiskFull"]
            # Enter opens the form; Tab to the note, type, Tab to Acknowledge, Enter.
            await page.keyboard.press("Enter")
            await tab_to(page, "li.alert input[name=note]")
            await page.keyboard.type("on it")
            await tab_to(page, "li.alert button[type=submit]")
            assert await page.evaluate("() => document.activeElement.textContent") == "Acknowledge"
            await page.keyboard.press("Enter")
            await page.wait_for_selector("li.alert.state-acknowledged", timeout=10_000)
            assert "on it" in await page.text_content("li.alert.state-acknowledged")
            assert errors == []
        finally:
            await browser.close()


async def test_the_focus_stays_where_the_keyboard_went_while_an_update_was_on_its_way(tmp_path):
    """An update asked for while the focus was on one control, answered after the keyboard
    moved to another: the new list keeps the focus where it is now, not where it was."""
    require_browser()
    from playwright.async_api import async_playwright
    async with serving(CONFIG, tmp_path) as url, async_playwright() as pw:
        await post(url, "DiskFull")
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            await page.goto(url + "/")
            await page.wait_for_function("() => document.body.getAttribute('data-live') === 'open'")
            live = await page.get_attribute("#alert-list", "data-live")
            assert live
            asked, answer = asyncio.Event(), asyncio.Event()

            async def hold(route) -> None:
                asked.set()
                await answer.wait()
                await route.continue_()

            await page.route(lambda u: live in u, hold)
            await tab_to(page, "li.alert a.name")
            await post(url, "CpuHot")
            await asyncio.wait_for(asked.wait(), 10)  # the list is asked for, its answer held
            await tab_to(page, "li.alert summary")  # meanwhile the keyboard moves on
            answer.set()
            assert await focus_once_two_alerts_shown(page) == ["SUMMARY", "DiskFull"]
        finally:
            await browser.close()
