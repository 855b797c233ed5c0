"""Differential test: tocsin's routing tree against the real ``amtool`` (Alertmanager 0.25).

For each config and label set, ``amtool config routes test`` prints the receivers
Alertmanager would notify, comma-separated; tocsin must pick the same ones, in
the same order.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tocsin.testing import make_config

Labels = dict[str, str]


def require_amtool() -> str:
    """The path of amtool; skip loudly without it, but fail when CI=true."""
    path = shutil.which("amtool")
    if path is not None:
        return path
    reason = (
        "amtool NOT FOUND on PATH: the routing conformance test against Alertmanager did not run "
        "(install prometheus-alertmanager to run it)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(reason + "; CI=true, so this is a failure, not a skip")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def amtool() -> str:
    return require_amtool()


def config_text(route: dict[str, Any]) -> str:
    """A config both amtool and tocsin accept: every receiver the route names is defined."""
    names: list[str] = []

    def collect(node: dict[str, Any]) -> None:
        if "receiver" in node and node["receiver"] not in names:
            names.append(node["receiver"])
        for child in node.get("routes", []):
            collect(child)

    collect(route)
    doc = {"route": route, "receivers": [{"name": n} for n in names]}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=False, width=1000)


def _openmetrics_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') + '"'


def amtool_receivers(amtool: str, config_file: Path, labels: Labels) -> str:
    args = [f"{name}={_openmetrics_quote(value)}" for name, value in labels.items()]
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={config_file}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"amtool failed for {labels}: {result.stderr}"
    return "".join(result.stdout.split())


def check_valid_for_amtool(amtool: str, config_file: Path) -> None:
    result = subprocess.run(
        [amtool, "check-config", str(config_file)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"amtool rejects {config_file}:\n{result.stdout}{result.stderr}"


def compare(
    amtool: str, tmp_path: Path, cases: Iterable[tuple[dict[str, Any], Sequence[Labels]]]
) -> int:
    """Route every label set through amtool and tocsin; fail listing every difference."""
    jobs: list[tuple[str, Path, Any, Labels]] = []
    for n, (route, label_sets) in enumerate(cases):
        text = config_text(route)
        path = tmp_path / f"config{n}.yml"
        path.write_text(text)
        check_valid_for_amtool(amtool, path)
        root = make_config(text).route
        jobs.extend((text, path, root, labels) for labels in label_sets)

    with ThreadPoolExecutor(max_workers=4) as pool:
        expected = list(pool.map(lambda job: amtool_receivers(amtool, job[1], job[3]), jobs))

    mismatches = []
    for (text, _, root, labels), want in zip(jobs, expected, strict=True):
        got = ",".join(r.receiver for r in root.match(labels))
        if got != want:
            mismatches.append(f"labels {labels}: amtool {want!r}, tocsin {got!r}\n{text}")
    assert not mismatches, f"{len(mismatches)} of {len(jobs)} differ:\n\n" + "\n".join(mismatches)
    return len(jobs)


# --- hand-written configs -----------------------------------------------------------------------------

NESTED_CONTINUE = {
    "receiver": "default",
    "group_by": ["alertname"],
    "routes": [
        {
            "matchers": ['team="db"'],
            "receiver": "db",
            "routes": [
                {"matchers": ['severity="critical"'], "receiver": "db-pager", "continue": True},
                {"matchers": ['env="prod"'], "receiver": "db-prod"},
                {"matchers": ['env=~"prod|staging"'], "receiver": "db-nonprod"},
            ],
        },
        {"matchers": ['severity="critical"'], "receiver": "pager", "continue": True},
        {"matchers": ['severity=~"critical|warning"'], "receiver": "tickets", "continue": True},
        {"matchers": ['env="prod"'], "receiver": "prod"},
        {"matchers": ['env="prod"'], "receiver": "never-after-prod"},
    ],
}
NESTED_CONTINUE_LABELS = [
    {},
    {"alertname": "X"},
    {"team": "db"},
    {"team": "db", "severity": "critical"},
    {"team": "db", "severity": "critical", "env": "prod"},
    {"team": "db", "env": "staging"},
    {"team": "web", "severity": "critical"},
    {"team": "web", "severity": "critical", "env": "prod"},
    {"severity": "warning"},
    {"severity": "info", "env": "prod"},
]

REGEXES = {
    "receiver": "default",
    "routes": [
        {"matchers": ['service=~"api|web"'], "receiver": "frontend"},
        {"matchers": ['service=~"db.*"', 'instance=~"host-[0-9]+"'], "receiver": "database"},
        {"matchers": ['severity=~"(?i)crit(ical)?"'], "receiver": "critical"},
        {"matchers": ['code=~"5.."'], "receiver": "server-errors"},
        {"matchers": ['path=~"/api/v[12]/.*"'], "receiver": "api-paths"},
        {"matchers": ['weird=~"a)|(b"'], "receiver": "textual-anchors"},
        {"matchers": ['empty=~""'], "continue": True, "receiver": "empty-or-missing"},
        {"matchers": ['any=~".+"'], "receiver": "present"},
    ],
}
REGEXES_LABELS = [
    {"service": "api"},
    {"service": "apix"},
    {"service": "xapi"},
    {"service": "api|web"},
    {"service": "db-main", "instance": "host-12", "empty": "x"},
    {"service": "db-main", "instance": "host-x", "empty": "x"},
    {"severity": "CRIT", "empty": "x"},
    {"severity": "Critical", "empty": "x"},
    {"severity": "critic", "empty": "x"},
    {"code": "503", "empty": "x"},
    {"code": "5031", "empty": "x"},
    {"path": "/api/v2/alerts", "empty": "x"},
    {"path": "/api/v3/alerts", "empty": "x"},
    {"weird": "axyz", "empty": "x"},
    {"weird": "xyzb", "empty": "x"},
    {"weird": "xyz", "empty": "x"},
    {},
    {"any": "1"},
    {"empty": "", "any": "1"},
    {"empty": "y", "any": ""},
]

NEGATIVE = {
    "receiver": "default",
    "routes": [
        {"matchers": ['env!="prod"', 'team!~"db|ops"'], "receiver": "not-prod-not-db", "continue": True},
        {"matchers": ['severity!=""'], "receiver": "has-severity", "continue": True},
        {"matchers": ['owner!~".+"'], "receiver": "unowned", "continue": True},
        {"matchers": ['owner!~"(?i)ALICE"', 'owner=~".+"'], "receiver": "owned-not-alice"},
    ],
}
NEGATIVE_LABELS = [
    {},
    {"env": "prod"},
    {"env": "dev", "team": "db"},
    {"env": "dev", "team": "web"},
    {"severity": "warning", "env": "prod", "owner": "bob"},
    {"owner": "alice", "env": "prod"},
    {"owner": "Alice", "env": "prod"},
    {"owner": "", "env": "prod", "severity": ""},
]

LEGACY = {
    "receiver": "default",
    "routes": [
        {"match": {"service": "api", "code": 500}, "receiver": "api-500"},
        {"match_re": {"service": "db|cache", "instance": "host-[0-9]+"}, "receiver": "storage"},
        {
            "match": {"team": "ops"},
            "match_re": {"severity": "crit.*"},
            "matchers": ['env!="dev"'],
            "receiver": "ops-critical",
        },
        {"match": {"enabled": True}, "receiver": "flag"},
        {"match_re": {"team": ".*"}, "receiver": "catch-all-team"},
    ],
}
LEGACY_LABELS = [
    {"service": "api", "code": "500"},
    {"service": "api", "code": "5000"},
    {"service": "cache", "instance": "host-7"},
    {"service": "cachex", "instance": "host-7"},
    {"team": "ops", "severity": "critical"},
    {"team": "ops", "severity": "critical", "env": "dev"},
    {"enabled": "true"},
    {"enabled": "True"},
    {},
]

INHERITANCE = {
    "receiver": "default",
    "group_by": ["alertname"],
    "routes": [
        {
            "matchers": ['cluster=~"eu-.*"'],
            "group_by": ["..."],
            "routes": [
                {"matchers": ['severity="critical"'], "receiver": "eu-pager"},
                {"matchers": ['severity="warning"'], "continue": True},
                {
                    "matchers": ['team="db"'],
                    "routes": [{"matchers": ['env="prod"'], "receiver": "eu-db-prod"}],
                },
            ],
        },
        {"receiver": "fallback-team", "matchers": ['team=~".+"'], "group_by": []},
    ],
}
INHERITANCE_LABELS = [
    {"cluster": "eu-1"},
    {"cluster": "eu-1", "severity": "critical"},
    {"cluster": "eu-1", "severity": "warning"},
    {"cluster": "eu-1", "severity": "warning", "team": "db", "env": "prod"},
    {"cluster": "eu-1", "team": "db"},
    {"cluster": "us-1", "team": "db"},
    {"cluster": "us-1"},
]

QUOTING = {
    "receiver": "default",
    "routes": [
        {"matchers": ['{msg="say \\"hi\\", then go", other!="x"}'], "receiver": "quoted"},
        {"matchers": ["path=C:\\tmp"], "receiver": "spurious-escape"},
        {"matchers": ["nbsp=\u00a0lead"], "receiver": "nbsp-kept"},
        {"matchers": ['  spaced   =~   "a b"  '], "receiver": "spaced"},
        {"matchers": ['multi="line1\\nline2"'], "receiver": "newline"},
        {"matchers": ["trailing=comma,"], "receiver": "trailing-comma"},
    ],
}
QUOTING_LABELS = [
    {"msg": 'say "hi", then go'},
    {"msg": 'say "hi", then go', "other": "x"},
    {"path": "C:\\tmp"},
    {"path": "C:\tmp"},
    {"nbsp": "\u00a0lead"},
    {"nbsp": "lead"},
    {"spaced": "a b"},
    {"multi": "line1\nline2"},
    {"trailing": "comma"},
    {"trailing": "comma,"},
]

FIXED = {
    "nested-continue": (NESTED_CONTINUE, NESTED_CONTINUE_LABELS),
    "regexes": (REGEXES, REGEXES_LABELS),
    "negative": (NEGATIVE, NEGATIVE_LABELS),
    "legacy-match": (LEGACY, LEGACY_LABELS),
    "inheritance-group-by-all": (INHERITANCE, INHERITANCE_LABELS),
    "quoting": (QUOTING, QUOTING_LABELS),
}


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_configs(name: str, amtool: str, tmp_path: Path) -> None:
    route, label_sets = FIXED[name]
    assert compare(amtool, tmp_path, [(route, label_sets)]) == len(label_sets)


# --- generated configs and label sets -------------------------------------------------------------------

NAMES = ("a", "b", "c")
PLAIN_VALUES = ("1", "2", "x", "")
REGEX_VALUES = ("1|2", "[12]", ".*", ".+", "x", "(?i)x", "1.*", "", "2|x", "x+")
LABEL_VALUES = ("1", "2", "x", "X", "", "12", "xx")


def random_matcher(rng: random.Random) -> str:
    op = rng.choice(("=", "!=", "=~", "!~"))
    value = rng.choice(REGEX_VALUES if "~" in op else PLAIN_VALUES)
    return f"{rng.choice(NAMES)}{op}{_openmetrics_quote(value)}"


def random_route(rng: random.Random, depth: int, counter: list[int]) -> dict[str, Any]:
    node: dict[str, Any] = {}
    kind = rng.random()
    if kind < 0.55:
        node["matchers"] = [random_matcher(rng) for _ in range(rng.randint(1, 2))]
    elif kind < 0.7:
        node["match"] = {rng.choice(NAMES): rng.choice(PLAIN_VALUES[:3])}
    elif kind < 0.85:
        node["match_re"] = {rng.choice(NAMES): rng.choice(REGEX_VALUES)}
    # else: a child without matchers, which matches everything its parent does
    if rng.random() < 0.6:
        counter[0] += 1
        node["receiver"] = f"r{counter[0]}"
    if rng.random() < 0.4:
        node["continue"] = True
    if rng.random() < 0.3:
        node["group_by"] = rng.choice([["..."], ["a"], [], ["a", "b"]])
    if depth < 3 and rng.random() < 0.55:
        node["routes"] = [random_route(rng, depth + 1, counter) for _ in range(rng.randint(1, 3))]
    return node


def random_tree(rng: random.Random) -> dict[str, Any]:
    counter = [0]
    root: dict[str, Any] = {"receiver": "r0"}
    root["routes"] = [random_route(rng, 1, counter) for _ in range(rng.randint(2, 4))]
    return root


def random_labels(rng: random.Random) -> Labels:
    return {name: rng.choice(LABEL_VALUES) for name in NAMES if rng.random() < 0.65}


def test_random_configs(amtool: str, tmp_path: Path) -> None:
    rng = random.Random(0x70C5)
    cases = []
    for _ in range(8):
        tree = random_tree(rng)
        cases.append((tree, [random_labels(rng) for _ in range(16)]))
    assert compare(amtool, tmp_path, cases) == 128


def test_random_labels_on_fixed_configs(amtool: str, tmp_path: Path) -> None:
    rng = random.Random(25)
    values = ("critical", "warning", "CRIT", "db", "web", "prod", "dev", "eu-1", "api", "", "x")
    names = ("team", "severity", "env", "cluster", "service", "owner", "any", "empty")

    def labels() -> Labels:
        return {n: rng.choice(values) for n in names if rng.random() < 0.5}

    routes = [NESTED_CONTINUE, NEGATIVE, INHERITANCE, REGEXES]
    assert compare(amtool, tmp_path, [(r, [labels() for _ in range(8)]) for r in routes]) == 32
