"""What the dashboard's browser tests share: Debian's chromium driven by Playwright (sync
API) against one ``tocsin serve`` subprocess per test module, a local HTTP peer standing
for the receivers and the remediation's webhook, a watch that fails a test on any
JavaScript console error, page error or failed request, axe-core's accessibility check
(vendored under ``tests/e2e/vendor``) and the screenshots (written only when
``TOCSIN_SCREENSHOTS`` names a directory, as ``docs/screenshots``).

Skipped loudly when chromium or Playwright is missing, failed instead under CI=true.
Playwright never downloads a browser here: it is pointed at /usr/bin/chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tocsin.testing.process import free_port

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
#: Desktop and phone, as the screenshots are named; the phone in dark mode, so that both
#: colour schemes are checked.
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SCHEMES = {"desktop": "light", "phone": "dark"}
TOKENS = {"admin": "admin-token-0123456789abcdef", "read": "read-token-0123456789abcdef"}
PAYLOAD = '<img src=x onerror="window.pwned=1">'


def require_browser() -> Any:
    """Playwright's ``sync_playwright``; skip loudly (fail under CI=true) without it or chromium."""
    why = ""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        why = "MISSING playwright: pip install -e '.[test]' to run the dashboard's browser tests"
        sync_playwright = None
    if not why and not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        why = "MISSING PEER BINARY chromium: apt-get install -y chromium to run the dashboard's browser tests"
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return sync_playwright


class Peer:
    """A local HTTP server: answers each POST with the status set for its path (200 by
    default) and records the bodies; serves ``pages`` (path -> HTML) on GET."""

    def __init__(self) -> None:
        self.status: dict[str, int] = {}
        self.posts: list[tuple[str, Any]] = []
        self.pages: dict[str, str] = {}
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                peer.posts.append((self.path, json.loads(body or b"null")))
                self.send_response(peer.status.get(self.path, 200))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                page = peer.pages.get(self.path)
                data = (page or "").encode()
                self.send_response(200 if page is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def posted(self, path: str) -> list[Any]:
        return [body for p, body in self.posts if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def config(peer: Peer, auth: bool = True) -> str:
    """Receivers on the peer (``/flaky`` for alerts named Flaky), an escalation policy for
    team="db", a webhook remediation that waits for approval for AppDown; tokens with
    the admin and read roles unless ``auth`` is off."""
    tokens = f"""
server:
  auth:
    tokens:
      - {{name: oncall, role: admin, token: {TOKENS["admin"]}}}
      - {{name: grafana, role: read, token: {TOKENS["read"]}}}
""" if auth else ""
    return f"""
route:
  receiver: team
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1h
  routes:
    - {{matchers: ['alertname="Flaky"'], receiver: flaky}}
    - {{matchers: ['alertname="AppDown"'], receiver: team, remediations: [restart-app]}}
    - {{matchers: ['team="db"'], receiver: team, escalation_policy: db-oncall}}
receivers:
  - name: team
    webhook_configs: [{{url: "{peer.url}/team"}}]
  - name: lead
    webhook_configs: [{{url: "{peer.url}/lead"}}]
  - name: flaky
    webhook_configs: [{{url: "{peer.url}/flaky"}}]
escalation_policies:
  - name: db-oncall
    levels:
      - {{after: 0m, receivers: [team]}}
      - {{after: 30m, receivers: [lead]}}
remediations:
  - name: restart-app
    kind: webhook
    url: {peer.url}/restart
    require_approval: true
    confidence: high
    description: restart the app server
{tokens}"""


def wait_for(check: Any, timeout: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


class Daemon:
    """``tocsin serve`` as a subprocess on a free loopback port, in ``workdir``."""

    def __init__(self, config_text: str, workdir: Path) -> None:
        (workdir / "tocsin.yml").write_text(config_text)
        self.log = workdir / "tocsin.log"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tocsin", "serve", "--config", str(workdir / "tocsin.yml"),
                 "--listen", f"127.0.0.1:{port}", "--storage", str(workdir / "tocsin.db")],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._ready, 30, f"tocsin serve at {self.url}")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"tocsin serve exited with {self.proc.returncode}:\n{self.log.read_text()}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def api(self, method: str, path: str, body: Any = None, role: str = "admin") -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers={
            "Authorization": f"Bearer {TOKENS[role]}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            text = r.read()
        return json.loads(text) if text.strip() else None

    def alerts(self) -> list[dict]:
        """The alerts held, as ``GET /api/tocsin/v1/alerts`` lists them."""
        return list(self.api("GET", "/api/tocsin/v1/alerts")["alerts"])

    def post(self, *alerts: dict) -> None:
        self.api("POST", "/api/v2/alerts", list(alerts))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def alert(name: str, severity: str, **labels: str) -> dict:
    return {"labels": {"alertname": name, "severity": severity, **labels},
            "annotations": {"summary": f"{name} on {labels.get('instance', 'the fleet')}",
                            "runbook_url": "https://runbooks.example/" + name.lower()}}


class Watch:
    """Every JavaScript console error, page error and failed request (4xx/5xx or not
    answered) a page meets, but for the answers a test says it expects."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.expected: list[tuple[int, str]] = []
        self.allowed: set[str] = set()
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        # The browser also logs the expected answer ("Failed to load resource: ... 403").
        if message.type == "error" and message.location.get("url") not in self.allowed:
            self.errors.append(f"console: {message.text}")

    def _failed(self, request: Any) -> None:
        # Leaving a page cancels what it still loads (its event stream, its icon): the
        # browser's own doing, not a failure.
        if request.failure != "net::ERR_ABORTED":
            self.errors.append(f"request failed: {request.url} {request.failure}")

    def _response(self, response: Any) -> None:
        if response.status < 400:
            return
        for status, part in self.expected:
            if response.status == status and part in response.url:
                self.expected.remove((status, part))
                self.allowed.add(response.url)
                return
        self.errors.append(f"{response.status} {response.url}")

    def expect(self, status: int, url_part: str) -> None:
        """The next answer with ``status`` to a URL containing ``url_part`` is intended."""
        self.expected.append((status, url_part))


def check_accessibility(page: Any) -> None:
    """axe-core on the page as it stands: no ``serious`` or ``critical`` violation.

    The script is evaluated through the devtools protocol, which the page's
    Content-Security-Policy (no inline scripts) does not govern."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text() + "\n;0")
    found = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
          .map(v => `${v.impact} ${v.id}: ${v.help}\\n` +
               v.nodes.slice(0, 5).map(n => `  ${n.target.join(' ')}: ${n.failureSummary}`).join('\\n'));
    }""")
    assert not found, f"accessibility violations on {page.url}:\n" + "\n".join(found)


def screenshot(page: Any, name: str, viewport: str) -> None:
    """``<name>-<viewport>.png`` in ``$TOCSIN_SCREENSHOTS`` when it is set."""
    where = os.environ.get("TOCSIN_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(where) / f"{name}-{viewport}.png"))


@contextmanager
def browser_for(sync_playwright: Any) -> Iterator[Any]:
    """One chromium for a module."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def log_in(page: Any, url: str, role: str = "admin") -> None:
    """Through the login page, with the role's token."""
    page.goto(f"{url}/login")
    page.fill("input[name=token]", TOKENS[role])
    page.click("button:has-text('Log in')")
    page.wait_for_selector("header .who >> text=(" + role + ")")
