"""The commands that need no daemon print JSON with -o json, and tables with a header."""

from __future__ import annotations

import json
import re

from tocsin.cli.main import main

CONFIG = """
route:
  receiver: team
  routes:
    - matchers: [severity="critical"]
      receiver: pager
receivers: [{name: team}, {name: pager}]
"""


def test_check_config_json(tmp_path, capsys):
    good = tmp_path / "good.yml"
    good.write_text(CONFIG)
    bad = tmp_path / "bad.yml"
    bad.write_text("route: {receiver: nobody}\nreceivers: [{name: team}]\n")
    assert main(["check-config", str(good), str(bad), "-o", "json"]) == 1
    first, second = json.loads(capsys.readouterr().out)
    assert (first["path"], first["ok"]) == (str(good), True)
    assert "2 route(s)" in first["summary"]
    assert (second["path"], second["ok"]) == (str(bad), False)
    [problem] = second["errors"]
    assert problem["path"] == "route.receiver"
    assert problem["line"] == 1
    assert "nobody" in problem["message"]


def test_route_test_json(tmp_path, capsys):
    cfg = tmp_path / "t.yml"
    cfg.write_text(CONFIG)
    assert main(["route", "test", "--config", str(cfg), "severity=critical", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"receivers": ["pager"]}
    assert main(["route", "test", "--config", str(cfg), "--verify.receivers=team", "-o", "json",
                 "severity=critical"]) == 1
    assert json.loads(capsys.readouterr().out) == {"receivers": ["pager"], "verified": False}
    assert main(["route", "test", "--config", str(cfg), "severity=critical"]) == 0
    assert capsys.readouterr().out == "pager\n"  # amtool's output, unchanged


def test_plugins_list_json_and_table(capsys):
    assert main(["plugins", "list", "-o", "json"]) == 0
    found = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert found["webhook"]["channels"] == ["webhook"]
    assert found["webhook"]["loaded"] is True
    assert main(["plugins", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["NAME", "MODULE", "DISTRIBUTION", "STATE", "PROVIDES"]
    [webhook] = [line for line in lines if line.startswith("webhook ")]
    assert webhook.index("loaded") == lines[0].index("STATE")
    assert "\x1b" not in "".join(lines)
