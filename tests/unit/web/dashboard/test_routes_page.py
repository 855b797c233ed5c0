"""The routes page: the routing tree drawn, the route test highlighting the path that
``tocsin route test --tree`` prints for the same labels, and the running config with
its secrets masked."""

from __future__ import annotations

import io
import json

import pytest

from tests.unit.web.dashboard.pagetext import elements
from tests.unit.web.tokens import TOKEN_AUTH, TOKENS
from tocsin.cli.route import route_test
from tocsin.testing import api_client, make_config
from tocsin.web.dashboard.routes import parse_labels_text, tree

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['severity="page"']
      receiver: pager
      continue: true
    - matchers: ['team="db"']
      receiver: db
      group_by: [alertname, team]
      group_wait: 10s
      routes:
        - matchers: ['env="prod"']
          receiver: db-prod
          group_by: ['...']
        - matchers: ['env=~"stag.*"']
          receiver: db-staging
    - matchers: ['team="web"']
      receiver: web
receivers:
  - name: default
  - name: pager
    webhook_configs:
      - url: http://127.0.0.1:1/hook?token=qu3ry-s3cret
        http_config:
          basic_auth: {username: u, password: hunter2}
  - name: db
  - name: db-prod
  - name: db-staging
  - name: web
    slack_configs:
      - api_url: https://hooks.slack.example/services/T0/B0/sl4ck-s3cret
        channel: '#web'
"""

CASES = [
    ('severity="page", team="db", env="prod"', "pager,db-prod"),
    ('team="db", env="staging"', "db-staging"),
    ('team="db"', "db"),
    ('team="web"', "web"),
    ('alertname="X"', "default"),
    ('severity="page"\nteam="nobody"', "pager"),
]


def cli(path, labels: dict[str, str]) -> dict:
    out = io.StringIO()
    route_test(str(path), [f"{k}={v}" for k, v in labels.items()], tree=True, output="json", out=out)
    return json.loads(out.getvalue())


def drawn(html: str) -> tuple[list[str], list[str], str]:
    """(matchers of the nodes on the path, of the nodes matched, the receivers shown)."""
    found = elements(html)
    routes = [e for e in found if e.tag == "li" and "route" in e.classes]

    def matchers(li) -> str:
        return next(e for e in li.children[0].children if "route-matchers" in e.classes).text

    receivers = [e.text for e in found if "route-receivers" in e.classes]
    return ([matchers(li) for li in routes if "on-path" in li.classes],
            [matchers(li) for li in routes if "matched" in li.classes], receivers[0] if receivers else "")


@pytest.mark.parametrize(("text", "receivers"), CASES)
async def test_route_test_highlights_the_path_the_cli_prints(tmp_path, text, receivers):
    path = tmp_path / "tocsin.yml"
    path.write_text(CONFIG)
    labels = parse_labels_text(text)
    printed = cli(path, labels)
    assert ",".join(printed["receivers"]) == receivers
    async with api_client(CONFIG, tmp_path) as (client, _rt):
        resp = await client.get("/routes", params={"labels": text})
        assert resp.status == 200
        on_path, matched, shown = drawn(await resp.text())
    assert shown == receivers
    # The CLI draws the path as lines "└── {matchers}  receiver: r" (the root: default-route).
    lines = [line.lstrip("│├└─ \u00a0") for line in printed["tree"][1:]]
    assert [line.split("  receiver:")[0] for line in lines] == \
        ["default-route" if m == "(root)" else m for m in on_path]
    assert [line.split("receiver: ")[1] for line in lines if "receiver: " in line] == receivers.split(",")
    assert len(matched) == len(printed["receivers"])


def test_tree_marks_nothing_without_labels_and_draws_every_option():
    config = make_config(CONFIG)
    root, receivers = tree(config.route, None)
    assert receivers == []
    assert not root.on_path
    db = root.children[1]
    assert (db.matchers, db.receiver, db.group_by) == ('{team="db"}', "db", "alertname, team")
    assert db.timers.startswith("wait 10s, interval 5m, repeat 4h")
    assert db.children[0].group_by == "... (every label)"
    assert root.children[0].continue_


def test_labels_text_is_read_like_matchers_and_refused_by_name():
    assert parse_labels_text('{a="b, c", d=e}\nf="g"') == {"a": "b, c", "d": "e", "f": "g"}
    with pytest.raises(ValueError, match="key=value pairs"):
        parse_labels_text('a=~"b"')
    with pytest.raises(ValueError, match="Failed to parse labels"):
        parse_labels_text("no pair here")


async def test_routes_page_masks_secrets_and_says_why_labels_are_refused(tmp_path):
    async with api_client(CONFIG, tmp_path) as (client, _rt):
        resp = await client.get("/routes")
        assert resp.status == 200
        html = await resp.text()
        bad = await client.get("/routes", params={"labels": 'team=~"x"'})
        assert bad.status == 400
        assert "labels must be specified as key=value pairs" in await bad.text()
    # As /api/v2/status shows them: passwords and a URL's query values masked.
    for secret in ("hunter2", "qu3ry-s3cret", "sl4ck-s3cret"):
        assert secret not in html
    assert "&lt;secret&gt;" in html
    assert "db-staging" in html
    assert 'class="route on-path' not in html


async def test_routes_page_needs_the_read_role(tmp_path):
    async with api_client(TOKEN_AUTH, tmp_path) as (client, _rt):
        assert (await client.get("/routes", allow_redirects=False)).status in (303, 401)
        ingest = await client.get("/routes", headers={"Authorization": f"Bearer {TOKENS['ingest']}"})
        assert ingest.status == 403
        ok = await client.get("/routes", headers={"Authorization": f"Bearer {TOKENS['read']}"})
        assert ok.status == 200
