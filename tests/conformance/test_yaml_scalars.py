"""Unquoted YAML 1.1 booleans and numbers in string fields, as Alertmanager reads them.

Alertmanager's fields are Go strings, and yaml.v2 gives a string field the scalar's
text: ``receiver: yes`` is the receiver named ``yes``, ``match: {flag: yes}`` matches
the label value ``yes``, ``match: {n: 010}`` the value ``010``. Compared with
``amtool config routes test`` on the same file.
"""

from __future__ import annotations

import pytest

from tests.conformance.test_route_test_corpus import amtool, ours
from tests.peers import require_binary

pytestmark = pytest.mark.e2e

CONFIG = """
route:
  receiver: no
  routes:
    - match: {flag: yes}
      receiver: yes
    - match: {flag: off}
      receiver: "off"
    - match: {n: 010}
      receiver: 010
    - match: {v: 1e3}
      receiver: on
    - match: {w: 0x1F}
      receiver: y
    - matchers: [level=1.50]
      receiver: 1.50
receivers:
  - name: no
  - name: yes
  - name: "off"
  - name: 010
  - name: on
  - name: y
  - name: 1.50
"""

LABEL_SETS = [
    ["flag=yes"], ["flag=true"], ["flag=off"], ["flag=false"], ["n=010"], ["n=8"], ["n=10"],
    ["v=1e3"], ["v=1000.0"], ["w=0x1F"], ["w=31"], ["level=1.50"], ["level=1.5"], ["other=x"],
]


def test_string_fields_keep_the_scalars_text(tmp_path):
    require_binary("amtool")
    path = tmp_path / "scalars.yml"
    path.write_text(CONFIG)
    results = {" ".join(labels): (amtool(path, labels), ours(path, labels)) for labels in LABEL_SETS}
    assert {k: v for k, v in results.items() if v[0] != v[1]} == {}
    # The cases mean what they say on Alertmanager: each label set reaches its receiver.
    assert results["flag=yes"][0].strip() == "yes"
    assert results["n=010"][0].strip() == "010"
    assert results["flag=true"][0].strip() == "no"
