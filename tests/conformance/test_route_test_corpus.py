"""`tocsin route test` against `amtool config routes test` over a generated corpus.

30 configs from a fixed seed, trees three levels deep below the root, every
matcher operator, `continue`, the group_by variants; 20 label sets each.
Every case must print the same receivers; a sample also compares `--tree`.
"""

from __future__ import annotations

import io
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.peers import require_binary
from tocsin.cli.route import answer, route_test
from tocsin.daemon.serve import ConfigLoader, load_plugins
from tocsin.plugins import PluginManager

pytestmark = pytest.mark.e2e

SEED = 20261125
CONFIGS = 30
LABEL_SETS = 20
NAMES = ["alertname", "severity", "team", "env", "region"]
VALUES = ["a", "b", "db", "crit", "x.y", ""]
REGEXES = ["a|b", "d.*", ".*", ".+", "x\\.y", "(?i)CRIT", "[ab]", "db|crit"]
OPS = ["=", "!=", "=~", "!~"]
GROUP_BY = [None, "[alertname]", "['...']", "[team, env]", "[]"]


def gen_matcher(rng: random.Random) -> str:
    name, op = rng.choice(NAMES), rng.choice(OPS)
    value = rng.choice(REGEXES) if "~" in op else rng.choice(VALUES)
    return f"{name}{op}\"{value}\""


def gen_route(rng: random.Random, depth: int, receivers: list[str], indent: str) -> list[str]:
    lines = [f"{indent}- receiver: {rng.choice(receivers)}"]
    inner = indent + "  "
    style = rng.random()
    if style < 0.7:
        ms = ", ".join(f"'{gen_matcher(rng)}'" for _ in range(rng.randint(1, 2)))
        lines.append(f"{inner}matchers: [{ms}]")
    elif style < 0.85:
        lines.append(f"{inner}match: {{{rng.choice(NAMES)}: {rng.choice(VALUES[:-1])}}}")
    else:
        lines.append(f"{inner}match_re: {{{rng.choice(NAMES)}: '{rng.choice(REGEXES)}'}}")
    if rng.random() < 0.4:
        lines.append(f"{inner}continue: true")
    gb = rng.choice(GROUP_BY)
    if gb is not None:
        lines.append(f"{inner}group_by: {gb}")
    if rng.random() < 0.3:
        lines.append(f"{inner}group_wait: {rng.choice(['0s', '10s', '1m'])}")
    if depth < 3 and rng.random() < 0.6:
        lines.append(f"{inner}routes:")
        for _ in range(rng.randint(1, 3)):
            lines.extend(gen_route(rng, depth + 1, receivers, inner + "  "))
    return lines


def gen_config(rng: random.Random) -> str:
    receivers = [f"r{i}" for i in range(rng.randint(3, 7))]
    lines = ["route:", "  receiver: r0", f"  group_by: {rng.choice(GROUP_BY[1:])}", "  routes:"]
    for _ in range(rng.randint(2, 4)):
        lines.extend(gen_route(rng, 1, receivers, "    "))
    lines.append("receivers:")
    lines.extend(f"  - name: {r}" for r in receivers)
    return "\n".join(lines) + "\n"


def gen_labels(rng: random.Random) -> list[str]:
    return [f"{n}={rng.choice(VALUES[:-1])}" for n in NAMES if rng.random() < 0.6]


def corpus() -> list[tuple[str, list[list[str]]]]:
    rng = random.Random(SEED)
    return [(gen_config(rng), [gen_labels(rng) for _ in range(LABEL_SETS)]) for _ in range(CONFIGS)]


def amtool(path: Path, labels: list[str], tree: bool = False) -> str:
    out = subprocess.run(
        [require_binary("amtool"), "config", "routes", "test", f"--config.file={path}",
         *(["--tree"] if tree else []), *labels],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def ours(path: Path, labels: list[str], tree: bool = False) -> str:
    buf = io.StringIO()
    assert route_test(str(path), labels, tree=tree, out=buf) == 0
    return buf.getvalue()


def ours_for_each(path: Path, label_sets: list[list[str]], plugins: PluginManager) -> list[str]:
    """What ``route test`` prints for each label set, the config loaded once (as
    :func:`route_test` loads it for one) rather than once per label set."""
    config = ConfigLoader(path, plugins).load()
    printed = []
    for labels in label_sets:
        buf = io.StringIO()
        assert answer(config, labels, out=buf) == 0
        printed.append(buf.getvalue())
    return printed


def test_corpus_shape():
    configs = corpus()
    text = "".join(c for c, _ in configs)
    assert len(configs) >= 30
    assert all(len(ls) == 20 for _, ls in configs)
    for op in ("=\\\"", "!=", "=~", "!~", "continue: true", "['...']", "match_re", "match:"):
        assert op.replace("\\", "") in text
    # Depth 3 below the root exists: an indentation of three nested route lists.
    assert any("          - receiver:" in c for c, _ in configs)


def test_route_test_agrees_with_amtool_on_the_corpus(tmp_path):
    require_binary("amtool")
    cases, got = [], []
    plugins = load_plugins()
    for i, (config, label_sets) in enumerate(corpus()):
        path = tmp_path / f"c{i}.yml"
        path.write_text(config)
        cases += [(path, labels) for labels in label_sets]
        got += ours_for_each(path, label_sets, plugins)
    with ThreadPoolExecutor(4) as pool:
        expected = list(pool.map(lambda c: amtool(*c), cases))
    disagree = [(str(p), labels, want, mine)
                for (p, labels), want, mine in zip(cases, expected, got, strict=True) if mine != want]
    print(f"routing corpus: {len(cases)} cases, {len(cases) - len(disagree)} agree", file=sys.stderr)
    assert disagree == []


def test_tree_output_agrees_with_amtool(tmp_path):
    require_binary("amtool")
    for i, (config, label_sets) in enumerate(corpus()[:8]):
        path = tmp_path / f"t{i}.yml"
        path.write_text(config)
        for labels in label_sets[:4]:
            assert ours(path, labels, tree=True) == amtool(path, labels, tree=True), (config, labels)


def test_the_installed_command_prints_the_same(tmp_path):
    config, label_sets = corpus()[0]
    path = tmp_path / "c.yml"
    path.write_text(config)
    for labels in label_sets[:3]:
        out = subprocess.run([sys.executable, "-m", "tocsin", "route", "test", "--config", str(path),
                              *labels], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout == amtool(path, labels)
