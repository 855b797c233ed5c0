"""tocsin.config.document: loading, validation with paths and lines, and ``tocsin check-config``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tocsin.config.document import ConfigError, load_config
from tocsin.config.validate import Problem
from tocsin.plugins import channel_kinds
from tocsin.testing import make_config, make_plugins

REPO = Path(__file__).resolve().parents[3]
BUNDLED = REPO / "etc" / "tocsin" / "tocsin.yml"


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as exc:
        make_config(textwrap.dedent(text))
    return exc.value.problems


def by_path(problems: list[Problem]) -> dict[str, Problem]:
    return {p.path: p for p in problems}


def only_problem(text: str) -> Problem:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


VALID = """\
global:
  resolve_timeout: 2m
server:
  listen: 127.0.0.1:19095
storage:
  path: /tmp/tocsin-test.db
route:
  receiver: default
  group_by: [alertname]
  group_wait: 10s
  routes:
    - matchers: ['severity="critical"', 'team=~"db|web"']
      receiver: pager
      continue: true
    - match: {team: ops}
      match_re: {env: "prod|staging"}
      receiver: ops
receivers:
  - name: default
  - name: pager
    webhook_configs:
      - url: http://127.0.0.1:5001/alerts
        send_resolved: true
      - url_file: /etc/tocsin/url
        max_alerts: 10
  - name: ops
    log_configs:
      - level: warning
"""


def test_valid_config() -> None:
    cfg = make_config(VALID)
    assert cfg.original == VALID
    assert cfg.source is None
    assert cfg.global_.resolve_timeout == 120.0
    assert cfg.server.listen == "127.0.0.1:19095"
    assert cfg.storage.path == "/tmp/tocsin-test.db"
    assert sorted(cfg.receivers) == ["default", "ops", "pager"]
    assert cfg.receivers["default"].integrations == ()
    pager = cfg.receivers["pager"].integrations
    assert [(i.kind, i.index, i.name) for i in pager] == [
        ("webhook", 0, "webhook[0]"),
        ("webhook", 1, "webhook[1]"),
    ]
    assert pager[0].config.url == "http://127.0.0.1:5001/alerts"
    assert pager[0].config.send_resolved is True
    assert pager[1].config.url is None
    assert pager[1].config.url_file == "/etc/tocsin/url"
    assert pager[1].config.max_alerts == 10
    assert [i.kind for i in cfg.receivers["ops"].integrations] == ["log"]
    assert [r.receiver for r in cfg.route.walk()] == ["default", "pager", "ops"]
    assert [r.receiver for r in cfg.route.match({"severity": "critical", "team": "db"})] == ["pager"]
    assert [r.receiver for r in cfg.route.match({"team": "ops", "env": "staging"})] == ["ops"]
    assert cfg.summary() == (
        "3 route(s), 3 receiver(s), 3 integration(s), listen 127.0.0.1:19095, storage /tmp/tocsin-test.db"
    )


def test_minimal_config_and_defaults() -> None:
    cfg = make_config("route:\n  receiver: a\nreceivers:\n  - name: a\n")
    assert cfg.global_.resolve_timeout == 300.0  # 5m, as Alertmanager
    assert cfg.server.listen == "127.0.0.1:9095"
    assert cfg.storage.path == "var/tocsin.db"
    assert cfg.route.receiver == "a"
    assert cfg.route.routes == []


def test_load_config_uses_the_given_kinds_only() -> None:
    text = "route:\n  receiver: a\nreceivers:\n  - name: a\n    webhook_configs: [{url: 'http://x/'}]\n"
    cfg = load_config(text, channel_kinds(make_plugins()), source="my.yml")
    assert cfg.source == "my.yml"
    assert [i.kind for i in cfg.receivers["a"].integrations] == ["webhook"]
    with pytest.raises(ConfigError) as exc:
        load_config(text, {}, source="my.yml")
    (problem,) = exc.value.problems
    assert problem.path == "receivers[0].webhook_configs"
    assert "'webhook'" in problem.message
    assert "none" in problem.message  # no kinds available at all
    assert str(exc.value).startswith("my.yml: line 5: receivers[0].webhook_configs: ")


def test_integer_and_boolean_label_values_in_match_are_strings() -> None:
    cfg = make_config(
        "route:\n  receiver: a\n  routes:\n"
        "    - match: {code: 500, ok: true, ratio: 0.5}\n      receiver: b\n"
        "receivers: [{name: a}, {name: b}]\n"
    )
    child = cfg.route.routes[0]
    assert {(m.name, m.value) for m in child.matchers} == {("code", "500"), ("ok", "true"), ("ratio", "0.5")}
    assert [r.receiver for r in cfg.route.match({"code": "500", "ok": "true", "ratio": "0.5"})] == ["b"]


def test_string_fields_keep_the_text_of_yaml_booleans_and_numbers() -> None:
    """yaml.v2 gives a Go string field the scalar's text; fields of other types still
    take YAML 1.1's value (``send_resolved: yes`` is true, ``max_alerts: 010`` is 8)."""
    cfg = make_config(
        "route:\n  receiver: no\n  routes:\n"
        "    - match: {flag: yes, n: 010, v: 1e3, w: 0x1F, x: 1.50, on: off}\n      receiver: yes\n"
        "receivers:\n  - name: no\n  - name: yes\n"
        "    webhook_configs: [{url: 'http://127.0.0.1:1/', send_resolved: no, max_alerts: 010}]\n"
    )
    assert sorted(cfg.receivers) == ["no", "yes"]
    child = cfg.route.routes[0]
    assert child.receiver == "yes"
    assert {(m.name, m.value) for m in child.matchers} == {
        ("flag", "yes"), ("n", "010"), ("v", "1e3"), ("w", "0x1F"), ("x", "1.50"), ("on", "off")}
    [hook] = cfg.receivers["yes"].integrations
    assert hook.config.send_resolved is False
    assert hook.config.max_alerts == 8


# --- every error at once, with its path and line ------------------------------------------------------

MANY_ERRORS = """\
route:
  receiver: a
  group_by: [alertname, alertname]
  routes:
    - receiver: b
      colour: red
    - receiver: a
      matchers:
        - 'severity=~"(crit"'
      group_wait: 5x
    - group_by: ['...', job]
    - group_by: ['bad-name']
    - group_interval: 0s
    - repeat_interval: 0
receivers:
  - name: a
  - name: a
  - name: b
    pushbullet_configs: [{channel: x}]
  - name: c
    webhook_configs:
      - url: ftp://example.org/
      - url: http://example.org/
        url_file: /tmp/url
      - send_resolved: true
"""


def test_every_error_is_reported_with_path_and_line() -> None:
    problems = problems_of(MANY_ERRORS)
    got = {p.path: (p.line, p.message) for p in problems}
    assert len(problems) == len(got) == 13, [str(p) for p in problems]

    assert got["route.group_by[1]"] == (3, "duplicated label 'alertname'")
    assert got["route.routes[0].colour"][0] == 6
    assert got["route.routes[0].colour"][1].startswith("unknown field")
    line, message = got["route.routes[1].matchers[0]"]
    assert line == 9
    assert message.startswith('invalid regex "(crit"')
    line, message = got["route.routes[1].group_wait"]
    assert line == 10
    assert "'5x'" in message
    line, message = got["route.routes[2].group_by"]
    assert line == 11
    assert "'...'" in message
    assert got["route.routes[3].group_by[0]"] == (12, "invalid label name 'bad-name'")
    line, message = got["route.routes[4].group_interval"]
    assert line == 13
    assert "zero" in message
    line, message = got["route.routes[5].repeat_interval"]
    assert line == 14
    assert "zero" in message
    line, message = got["receivers[1].name"]
    assert line == 17
    assert "'a'" in message
    assert "not unique" in message
    line, message = got["receivers[2].pushbullet_configs"]
    assert line == 19
    assert "'pushbullet'" in message
    line, message = got["receivers[3].webhook_configs[0].url"]
    assert line == 22
    assert "scheme 'ftp'" in message
    assert "ftp://example.org/" not in message
    assert got["receivers[3].webhook_configs[1].url"][0] == 23
    assert "exactly one of url and url_file" in got["receivers[3].webhook_configs[1].url"][1]
    assert got["receivers[3].webhook_configs[2].url"][0] == 25
    assert "exactly one of url and url_file" in got["receivers[3].webhook_configs[2].url"][1]


def test_references_are_checked_in_the_same_run_and_errors_come_in_file_order() -> None:
    """A route naming an undefined receiver beside a bad regex in the same tree, an
    escalation level naming another, a route naming an undefined time interval: each is
    reported with the others, and the problems come in the order of their lines."""
    text = """\
route:
  receiver: default
  routes:
    - matchers: ['team=~"(db"']
      receiver: nobody
      mute_time_intervals: [never-defined]
    - receiver: default
      group_wait: 5x
receivers:
  - name: default
    webhook_configs: [{url: ftp://x}]
escalation_policies:
  - name: p
    levels: [{after: 0s, receivers: [ghost]}]
"""
    problems = problems_of(text)
    assert [(p.line, p.path) for p in problems] == [
        (4, "route.routes[0].matchers[0]"),
        (5, "route.routes[0].receiver"),
        (6, "route.routes[0].mute_time_intervals[0]"),
        (8, "route.routes[1].group_wait"),
        (11, "receivers[0].webhook_configs[0].url"),
        (14, "escalation_policies[0].levels[0].receivers[0]"),
    ]
    assert problems[1].message == "undefined receiver 'nobody'"
    assert problems[-1].message == "undefined receiver 'ghost'"


def test_problem_and_error_rendering() -> None:
    p = Problem("route.routes[0].colour", "unknown field", 6)
    assert str(p) == "line 6: route.routes[0].colour: unknown field"
    assert str(Problem("", "empty", None)) == "<root>: empty"
    err = ConfigError([p, Problem("receivers", "bad", 9)], "tocsin.yml")
    assert str(err) == (
        "tocsin.yml: line 6: route.routes[0].colour: unknown field\ntocsin.yml: line 9: receivers: bad"
    )
    assert err.problems == [p, Problem("receivers", "bad", 9)]
    assert isinstance(err, ValueError)


def test_unknown_field_suggests_a_close_name() -> None:
    problem = only_problem(
        """\
        route:
          receiver: a
          group_wiat: 10s
        receivers: [{name: a}]
        """
    )
    assert problem.path == "route.group_wiat"
    assert problem.line == 3
    assert problem.message == "unknown field (did you mean 'group_wait'?)"


def test_unknown_top_level_field() -> None:
    problem = only_problem("route: {receiver: a}\nreceivers: [{name: a}]\ninhibit_ruless: []\n")
    assert problem.path == "inhibit_ruless"
    assert problem.line == 3


@pytest.mark.parametrize("value", ["5x", "1.5h", "-1s", "m", "''", "30", "5 m"])
def test_bad_durations(value: str) -> None:
    problem = only_problem(f"route:\n  receiver: a\n  group_wait: {value}\nreceivers: [{{name: a}}]\n")
    assert problem.path == "route.group_wait"
    assert problem.line == 3


@pytest.mark.parametrize("key", ["group_interval", "repeat_interval"])
@pytest.mark.parametrize("value", ["0s", "0", "0ms", "0h0m"])
def test_zero_intervals_are_rejected(key: str, value: str) -> None:
    problem = only_problem(f"route:\n  receiver: a\n  {key}: {value}\nreceivers: [{{name: a}}]\n")
    assert problem.path == f"route.{key}"
    assert problem.line == 3
    assert "zero" in problem.message


def test_zero_group_wait_is_allowed() -> None:
    cfg = make_config("route:\n  receiver: a\n  group_wait: 0s\nreceivers: [{name: a}]\n")
    assert cfg.route.opts.group_wait == 0.0


def test_resolve_timeout() -> None:
    cfg = make_config("global: {resolve_timeout: 1h}\nroute: {receiver: a}\nreceivers: [{name: a}]\n")
    assert cfg.global_.resolve_timeout == 3600.0
    cfg = make_config("global: {}\nroute: {receiver: a}\nreceivers: [{name: a}]\n")
    assert cfg.global_.resolve_timeout == 300.0
    problem = only_problem("global: {resolve_timeout: 0s}\nroute: {receiver: a}\nreceivers: [{name: a}]\n")
    assert problem.path == "global.resolve_timeout"


def test_pagerduty_max_event_age() -> None:
    base = "route: {receiver: a}\nreceivers: [{name: a}]\n"
    assert make_config(base).document.integrations.pagerduty.max_event_age == 3600.0
    cfg = make_config(base + "integrations: {pagerduty: {max_event_age: 6h}}\n")
    assert cfg.document.integrations.pagerduty.max_event_age == 6 * 3600.0
    problem = only_problem(base + "integrations:\n  pagerduty:\n    max_event_age: 0s\n")
    assert (problem.path, problem.line) == ("integrations.pagerduty.max_event_age", 5)
    assert "greater than zero" in problem.message


@pytest.mark.parametrize(
    ("group_by", "path", "needle"),
    [
        ("['...', alertname]", "route.group_by", "'...'"),
        ("[alertname, '...']", "route.group_by", "'...'"),
        ("[alertname, job, alertname]", "route.group_by[2]", "duplicated label 'alertname'"),
        ("[alertname, 'bad-name']", "route.group_by[1]", "invalid label name 'bad-name'"),
        ("['1abc']", "route.group_by[0]", "invalid label name '1abc'"),
        ("['a.b']", "route.group_by[0]", "invalid label name 'a.b'"),
    ],
)
def test_bad_group_by(group_by: str, path: str, needle: str) -> None:
    problem = only_problem(f"route:\n  receiver: a\n  group_by: {group_by}\nreceivers: [{{name: a}}]\n")
    assert problem.path == path
    assert problem.line == 3
    assert needle in problem.message


def test_bad_label_names_in_legacy_match() -> None:
    problems = problems_of(
        """\
        route:
          receiver: a
          routes:
            - match: {bad-name: x}
            - match_re: {ok: "(crit"}
        receivers: [{name: a}]
        """
    )
    got = by_path(problems)
    assert "invalid label name 'bad-name'" in got["route.routes[0].match.bad-name"].message
    assert got["route.routes[0].match.bad-name"].line == 4
    assert got["route.routes[1].match_re.ok"].message.startswith('invalid regex "(crit"')
    assert got["route.routes[1].match_re.ok"].line == 5


@pytest.mark.parametrize(
    "matcher", ["foo", "=bar", 'foo=="x"', 'foo="a"b"', 'foo="open', 'foo=~"(crit"', "{a=b,,c=d}"]
)
def test_bad_matchers_point_at_the_entry(matcher: str) -> None:
    escaped = matcher.replace("'", "''")
    problem = only_problem(
        f"route:\n  receiver: a\n  routes:\n    - matchers: ['a=b', '{escaped}']\nreceivers: [{{name: a}}]\n"
    )
    assert problem.path == "route.routes[0].matchers[1]"
    assert problem.line == 4


def test_matchers_must_be_strings() -> None:
    problem = only_problem(
        "route:\n  receiver: a\n  routes:\n    - matchers: [{a: b}]\nreceivers: [{name: a}]\n"
    )
    assert problem.path == "route.routes[0].matchers[0]"


# --- the root route and receivers -----------------------------------------------------------------------


def test_root_route_rules() -> None:
    problems = problems_of(
        """\
        route:
          continue: true
          matchers: ['a="b"']
        receivers: [{name: a}]
        """
    )
    got = by_path(problems)
    assert set(got) == {"route.receiver", "route", "route.continue"}
    assert "receiver" in got["route.receiver"].message
    assert "matchers" in got["route"].message
    assert "continue" in got["route.continue"].message
    assert got["route.continue"].line == 2


@pytest.mark.parametrize("section", ["match: {a: b}", "match_re: {a: b.*}", "matchers: ['a=~\"b\"']"])
def test_root_route_must_not_have_matchers(section: str) -> None:
    problem = only_problem(f"route:\n  receiver: a\n  {section}\nreceivers: [{{name: a}}]\n")
    assert problem.path == "route"
    assert "must not have matchers" in problem.message


def test_missing_route() -> None:
    problem = only_problem("receivers: [{name: a}]\n")
    assert problem.path == "route"
    assert "missing" in problem.message


def test_undefined_receivers_are_all_reported() -> None:
    problems = problems_of(
        """\
        route:
          receiver: nobody
          routes:
            - receiver: a
            - receiver: zz
              routes:
                - receiver: yy
        receivers: [{name: a}]
        """
    )
    got = {p.path: (p.line, p.message) for p in problems}
    assert got == {
        "route.receiver": (2, "undefined receiver 'nobody'"),
        "route.routes[1].receiver": (5, "undefined receiver 'zz'"),
        "route.routes[1].routes[0].receiver": (7, "undefined receiver 'yy'"),
    }


def test_duplicate_receiver_names() -> None:
    problem = only_problem("route: {receiver: a}\nreceivers:\n  - name: a\n  - name: b\n  - name: a\n")
    assert problem.path == "receivers[2].name"
    assert problem.line == 5
    assert problem.message == "receiver name 'a' is not unique"


def test_a_receiver_with_a_broken_integration_is_still_defined() -> None:
    # Only the integration's problem: no spurious "undefined receiver 'a'" for the route.
    problems = problems_of(
        """\
        route:
          receiver: a
          routes:
            - receiver: b
        receivers:
          - name: a
            webhook_configs: [{url: 'ftp://x/'}]
          - name: b
            colour: red
        """
    )
    assert [p.path for p in problems] == ["receivers[0].webhook_configs[0].url", "receivers[1].colour"]


def test_receiver_needs_a_name() -> None:
    problem = only_problem("route: {receiver: a}\nreceivers:\n  - name: a\n  - webhook_configs: []\n")
    assert problem.path == "receivers[1].name"
    assert "missing" in problem.message


def test_channel_kind_without_plugin() -> None:
    problem = only_problem(
        "route: {receiver: a}\nreceivers:\n  - name: a\n    pushbullet_configs:\n      - channel: '#x'\n"
    )
    assert problem.path == "receivers[0].pushbullet_configs"
    assert problem.line == 5  # the line of the value the path leads to
    assert "'pushbullet'" in problem.message
    available = problem.message.split("available: ", 1)[1].rstrip(")").split(", ")
    assert {"log", "webhook"} <= set(available)
    assert available == sorted(available)


def test_unknown_receiver_field() -> None:
    problem = only_problem("route: {receiver: a}\nreceivers:\n  - name: a\n    email: x@example.org\n")
    assert problem.path == "receivers[0].email"
    assert problem.message.startswith("unknown field")


@pytest.mark.parametrize("url", ["ftp://example.org/", "example.org/hook", "http://", "file:///tmp/x", "''"])
def test_webhook_url_must_be_http(url: str) -> None:
    problem = only_problem(
        f"route: {{receiver: a}}\nreceivers:\n  - name: a\n    webhook_configs:\n      - url: {url}\n"
    )
    assert problem.path == "receivers[0].webhook_configs[0].url"
    assert problem.line == 5
    assert "http" in problem.message


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/", "https://hooks.example.org/a?b=c"])
def test_webhook_url_accepted(url: str) -> None:
    cfg = make_config(
        f"route: {{receiver: a}}\nreceivers:\n  - name: a\n    webhook_configs:\n      - url: '{url}'\n"
    )
    assert cfg.receivers["a"].integrations[0].config.url == url


@pytest.mark.parametrize(
    "entry", ["{url: 'http://x/', url_file: /tmp/u}", "{}", "{send_resolved: false}"]
)
def test_webhook_needs_exactly_one_of_url_and_url_file(entry: str) -> None:
    problem = only_problem(
        f"route: {{receiver: a}}\nreceivers:\n  - name: a\n    webhook_configs: [{entry}]\n"
    )
    assert problem.path == "receivers[0].webhook_configs[0].url"
    assert problem.message == "exactly one of url and url_file must be set"


def test_webhook_bad_max_alerts() -> None:
    problem = only_problem(
        "route: {receiver: a}\nreceivers:\n  - name: a\n"
        "    webhook_configs: [{url: 'http://x/', max_alerts: -1}]\n"
    )
    assert problem.path == "receivers[0].webhook_configs[0].max_alerts"


# --- YAML-level problems -----------------------------------------------------------------------------------


def test_yaml_syntax_error_has_a_line() -> None:
    problem = only_problem("route:\n  receiver: a\n   routes: [\nreceivers: [{name: a}]\n")
    assert problem.path == ""
    assert problem.line == 3
    assert problem.message.startswith("invalid YAML")
    assert str(problem).startswith("line 3: <root>: invalid YAML")


def test_yaml_unclosed_flow_sequence() -> None:
    problem = only_problem("route:\n  receiver: a\nreceivers: [{name: a}\n")
    assert problem.message.startswith("invalid YAML")
    assert problem.line is not None


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n", "- a\n- b\n", "just a string\n"])
def test_empty_or_non_mapping_document(text: str) -> None:
    problem = only_problem(text)
    assert problem.path == ""
    assert "mapping" in problem.message


def test_wrong_types() -> None:
    problems = problems_of(
        """\
        route:
          receiver: a
          routes: {receiver: a}
          continue: maybe
        receivers: {name: a}
        """
    )
    paths = {p.path for p in problems}
    assert {"route.routes", "receivers"} <= paths


# --- the check-config command ------------------------------------------------------------------------------


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tocsin", "check-config", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_config_reports_every_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(MANY_ERRORS)
    result = run_cli(path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[-1] == f"{path}: 13 error(s)"
    expected = {f"{path}: {p}" for p in problems_of(MANY_ERRORS)}
    assert set(lines[:-1]) == expected
    assert f"{path}: line 9: route.routes[1].matchers[0]: invalid regex \"(crit\"" in result.stdout
    assert f"{path}: line 6: route.routes[0].colour: unknown field" in result.stdout


def test_check_config_good_file(tmp_path: Path) -> None:
    path = tmp_path / "good.yml"
    path.write_text(VALID)
    result = run_cli(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == (
        f"{path}: OK: 3 route(s), 3 receiver(s), 3 integration(s), "
        "listen 127.0.0.1:19095, storage /tmp/tocsin-test.db"
    )


def test_check_config_several_files(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yml", tmp_path / "bad.yml"
    good.write_text(VALID)
    bad.write_text("route: {receiver: nobody}\nreceivers: [{name: a}]\n")
    result = run_cli(good, bad, tmp_path / "missing.yml")
    assert result.returncode == 1
    out = result.stdout
    assert f"{good}: OK: " in out
    assert f"{bad}: line 1: route.receiver: undefined receiver 'nobody'" in out
    assert f"{bad}: 1 error(s)" in out
    assert f"{tmp_path / 'missing.yml'}: <root>: cannot read config" in out


def test_bundled_config_is_valid() -> None:
    result = run_cli(BUNDLED)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"{BUNDLED}: OK: ")
    cfg = make_config(BUNDLED.read_text())
    assert cfg.route.receiver in cfg.receivers


def test_repeated_group_by_all_is_tolerated_like_alertmanager():
    cfg = make_config("""
route:
  receiver: a
  group_by: ['...', '...']
receivers: [{name: a}]
""")
    assert cfg.route.opts.group_by_all


def test_a_malformed_url_is_refused_without_echoing_it(tmp_path):
    """URL fields carry tokens (a Slack webhook path, user:password@): a config error
    names the field and what is wrong, never the value, in check-config's output too."""
    cfg = tmp_path / "bad.yml"
    cfg.write_text(textwrap.dedent("""\
        route: {receiver: a}
        receivers:
          - name: a
            slack_configs:
              - api_url: "hooks.slack.com/services/T0/B0/PLANTEDSLACKSECRET"
            webhook_configs:
              - url: "ftp://user:PLANTEDPASS@example.org/hook"
        """))
    done = subprocess.run([sys.executable, "-m", "tocsin", "check-config", str(cfg)],
                          capture_output=True, text=True)
    out = done.stdout + done.stderr
    assert done.returncode == 1
    assert "receivers[0].slack_configs[0].api_url: invalid URL" in out
    assert "receivers[0].webhook_configs[0].url: invalid URL" in out
    assert "scheme 'ftp'" in out
    assert "PLANTED" not in out


def test_a_reload_with_the_same_plugins_reuses_the_receiver_type():
    """Each load decodes receivers through a Struct made from the channel kinds; made anew
    at every reload, it (and its cached type info) would pile up in a long-running daemon."""
    from tocsin.config.document import _receiver_type

    first, second = channel_kinds(make_plugins()), channel_kinds(make_plugins())
    assert _receiver_type(first) is _receiver_type(second)
    fewer = {k: v for k, v in first.items() if k != "webhook"}
    assert _receiver_type(fewer) is not _receiver_type(first)
    assert "webhook_configs" not in _receiver_type(fewer).__struct_fields__
