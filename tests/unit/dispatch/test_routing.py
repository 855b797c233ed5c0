"""tocsin.dispatch.route.Route, built from YAML through the config loader (dispatch/route.go semantics)."""

from __future__ import annotations

import textwrap

import pytest

from tocsin.config.document import RouteConfig
from tocsin.dispatch.route import Route
from tocsin.testing import make_config

RECEIVERS = """
receivers:
  - name: default
  - name: a
  - name: b
  - name: c
  - name: d
  - name: e
"""


def tree(route_yaml: str) -> Route:
    """The routing tree of a config whose ``route:`` section is ``route_yaml``."""
    text = "route:\n" + textwrap.indent(textwrap.dedent(route_yaml).strip("\n"), "  ") + "\n" + RECEIVERS
    return make_config(text).route


def receivers(root: Route, labels: dict[str, str]) -> list[str]:
    return [r.receiver for r in root.match(labels)]


# --- matching ---------------------------------------------------------------------------------------


FIRST_MATCH = """
receiver: default
routes:
  - matchers: ['severity="critical"']
    receiver: a
  - matchers: ['severity=~"crit.*"']
    receiver: b
  - matchers: ['team="db"']
    receiver: c
"""


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"severity": "critical"}, ["a"]),  # b would match too, but a came first
        ({"severity": "critical", "team": "db"}, ["a"]),
        ({"severity": "crit"}, ["b"]),
        ({"severity": "crit", "team": "db"}, ["b"]),
        ({"team": "db"}, ["c"]),
        ({"severity": "warning"}, ["default"]),  # no child: the root itself
        ({}, ["default"]),
    ],
)
def test_first_matching_child_wins(labels: dict[str, str], expected: list[str]) -> None:
    assert receivers(tree(FIRST_MATCH), labels) == expected


CONTINUE = """
receiver: default
routes:
  - matchers: ['severity="critical"']
    receiver: a
    continue: true
  - matchers: ['team="db"']
    receiver: b
    continue: true
  - matchers: ['team=~"db|web"']
    receiver: c
  - matchers: ['team="db"']
    receiver: d
"""


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"severity": "critical", "team": "db"}, ["a", "b", "c"]),  # c has no continue: d is not reached
        ({"severity": "critical", "team": "web"}, ["a", "c"]),
        ({"severity": "critical"}, ["a"]),  # a matched with continue; nothing else did; no fallback
        ({"team": "db"}, ["b", "c"]),
        ({"team": "web"}, ["c"]),
        ({"team": "ops"}, ["default"]),
    ],
)
def test_continue_lets_later_siblings_match(labels: dict[str, str], expected: list[str]) -> None:
    assert receivers(tree(CONTINUE), labels) == expected


NESTED = """
receiver: default
routes:
  - matchers: ['team="db"']
    receiver: a
    routes:
      - matchers: ['severity="critical"']
        receiver: b
        continue: true
      - matchers: ['env="prod"']
        receiver: c
  - matchers: ['severity="critical"']
    receiver: d
  - matchers: ['env="prod"']
    receiver: e
"""


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        # Depth first: the db subtree is searched before the later root children.
        ({"team": "db", "severity": "critical", "env": "prod"}, ["b", "c"]),
        ({"team": "db", "severity": "critical"}, ["b"]),
        ({"team": "db", "env": "prod"}, ["c"]),
        # The db node matches but none of its children do: the db node itself.
        ({"team": "db"}, ["a"]),
        # The db node matched (without continue), so d and e are not tried.
        ({"team": "db", "severity": "warning", "env": "dev"}, ["a"]),
        # Children are only reached through their parent.
        ({"team": "web", "severity": "critical", "env": "prod"}, ["d"]),
        ({"team": "web", "env": "prod"}, ["e"]),
        ({"team": "web"}, ["default"]),
    ],
)
def test_nesting_is_depth_first(labels: dict[str, str], expected: list[str]) -> None:
    assert receivers(tree(NESTED), labels) == expected


def test_match_returns_route_objects_in_tree_order() -> None:
    root = tree(NESTED)
    team_db = root.routes[0]
    found = root.match({"team": "db", "severity": "critical", "env": "prod"})
    assert found == [team_db.routes[0], team_db.routes[1]]
    assert root.match({}) == [root]
    assert team_db.match({"team": "web"}) == []  # a non-matching node yields nothing
    assert team_db.matches({"team": "db"})
    assert not team_db.matches({})


def test_continue_at_depth_with_a_continuing_subtree() -> None:
    root = tree(
        """
        receiver: default
        routes:
          - matchers: ['a="1"']
            continue: true
            routes:
              - matchers: ['b="1"']
                receiver: a
          - matchers: ['a=~".+"']
            receiver: b
        """
    )
    assert receivers(root, {"a": "1", "b": "1"}) == ["a", "b"]
    # The first child matched through itself (no grandchild matched); it inherits default.
    assert receivers(root, {"a": "1"}) == ["default", "b"]
    assert receivers(root, {"a": "2", "b": "1"}) == ["b"]


@pytest.mark.parametrize(
    ("matcher", "labels", "matched"),
    [
        ('team=""', {}, True),
        ('team=""', {"team": ""}, True),
        ('team=""', {"team": "x"}, False),
        ('team!="db"', {}, True),
        ('team=~".*"', {}, True),
        ('team=~".+"', {}, False),
        ('team!~".+"', {}, True),
        ('team!~"db"', {}, True),
        ('team="db"', {}, False),
        ('team=~"db"', {"team": "xdbx"}, False),  # anchored
        ('team=~"(?i)DB"', {"team": "db"}, True),
    ],
)
def test_missing_labels_match_as_empty(matcher: str, labels: dict[str, str], matched: bool) -> None:
    root = tree(f"receiver: default\nroutes:\n  - matchers: ['{matcher}']\n    receiver: a\n")
    assert receivers(root, labels) == (["a"] if matched else ["default"])


def test_all_matchers_of_a_route_must_match() -> None:
    root = tree(
        """
        receiver: default
        routes:
          - matchers: ['{team="db", severity=~"crit|page"}', 'env!="dev"']
            receiver: a
        """
    )
    assert receivers(root, {"team": "db", "severity": "page"}) == ["a"]
    assert receivers(root, {"team": "db", "severity": "page", "env": "prod"}) == ["a"]
    assert receivers(root, {"team": "db", "severity": "page", "env": "dev"}) == ["default"]
    assert receivers(root, {"team": "db", "severity": "warn"}) == ["default"]
    assert receivers(root, {"severity": "crit"}) == ["default"]


def test_legacy_match_and_match_re() -> None:
    root = tree(
        """
        receiver: default
        routes:
          - match: {service: api, code: 500}
            receiver: a
          - match_re: {service: "db|cache", instance: "host-[0-9]+"}
            receiver: b
          - match: {team: ops}
            match_re: {severity: "crit.*"}
            matchers: ['env!="dev"']
            receiver: c
        """
    )
    assert receivers(root, {"service": "api", "code": "500"}) == ["a"]  # YAML 500 reads as "500"
    assert receivers(root, {"service": "api", "code": "5000"}) == ["default"]
    assert receivers(root, {"service": "api"}) == ["default"]
    assert receivers(root, {"service": "db", "instance": "host-12"}) == ["b"]
    assert receivers(root, {"service": "db", "instance": "xhost-12"}) == ["default"]  # anchored
    assert receivers(root, {"service": "dbx", "instance": "host-1"}) == ["default"]
    assert receivers(root, {"team": "ops", "severity": "critical"}) == ["c"]
    assert receivers(root, {"team": "ops", "severity": "critical", "env": "dev"}) == ["default"]
    assert receivers(root, {"team": "ops", "severity": "warning"}) == ["default"]


# --- inheritance of options --------------------------------------------------------------------------


def test_defaults_of_the_root_route() -> None:
    root = tree("receiver: default\n")
    opts = root.opts
    assert root.receiver == opts.receiver == "default"
    assert opts.group_by == frozenset()
    assert opts.group_by_all is False
    assert (opts.group_wait, opts.group_interval, opts.repeat_interval) == (30.0, 300.0, 4 * 3600.0)
    assert opts.mute_time_intervals == ()
    assert opts.active_time_intervals == ()
    assert root.routes == []
    assert root.continue_ is False
    assert root.parent is None


INHERIT = """
receiver: default
group_by: [alertname, cluster]
group_wait: 10s
group_interval: 1m
repeat_interval: 2h
routes:
  - matchers: ['team="a"']
    routes:
      - matchers: ['severity="page"']
        receiver: b
        group_wait: 0s
  - matchers: ['team="b"']
    receiver: a
    group_by: [job]
    repeat_interval: 30m
    routes:
      - matchers: ['x="1"']
        group_interval: 7m
  - matchers: ['team="c"']
    group_by: []
  - matchers: ['team="d"']
    group_by: ['...']
    routes:
      - matchers: ['x="1"']
      - matchers: ['x="2"']
        group_by: [instance]
"""


def test_children_inherit_receiver_group_by_and_timers() -> None:
    root = tree(INHERIT)
    team_a = root.routes[0]
    assert team_a.receiver == "default"
    assert team_a.opts.group_by == {"alertname", "cluster"}
    assert (team_a.opts.group_wait, team_a.opts.group_interval, team_a.opts.repeat_interval) == (
        10.0, 60.0, 7200.0,
    )
    page = team_a.routes[0]
    assert page.receiver == "b"
    assert page.opts.group_by == {"alertname", "cluster"}
    assert (page.opts.group_wait, page.opts.group_interval, page.opts.repeat_interval) == (0.0, 60.0, 7200.0)


def test_own_group_by_replaces_and_is_inherited_further() -> None:
    root = tree(INHERIT)
    team_b = root.routes[1]
    assert team_b.receiver == "a"
    assert team_b.opts.group_by == {"job"}  # replaced, not merged with alertname, cluster
    assert team_b.opts.group_by_all is False
    assert (team_b.opts.group_wait, team_b.opts.group_interval, team_b.opts.repeat_interval) == (
        10.0, 60.0, 1800.0,
    )
    x1 = team_b.routes[0]
    assert x1.receiver == "a"
    assert x1.opts.group_by == {"job"}
    assert (x1.opts.group_wait, x1.opts.group_interval, x1.opts.repeat_interval) == (10.0, 420.0, 1800.0)


def test_empty_group_by_inherits() -> None:
    # As in Alertmanager, an empty list leaves GroupBy unset: the parent's applies.
    team_c = tree(INHERIT).routes[2]
    assert team_c.opts.group_by == {"alertname", "cluster"}
    assert team_c.opts.group_by_all is False


def test_group_by_all_labels() -> None:
    team_d = tree(INHERIT).routes[3]
    assert team_d.opts.group_by_all is True
    labels = {"alertname": "X", "instance": "i", "team": "d"}
    assert team_d.group_labels(labels) == labels
    assert team_d.routes[0].opts.group_by_all is True  # inherited
    assert team_d.routes[0].group_labels(labels) == labels
    named = team_d.routes[1]  # named labels switch '...' off again
    assert named.opts.group_by_all is False
    assert named.opts.group_by == {"instance"}
    assert named.group_labels(labels) == {"instance": "i"}


def test_time_intervals_are_not_inherited() -> None:
    # Time intervals cannot be named in a config yet, so the tree is built directly.
    cfg = RouteConfig(
        receiver="default",
        routes=[
            RouteConfig(
                mute_time_intervals=["weekends"],
                active_time_intervals=["office"],
                routes=[RouteConfig(matchers=[]), RouteConfig(mute_time_intervals=["nights"])],
            )
        ],
    )
    root = Route.build(cfg)
    child = root.routes[0]
    assert child.opts.mute_time_intervals == ("weekends",)
    assert child.opts.active_time_intervals == ("office",)
    assert child.routes[0].opts.mute_time_intervals == ()
    assert child.routes[0].opts.active_time_intervals == ()
    assert child.routes[1].opts.mute_time_intervals == ("nights",)
    assert child.routes[0].receiver == "default"


# --- group labels and keys ------------------------------------------------------------------------------


def test_group_labels_pick_the_group_by_labels_present() -> None:
    root = tree("receiver: default\ngroup_by: [alertname, cluster]\n")
    assert root.group_labels({"alertname": "X", "job": "j", "cluster": "c1"}) == {
        "alertname": "X",
        "cluster": "c1",
    }
    assert root.group_labels({"alertname": "X"}) == {"alertname": "X"}  # missing ones are left out
    assert root.group_labels({"job": "j"}) == {}
    assert tree("receiver: default\n").group_labels({"alertname": "X"}) == {}


def test_route_keys() -> None:
    root = tree(
        """
        receiver: default
        routes:
          - matchers: ['severity="critical"']
            routes:
              - matchers: ['team=~"db|web"']
          - matchers: ['z="1"', 'a!="2"', '{a="2", a=~"1"}']
          - match: {service: api, env: prod}
            match_re: {code: "5.."}
            matchers: ['b!~"x"']
          - matchers: ['msg="a \\"quoted\\"\\nline\\\\"']
          - receiver: a
        """
    )
    assert root.key == "{}"
    assert root.id == "{}"
    crit = root.routes[0]
    assert crit.key == '{}/{severity="critical"}'
    assert crit.routes[0].key == '{}/{severity="critical"}/{team=~"db|web"}'
    # Sorted by name, then value, then type (= != =~ !~), whatever the order they were written in.
    assert root.routes[1].key == '{}/{a=~"1",a="2",a!="2",z="1"}'
    # Legacy match/match_re join the new matchers in the same sort; match_re values are
    # kept anchored, as Alertmanager keeps them (amtool --tree shows the same).
    assert root.routes[2].key == '{}/{b!~"x",code=~"^(?:5..)$",env="prod",service="api"}'
    # Values are escaped as OpenMetrics does.
    assert root.routes[3].key == r'{}/{msg="a \"quoted\"\nline\\"}'
    # A child without matchers.
    assert root.routes[4].key == "{}/{}"


def test_route_ids_tell_siblings_with_equal_keys_apart() -> None:
    root = tree(
        """
        receiver: default
        routes:
          - matchers: ['a="b"']
            receiver: a
          - matchers: ['a="b"']
            receiver: b
            routes:
              - matchers: ['c="d"']
        """
    )
    first, second = root.routes
    assert first.key == second.key == '{}/{a="b"}'
    assert first.id == '{}/{a="b"}/0'
    assert second.id == '{}/{a="b"}/1'
    assert second.routes[0].key == '{}/{a="b"}/{c="d"}'
    assert second.routes[0].id == '{}/{a="b"}/{c="d"}/0'
    ids = [r.id for r in root.walk()]
    assert len(ids) == len(set(ids)) == 4


def test_group_keys() -> None:
    root = tree(
        """
        receiver: default
        group_by: [alertname]
        routes:
          - matchers: ['severity="critical"']
            group_by: [alertname, job]
          - matchers: ['severity="info"']
            group_by: ['...']
        """
    )
    labels = {"alertname": "X", "job": "j", "severity": "critical", "msg": 'say "hi"'}
    assert root.group_key(root.group_labels(labels)) == '{}:{alertname="X"}'
    crit = root.match(labels)[0]
    assert crit is root.routes[0]
    assert crit.group_key(crit.group_labels(labels)) == '{}/{severity="critical"}:{alertname="X", job="j"}'
    info_labels = dict(labels, severity="info")
    info = root.match(info_labels)[0]
    assert info.group_key(info.group_labels(info_labels)) == (
        r'{}/{severity="info"}:{alertname="X", job="j", msg="say \"hi\"", severity="info"}'
    )
    assert root.group_key({}) == "{}:{}"


def test_walk_is_depth_first() -> None:
    root = tree(NESTED)
    assert [r.receiver for r in root.walk()] == ["default", "a", "b", "c", "d", "e"]
    assert [r.parent for r in root.routes] == [root, root, root]
    assert root.routes[0].routes[0].parent is root.routes[0]
