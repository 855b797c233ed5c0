"""A full disk: ingest answers 503 with the reason (never a 2xx for an alert it could
not store), keeps running, and takes alerts again once there is room. The disk is a
tiny tmpfs the test mounts (root with CAP_SYS_ADMIN only; skipped loudly otherwise)."""

from __future__ import annotations

import os
import subprocess
import time

import aiohttp
import pytest

from tests.reliability.figures import write_report

pytestmark = pytest.mark.e2e


def mount_tmpfs(path, size: str) -> None:
    # A missing privilege is not a missing binary: this skips loudly even under CI=true.
    if os.geteuid() != 0:
        pytest.skip("NOT RUN: mounting a small tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"NOT RUN: cannot mount a tmpfs here (no CAP_SYS_ADMIN?): {done.stderr.strip()}")


async def test_a_full_disk_is_503_and_recovers(make_daemon, receiver, tmp_path):
    disk = tmp_path / "disk"
    mount_tmpfs(disk, "400k")
    try:
        d = make_daemon(f"""
route: {{receiver: hook, group_by: ['...'], group_wait: 1h}}
receivers: [{{name: hook, webhook_configs: [{{url: "{receiver.url}"}}]}}]
""")
        d.storage = disk / "tocsin.db"
        await d.start()
        accepted: list[str] = []
        statuses: set[int] = set()
        body = ""
        async with aiohttp.ClientSession() as s:
            for i in range(2000):
                alerts = [{"labels": {"alertname": "Fill", "n": f"{i}-{j}"},
                           "annotations": {"text": "x" * 400}} for j in range(10)]
                async with s.post(f"{d.url}/api/v2/alerts", json=alerts) as resp:
                    statuses.add(resp.status)
                    if resp.status == 200:
                        accepted.extend(a["labels"]["n"] for a in alerts)
                    else:
                        body = await resp.text()
                        break
            assert statuses <= {200, 503}, statuses
            assert 503 in statuses, "the disk never filled"
            assert "full" in body.lower()
            assert "not stored" in body
            async with s.get(f"{d.url}/-/healthy") as resp:
                assert resp.status == 200  # still running
            # Room again: the same daemon takes alerts again, and kept what it accepted.
            subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
            fixed = time.monotonic()
            async with s.post(f"{d.url}/api/v2/alerts",
                               json=[{"labels": {"alertname": "AfterFix"}}]) as resp:
                assert resp.status == 200
            recovery = time.monotonic() - fixed
            async with s.get(f"{d.url}/api/v2/alerts?filter=alertname%3D%22Fill%22") as resp:
                held = {a["labels"]["n"] for a in await resp.json()}
        assert set(accepted) <= held
        assert d.stop() == 0
        # Every alert answered 2xx is still there after a restart.
        await d.start()
        async with aiohttp.ClientSession() as s, s.get(f"{d.url}/api/v2/alerts") as resp:
            names = [a["labels"].get("n") for a in await resp.json()]
        lost = len(set(accepted) - set(names))
        assert lost == 0
        figures = {"accepted_before_full": len(accepted), "answers": sorted(statuses), "lost": lost,
                   "recovery_seconds": round(recovery, 3), "error": body.strip()[:200]}
        print(f"storage full: {figures}")
        write_report("storage_full", figures)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
