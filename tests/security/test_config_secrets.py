"""A YAML syntax error on a secret's line must not show the secret (issue 15, item 4).

PyYAML's message quotes the line it stops on; that line may be the SMTP
password. Every way an operator sees a config error is tried, on a daemon
process: the log line of a reload rejected on SIGHUP, the 400 body of
``POST /-/reload``, ``tocsin check-config`` and a start that fails. Each
must keep the line and the column, and show ``<secret>`` instead of the value.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import aiohttp
import pytest

from tests.peers import Daemon

pytestmark = pytest.mark.e2e

GOOD = """
route: {receiver: r}
receivers: [{name: r}]
"""

#: The broken configs: what the secret is, the text, where PyYAML stops (line, column).
BROKEN = {
    # A second colon on the password's line: "mapping values are not allowed here".
    "colon": ("SECRET_zzz_colon", """
global:
  smtp_auth_password: SECRET_zzz_colon: x
route: {receiver: r}
receivers: [{name: r}]
""", "line 3, column 39"),
    # A tab after the key: "found character '\\t' that cannot start any token".
    "tab": ("SECRET_zzz_tab", """
receivers:
- name: r
  webhook_configs:
  - url: http://127.0.0.1:9/hook
    hmac_secret:\tSECRET_zzz_tab
route: {receiver: r}
""", "line 6, column 17"),
    # The value on the next line, indented with a tab: the error is on the secret's own line.
    "tab on the next line": ("SECRET_zzz_next", """
integrations:
  slack:
    signing_secret:
\tSECRET_zzz_next
route: {receiver: r}
receivers: [{name: r}]
""", "line 5, column 1"),
}


def check_shown(text: str, secret: str, where: str) -> None:
    assert secret not in text, text
    assert "<secret>" in text, text
    assert where in text, text


async def test_a_rejected_reload_shows_no_secret_in_the_log_nor_the_answer(tmp_path):
    config = tmp_path / "tocsin.yml"
    config.write_text(GOOD)
    daemon = Daemon(config, tmp_path / "tocsin.db", tmp_path / "tocsin.log")
    await daemon.start()
    try:
        assert daemon.proc is not None
        for n, (secret, text, where) in enumerate(BROKEN.values(), 1):
            config.write_text(text)
            daemon.proc.send_signal(signal.SIGHUP)
            await daemon.wait_log("reload rejected", count=2 * n - 1)
            async with aiohttp.ClientSession() as s, s.post(f"{daemon.url}/-/reload") as r:
                assert r.status == 400
                body = await r.text()
            await daemon.wait_log("reload rejected", count=2 * n)
            print(body)
            check_shown(body, secret, where)
            check_shown(daemon.logs(), secret, where)
        # And the daemon still runs its first config.
        async with aiohttp.ClientSession() as s, s.get(f"{daemon.url}/-/healthy") as r:
            assert r.status == 200
    finally:
        daemon.stop()
    assert "Traceback" not in daemon.logs()


@pytest.mark.parametrize("case", BROKEN)
async def test_check_config_and_a_failed_start_show_no_secret(tmp_path, case):
    secret, text, where = BROKEN[case]
    config = tmp_path / "tocsin.yml"
    config.write_text(text)
    for args in (["check-config", str(config)],
                 ["serve", "--config", str(config), "--listen", "127.0.0.1:0",
                  "--storage", str(tmp_path / "tocsin.db")]):
        proc = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "tocsin", *args],
            capture_output=True, text=True, timeout=60)
        out = proc.stdout + proc.stderr
        print(out)
        assert proc.returncode != 0, out
        assert "Traceback" not in out, out
        check_shown(out, secret, where)
