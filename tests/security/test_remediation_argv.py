"""Option injection through a remediation's argv, against a running daemon.

A ``command`` remediation runs ``git -C REPO log {{ labels.rev }}``. Whoever may post
alerts (an ``ingest`` token is enough) chooses ``rev``; ``--output=FILE`` makes git write
its log to FILE. The daemon must refuse that run (state ``refused``, with the reason) and
run nothing; an element the config marks as allowed to be an option still runs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tocsin.testing import wait_until
from tocsin.testing.process import serving

pytestmark = pytest.mark.e2e

GIT = "/usr/bin/git"
INGEST, READ = "ingest-token-0123456789", "read-token-0123456789"


def repo(tmp_path: Path) -> Path:
    """A git repository with one commit."""
    path = tmp_path / "repo"
    path.mkdir()
    git = [GIT, "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "first"], check=True)
    return path


def config(repo_path: Path, extra: str = "") -> str:
    return f"""
route:
  receiver: ops
  group_wait: 0s
  routes:
    - {{matchers: ['alertname="BadDeploy"'], receiver: ops, remediations: [show-log]}}
receivers:
  - name: ops
remediations:
  - name: show-log
    kind: command
    argv: ["{GIT}", "-C", "{repo_path}", "log", "{{{{ labels.rev }}}}"]
    timeout: 10s
{extra}
server:
  auth:
    tokens:
      - {{name: sender, role: ingest, token: {INGEST}}}
      - {{name: dashboard, role: read, token: {READ}}}
"""


async def post_and_wait(url: str, rev: str) -> dict[str, Any]:
    """Post an alert with ``rev`` (as a sender with only an ingest token); answer its finished run."""
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{url}/api/v2/alerts", json=[{"labels": {"alertname": "BadDeploy", "rev": rev}}],
                          headers={"Authorization": f"Bearer {INGEST}"}) as resp:
            assert resp.status == 200, await resp.text()

        async def finished() -> list[dict[str, Any]]:
            async with s.get(f"{url}/api/tocsin/v1/remediations",
                             headers={"Authorization": f"Bearer {READ}"}) as resp:
                runs = await resp.json()
            return runs if runs and runs[0]["state"] not in ("running", "pending_approval") else []

        [run] = await wait_until(finished, timeout=15.0, interval=0.1)
        async with s.get(f"{url}/api/tocsin/v1/alerts/{run['alert_id']}/history",
                         headers={"Authorization": f"Bearer {READ}"}) as resp:
            run["_history"] = (await resp.json())["history"]
        async with s.get(f"{url}/metrics", headers={"Authorization": f"Bearer {READ}"}) as resp:
            run["_metrics"] = await resp.text()
        return run


@pytest.mark.skipif(not Path(GIT).exists(), reason="git is not installed")
async def test_an_option_from_a_label_is_refused_and_nothing_is_written(tmp_path):
    target = tmp_path / "written-by-git"
    async with serving(config(repo(tmp_path)), tmp_path) as url:
        run = await post_and_wait(url, f"--output={target}")
    print(run["state"], run["reason"])
    assert not target.exists(), "git wrote the file a label named"
    assert run["state"] == "refused", run
    assert run["reason"].startswith("argv[4] rendered as '--output="), run["reason"]
    assert "argv_options" in run["reason"], run["reason"]
    assert run["exit_code"] is None
    assert run["started_at"] is None
    assert run["rendered"]["argv"][4] == f"--output={target}"  # what was refused is on record
    [entry] = [h for h in run["_history"] if h["kind"] == "remediation"]
    assert entry["detail"]["state"] == "refused"
    assert entry["detail"]["reason"] == run["reason"]
    assert 'tocsin_remediation_runs_total{remediation="show-log",state="refused"} 1.0' in run["_metrics"]


@pytest.mark.skipif(not Path(GIT).exists(), reason="git is not installed")
async def test_an_element_allowed_to_be_an_option_runs(tmp_path):
    target = tmp_path / "written-by-git"
    async with serving(config(repo(tmp_path), "    argv_options: [4]"), tmp_path) as url:
        run = await post_and_wait(url, f"--output={target}")
    print(run["state"], run["exit_code"])
    assert run["state"] == "succeeded", run
    assert "first" in target.read_text()
