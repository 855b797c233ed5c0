"""Templates: sandboxed Jinja2, macros from files, helpers, and never a dropped notification."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from aiohttp import web

from tocsin.config.document import ConfigError
from tocsin.core.models import Alert, Notification
from tocsin.notify.templates import Template, Templates, data, duration_words
from tocsin.testing import advance, make_config, post, running

NOW = 1_700_000_000.0


def notification() -> Notification:
    alerts = [
        Alert(fingerprint="a1", labels={"alertname": "Disk", "instance": "db1"},
              annotations={"summary": "full"}, starts_at=NOW - 3725, ends_at=0.0),
        Alert(fingerprint="a2", labels={"alertname": "Disk", "instance": "db2"},
              annotations={}, starts_at=NOW - 60, ends_at=NOW - 1),
    ]
    return Notification(receiver="team", group_key="{}:{}", group_labels={"alertname": "Disk"},
                        alerts=alerts, now=NOW)


def test_duration_words():
    assert duration_words(0) == "0s"
    assert duration_words(59) == "59s"
    assert duration_words(3725) == "1h 2m"
    assert duration_words(90061) == "1d 1h"


def test_data_and_helpers():
    t = Templates()
    d = data(notification(), "http://tocsin")
    out = t.render(
        "{{ status }} {{ firing|length }}/{{ resolved|length }} "
        "{% for a in firing %}{{ a.labels.instance }} since {{ a.starts|since(now) }}{% endfor %} "
        "{{ commonLabels|join_labels }} {{ ('x' * 20) | truncate_text(5) }}", d)
    assert out == "firing 1/1 db1 since 1h 2m alertname=Disk xxxx…"


def test_sandbox_refuses_unsafe_access():
    t = Templates()
    out = t.render("{{ ''.__class__.__mro__[1].__subclasses__() }}", data(notification(), ""))
    assert out.startswith("[FIRING:1] Disk")  # fell back, did not leak


def test_render_error_falls_back_to_a_plain_message():
    t = Templates()
    assert t.render("{{ 1 / 0 }}", data(notification(), "")) == "[FIRING:1] Disk (team)"


def test_html_is_escaped_only_where_asked():
    t = Templates()
    ctx = {"x": "<b>&"}
    assert t.render("{{ x }}", ctx) == "<b>&"
    assert t.render("{{ x }}", ctx, html=True) == "&lt;b&gt;&amp;"


INJECTION = 'a", "injected": "yes'


@pytest.mark.parametrize(("source", "body"), [
    # Inside quotes: the value's text, escaped; the label cannot close the string.
    ('{"t": "{{ x }}"}', {"t": INJECTION}),
    ('{"t": "say {{ x }}!", "c": "{{ ctl }}"}', {"t": f"say {INJECTION}!", "c": "tab\tnl\nbs\\"}),
    # tojson: a whole JSON value, quotes included, not escaped again.
    ('{"t": {{ x | tojson }}, "all": {{ labels | tojson }}}', {"t": INJECTION, "all": {"x": INJECTION}}),
    # Numbers stay numbers; literal text and constants are written as they are.
    ('{"n": {{ items | length }}, "k": "<&>{{ "<&>\\"" }}", "sum": {{ 1 + 2 }}}',
     {"n": 2, "k": '<&><&>"', "sum": 3}),
    # A missing name is empty, as everywhere.
    ('{"m": "{{ labels.missing }}"}', {"m": ""}),
    # A macro's own output is not escaped twice; what it interpolates is.
    ('{% macro q(v) %}"{{ v }}"{% endmacro %}{"t": {{ q(x) }}}', {"t": INJECTION}),
])
def test_a_json_body_escapes_what_it_interpolates(source, body):
    t = Templates()
    ctx = {"x": INJECTION, "ctl": "tab\tnl\nbs\\", "labels": {"x": INJECTION}, "items": [1, 2]}
    rendered = t.render(source, ctx, json_body=True)
    assert json.loads(rendered) == body, rendered
    # The same template in plain text mode lets the label out of its string.
    if source == '{"t": "{{ x }}"}':
        assert json.loads(t.render(source, ctx)) == {"t": "a", "injected": "yes"}


def test_safe_writes_text_that_is_json_already():
    t = Templates()
    assert t.render('{"raw": {{ fragment | safe }}}', {"fragment": '{"a": [1]}'}, json_body=True) == (
        '{"raw": {"a": [1]}}')


def test_macros_from_files_in_a_json_body(tmp_path):
    (tmp_path / "m.j2").write_text('{% macro field(k, v) %}"{{ k }}": "{{ v }}"{% endmacro %}')
    t = Templates([str(tmp_path / "m.j2")])
    rendered = t.render("{ {{ field('t', x) }} }", {"x": INJECTION}, json_body=True)
    assert json.loads(rendered) == {"t": INJECTION}


def test_macro_files_from_templates_globs(tmp_path):
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "common.j2").write_text(
        "{% macro title(d) %}[{{ d.status|upper }}] {{ d.groupLabels.alertname }}{% endmacro %}")
    cfg = tmp_path / "tocsin.yml"
    cfg.write_text("templates: ['tpl/*.j2']\nroute: {receiver: r}\nreceivers: [{name: r}]\n")
    from tocsin.config.document import load_config_file
    from tocsin.plugins import channel_kinds
    from tocsin.testing import make_plugins
    config = load_config_file(cfg, channel_kinds(make_plugins()))
    assert config.templates.render("{{ title(d) }}", {"d": data(notification(), "")}) == \
        "[FIRING] Disk"


def test_syntax_errors_are_config_errors_with_their_path(tmp_path):
    with pytest.raises(ConfigError) as err:
        make_config("""
route: {receiver: r}
receivers:
  - name: r
    webhook_configs:
      - url: http://127.0.0.1:1/
        body_template: '{"a": {{ status }'
""")
    [p] = err.value.problems
    assert p.path == "receivers[0].webhook_configs[0].body_template"
    assert "syntax error" in p.message


async def receiver_server(record: list):
    async def handle(request: web.Request) -> web.Response:
        record.append((dict(request.headers), await request.read()))
        return web.Response()
    app = web.Application()
    app.router.add_post("/{p:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/hook"


CONFIG = """
route: {{receiver: r, group_wait: 1s}}
receivers:
  - name: r
    webhook_configs:
      - url: {url}
{extra}
"""


async def test_webhook_hmac_signature_and_custom_body(tmp_path):
    record: list = []
    runner, url = await receiver_server(record)
    extra = """        hmac_secret: s3cret
        body_template: '{"text": "{{ status }}: {{ firing|length }} firing", "key": "{{ groupKey }}"}'"""
    try:
        async with running(CONFIG.format(url=url, extra=extra), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "X"}})
            await advance(rt, 1)
    finally:
        await runner.cleanup()
    [(headers, body)] = record
    assert json.loads(body) == {"text": "firing: 1 firing", "key": "{}:{}"}
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Tocsin-Signature"] == f"sha256={expected}"


async def test_webhook_body_that_is_not_json_falls_back_to_the_standard_message(tmp_path):
    record: list = []
    runner, url = await receiver_server(record)
    extra = "        body_template: 'not json {{ status }}'"
    try:
        async with running(CONFIG.format(url=url, extra=extra), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "X"}})
            await advance(rt, 1)
    finally:
        await runner.cleanup()
    [(headers, body)] = record
    assert json.loads(body)["version"] == "4"
    assert "X-Tocsin-Signature" not in headers


# -- Alertmanager's default values -------------------------------------------------------------


def test_alertmanagers_default_values_load_as_the_registered_jinja(monkeypatch):
    from tocsin.notify import templates

    monkeypatch.setattr(templates, "_ALERTMANAGER_DEFAULTS", {})
    templates.alertmanager_defaults({"x.default.title": "[{{ status }}]", '{{ if .A }}1{{ end }}': "{{ 1 }}"})
    for text in ('{{ template "x.default.title" . }}', '{{template "x.default.title" .}}',
                 ' {{- template "x.default.title" . -}} '):
        assert Template.from_config(text) == "[{{ status }}]"
    assert Template.from_config('{{ if .A }}1{{ end }}') == "{{ 1 }}"
    # Not a registered default: Go or Jinja2 as written; a Go syntax error says it is Go's.
    assert Template.from_config("{{ template }}") == "{{ template }}"
    for go in ('{{ template "x.default.text" . }}', "{{ .CommonLabels.team }}",
               '{{ if eq .Status "firing" }}2{{ end }}', '{{ template "x.default.title" . }} and more'):
        assert Template.from_config(go) == go
    for bad in ('{{ if eq .Status "firing" }}2', "{{ .Status | nosuch }}",
                "{{ range .Alerts }}{{ end }}{{ end }}"):
        with pytest.raises(ValueError, match="Go template syntax error: line 1: "):
            Template.from_config(bad)


def test_urlquery_escapes_as_go():
    t = Templates()
    assert t.render("{{ r|urlquery }}", {"r": "team a/b?c=d&e\\.f"}) == "team+a%2Fb%3Fc%3Dd%26e%5C.f"
