"""The killswitch remediation kind, installed as a plugin: loaded through its entry point by
``tocsin.testing.make_config``, run directly and through a whole tocsin on a fake clock.

No ``__init__.py`` next to this file, and a name no other test file has: the repo
root's ``tests`` package must not be shadowed.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import stat
import textwrap
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

try:
    importlib.metadata.distribution("tocsin-killswitch")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("tocsin-killswitch is not installed (tocsin finds it by its entry point): "
                "pip install -e plugins/tocsin-killswitch", allow_module_level=True)

from tocsin.remediation import ExecContext, Outcome, RemediationError, Rendered
from tocsin.testing import (
    ConfigError,
    advance,
    make_config,
    post,
    remediation_kind,
    remediation_runs,
    running,
    wait_until,
)

import tocsin_killswitch

# -- helpers -------------------------------------------------------------------------------------


def config_text(entry: str, route: str = "") -> str:
    return ("route:\n  receiver: ops\n  group_wait: 10s\n" + route + "receivers:\n  - name: ops\n"
            "remediations:\n" + textwrap.indent(textwrap.dedent(entry).strip("\n"), "  ") + "\n")


def load(entry: str) -> Any:
    [spec] = make_config(config_text(entry)).remediations.values()
    return spec


def problems(entry: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        load(entry)
    return {p.path: p.message for p in exc.value.problems}


def alert_data(**labels: str) -> dict[str, Any]:
    labels = {"alertname": "SearchLatencyHigh", **labels}
    return {"labels": labels, "annotations": {}, "fingerprint": "f00d", "status": "firing",
            "startsAt": "2024-01-01T00:00:00Z", "alertname": labels["alertname"],
            "remediation": "search-off", "alert_id": "01HX"}


async def run(spec: Any, data: dict[str, Any] | None = None, timeout: float = 5.0) -> Outcome:
    rendered = spec.remediation.render(data or alert_data(feature="search"))
    async with aiohttp.ClientSession() as session:
        ctx = ExecContext(session=session, timeout=timeout, remediation=spec.name, fingerprint="f00d")
        return await spec.remediation.execute(rendered, ctx)


def entry(path: Path, **extra: Any) -> str:
    lines = ["- name: search-off", "  kind: killswitch", f"  path: {path}",
             '  flag: "{{ labels.feature }}.enabled"']
    lines += [f"  {k}: {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines)


@pytest.fixture
def flags(tmp_path: Path) -> Path:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps({"recommendations.enabled": True, "search.enabled": True,
                                "banner": {"text": "hi"}}, indent=4))
    return path


# -- the plugin as tocsin finds it ---------------------------------------------------------------


def test_the_entry_point_registers_the_kind():
    [ep] = [e for e in importlib.metadata.entry_points(group="tocsin.plugins") if e.name == "killswitch"]
    assert ep.value == "tocsin_killswitch"
    assert remediation_kind("killswitch") is tocsin_killswitch.KILLSWITCH


def test_config_errors_carry_their_yaml_path(tmp_path):
    assert problems("""
        - name: off
          kind: killswitch
          path: flags.json
          flag: x
        """) == {"remediations[0].path": "must be an absolute path, got 'flags.json'"}
    assert list(problems(f"""
        - name: off
          kind: killswitch
          path: {tmp_path}/f.json
          flag: "{{{{ labels.x "
        """)) == ["remediations[0].flag"]
    assert list(problems(f"""
        - name: off
          kind: killswitch
          path: {tmp_path}/f.json
          flag: x
          value: 2024-01-01
        """)) == ["remediations[0].value"]
    assert list(problems(f"""
        - name: off
          kind: killswitch
          path: {tmp_path}/f.json
          flag: x
          colour: red
        """)) == ["remediations[0].colour"]
    assert list(problems("""
        - name: off
          kind: killswitch
          flag: x
        """)) == ["remediations[0].path"]


def test_defaults(tmp_path):
    spec = load(f"""
        - name: off
          kind: killswitch
          path: {tmp_path}/f.json
          flag: x
        """)
    assert (spec.kind, spec.config.value, spec.config.create, spec.config.require_approval) == (
        "killswitch", False, True, False)


# -- render --------------------------------------------------------------------------------------


def test_render_shows_the_flag_from_the_alert(flags):
    spec = load(entry(flags))
    r = spec.remediation.render(alert_data(feature="search"))
    assert r.summary == f"killswitch: set search.enabled = false in {flags}"
    assert r.detail == {"path": str(flags), "flag": "search.enabled", "value": False, "create": True}
    assert msgspec.json.decode(msgspec.json.encode(r), type=Rendered) == r  # survives the record
    with pytest.raises(RemediationError, match="feature"):
        spec.remediation.render(alert_data())  # the label is missing: refused, not ".enabled"


# -- execute -------------------------------------------------------------------------------------


async def test_it_flips_the_flag_and_keeps_the_rest(flags):
    flags.chmod(0o640)
    out = await run(load(entry(flags)))
    assert out == Outcome(ok=True, output="flag search.enabled: true -> false")
    doc = json.loads(flags.read_text())
    assert doc == {"recommendations.enabled": True, "search.enabled": False, "banner": {"text": "hi"}}
    assert list(doc) == ["recommendations.enabled", "search.enabled", "banner"]  # order kept
    assert stat.S_IMODE(flags.stat().st_mode) == 0o640
    assert sorted(p.name for p in flags.parent.iterdir()) == ["flags.json"]  # no temporary file left


async def test_the_file_is_replaced_atomically(flags, monkeypatch):
    replaced: list[tuple[str, str]] = []
    synced: list[int] = []
    real_replace, real_fsync = os.replace, os.fsync

    def spy_replace(a: str, b: str) -> None:
        replaced.append((str(a), str(b)))
        real_replace(a, b)

    def spy_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "replace", spy_replace)
    monkeypatch.setattr(os, "fsync", spy_fsync)
    before = flags.stat().st_ino
    out = await run(load(entry(flags)))
    assert out.ok
    [(tmp, target)] = replaced
    assert target == str(flags)
    assert Path(tmp).parent == flags.parent
    assert tmp != target
    assert len(synced) == 2  # the new file, then the directory
    assert flags.stat().st_ino != before  # a new file took the old one's name


async def test_a_failed_write_leaves_the_file_and_no_debris(flags, monkeypatch):
    original = flags.read_text()

    def broken(a: str, b: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    out = await run(load(entry(flags)))
    assert out == Outcome(ok=False, error=f"cannot write {flags}: No space left on device")
    assert flags.read_text() == original
    assert sorted(p.name for p in flags.parent.iterdir()) == ["flags.json"]


async def test_value_and_already_set(flags):
    spec = load(entry(flags, value={"mode": "degraded", "ratio": 0.5}))
    out = await run(spec)
    assert out.output == 'flag search.enabled: true -> {"mode": "degraded", "ratio": 0.5}'
    inode = flags.stat().st_ino
    out = await run(spec)
    assert out.ok
    assert out.output.endswith("(already set; file not rewritten)")
    assert flags.stat().st_ino == inode


async def test_a_missing_file_is_created_unless_create_is_false(tmp_path):
    path = tmp_path / "new.json"
    out = await run(load(entry(path, create=False)))
    assert out == Outcome(ok=False, error=f"{path} does not exist (create: false)")
    assert not path.exists()
    out = await run(load(entry(path)))
    assert out == Outcome(ok=True, output="flag search.enabled: (absent) -> false")
    assert json.loads(path.read_text()) == {"search.enabled": False}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    out = await run(load(entry(tmp_path / "nodir" / "f.json")))
    assert not out.ok
    assert "directory does not exist" in out.error


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", ""])
async def test_a_file_that_is_not_a_json_object_is_left_alone(tmp_path, content):
    path = tmp_path / "flags.json"
    path.write_text(content)
    out = await run(load(entry(path)))
    assert not out.ok
    assert "left as it is" in out.error
    assert path.read_text() == content


async def test_a_symlink_is_followed_and_kept(flags, tmp_path):
    link = tmp_path / "current.json"
    link.symlink_to(flags)
    out = await run(load(entry(link)))
    assert out.ok
    assert link.is_symlink()
    assert json.loads(flags.read_text())["search.enabled"] is False


async def test_concurrent_runs_lose_no_update(flags):
    spec = load(entry(flags))
    features = [f"f{i}" for i in range(20)]
    outs = await asyncio.gather(*(run(spec, alert_data(feature=f)) for f in features))
    assert all(o.ok for o in outs)
    doc = json.loads(flags.read_text())
    assert all(doc[f"{f}.enabled"] is False for f in features)
    assert doc["search.enabled"] is True


async def test_a_record_that_does_not_match_the_config_writes_nothing(flags):
    spec = load(entry(flags))
    forged = Rendered(summary="x", detail={"path": "/etc/passwd", "flag": "root", "value": False})
    async with aiohttp.ClientSession() as session:
        out = await spec.remediation.execute(forged, ExecContext(session, 5.0, "search-off", "f00d"))
    assert not out.ok
    assert "nothing was written" in out.error


# -- through tocsin: alert in, route's remediation runs, record kept ------------------------------


async def test_a_firing_alert_flips_the_flag_through_the_engine(flags, tmp_path):
    text = config_text(entry(flags), route="  remediations: [search-off]\n")
    async with running(text, tmp_path) as rt:
        await post(rt, {"labels": {"alertname": "SearchLatencyHigh", "feature": "search"}})
        assert json.loads(flags.read_text())["search.enabled"] is True  # group_wait not over yet
        await advance(rt, 11)
        # The run is spawned by the flush; wait for its record to be final.
        await wait_until(lambda: [r.state for r in remediation_runs(rt)] != ["running"])
        [record] = remediation_runs(rt)
        assert record.state == "succeeded", record
        assert record.outcome == Outcome(ok=True, output="flag search.enabled: true -> false")
        assert record.rendered is not None
        assert record.rendered.detail["flag"] == "search.enabled"
    assert json.loads(flags.read_text())["search.enabled"] is False
