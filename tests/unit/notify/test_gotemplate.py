"""Go templates in tocsin: which fields are Go, how they render through ``Templates``
(escaping, failures, ``templates:`` files), the config errors, and the engine's limits.
What Go renders, byte for byte, is compared with amtool in
``tests/conformance/test_go_templates_amtool.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.channels.providers import alert, notification
from tocsin.notify import gotemplate
from tocsin.notify.templates import Template, TemplateError, Templates, data, language
from tocsin.testing import make_config

D = data(notification(alert(labels={"instance": "db+1", "sev": "<crit>"}, annotations={"s": 'a "b"'})),
         "http://tocsin.example")


@pytest.mark.parametrize(("text", "expected"), [
    ("{{ .Receiver }}", "go"),
    ("{{ receiver }}", "jinja"),
    ('{{ template "slack.default.title" . }}', "go"),
    ("{{ template }}", "jinja"),
    ("{{ range .Alerts }}{{ .Labels.x }}{{ end }}", "go"),
    ("{{ range(3) }}", "jinja"),
    ('{{ printf "%d" 3 }}', "go"),
    ('{{ "x" | toUpper }}', "go"),
    ("{{ status|upper }}", "jinja"),
    ("{{ not .Alerts }}", "go"),
    ("{{ not firing }}", "jinja"),
    ("{{- $x := 1 }}{{ $x }}", "go"),
    ("{{/* note */}}plain", "go"),
    ("{% if firing %}{{ firing|length }}{% endif %}", "jinja"),
    ("plain text", "jinja"),
])
def test_language(text, expected):
    assert language(text) == expected


def test_a_go_syntax_error_names_the_field():
    config = """
route: {receiver: r}
receivers:
  - name: r
    slack_configs:
      - api_url: https://hooks.slack.example/x
        title: '{{ if .Status }}open'
"""
    with pytest.raises(Exception, match=r"receivers\[0\]\.slack_configs\[0\]\.title: Go template syntax "
                                        r"error: line 1: unexpected EOF in if"):
        make_config(config)


def test_go_renders_on_alertmanagers_data():
    t = Templates()
    got = t.render('{{ .Status }} {{ len .Alerts }} {{ (index .Alerts 0).Labels.instance }} '
                   '{{ (index .Alerts 0).StartsAt }} {{ .ExternalURL }}', D)
    assert got == "firing 1 db+1 2023-11-14 22:03:20 +0000 UTC http://tocsin.example"


def test_html_fields_escape_as_html_template():
    t = Templates()
    assert t.render('{{ .CommonLabels.sev }} {{ .CommonLabels.instance }} {{ safeHtml "<b>" }}', D,
                    html=True) == "&lt;crit&gt; db&#43;1 <b>"


def test_json_bodies_escape_each_action():
    t = Templates()
    assert t.render('{"s": "{{ .CommonAnnotations.s }}", "n": {{ len .Alerts }}}', D, json_body=True) \
        == '{"s": "a \\"b\\"", "n": 1}'


def test_a_failing_go_template_sends_the_plain_summary(capsys):
    t = Templates()
    got = t.render('{{ template "nowhere" . }}', D, what="r/slack[0].title")
    assert got == "[FIRING:1] DiskFull (ops)"
    assert 'template "nowhere" not defined' in capsys.readouterr().out


def test_templates_files_of_go_defines(tmp_path: Path):
    (tmp_path / "a.tmpl").write_text('{{ define "my.x" }}<{{ .Status }}>{{ end }}\n'
                                     '{{ define "__subject" }}mine{{ end }}')
    (tmp_path / "b.tmpl").write_text("{% macro shout(x) %}{{ x|upper }}{% endmacro %}")
    t = Templates(["*.tmpl"], tmp_path)
    assert t.render('{{ template "my.x" . }} {{ template "slack.default.title" . }}', D) == "<firing> mine"
    assert t.render("{{ shout(status) }}", D) == "FIRING"


def test_a_go_file_that_does_not_parse_is_named(tmp_path: Path):
    (tmp_path / "bad.tmpl").write_text('{{ define "x" }}{{ .A ')
    with pytest.raises(TemplateError, match=r"bad\.tmpl: line 1: unclosed action"):
        Templates(["*.tmpl"], tmp_path)


def test_recursion_and_output_are_bounded():
    t = gotemplate.GoTemplates()
    t.add('{{ define "loop" }}{{ template "loop" . }}{{ end }}')
    with pytest.raises(gotemplate.ExecError, match="exceeded maximum template depth"):
        t.render('{{ template "loop" . }}', None)
    # d29 would write 2**29 times d0's text.
    doubling = "".join(f'{{{{ define "d{i}" }}}}{{{{ template "d{i - 1}" . }}}}'
                       f'{{{{ template "d{i - 1}" . }}}}{{{{ end }}}}' for i in range(1, 30))
    t.add('{{ define "d0" }}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{{ end }}' + doubling)
    with pytest.raises(gotemplate.ExecError, match="wrote more than"):
        t.render('{{ template "d29" . }}', None)
    # The same calls writing nothing: bounded in steps.
    t.add('{{ define "d0" }}{{ "" }}{{ end }}')
    with pytest.raises(gotemplate.ExecError, match="ran more than 500000 steps"):
        t.render('{{ template "d29" . }}', None)


def test_from_config_keeps_go_text():
    text = '{{ range .Alerts }}{{ .Annotations.summary }}{{ end }}'
    assert Template.from_config(text) == text


async def test_a_webhook_body_template_in_go(tmp_path: Path):
    from tests.unit.notify.test_templates import CONFIG, receiver_server
    from tocsin.testing import advance, post, running

    record: list = []
    runner, url = await receiver_server(record)
    extra = """        body_template: >-
          {"text": "{{ .Status }}: {{ len .Alerts.Firing }} firing",
          "labels": "{{ range .CommonLabels.SortedPairs }}{{ .Name }}={{ .Value }} {{ end }}"}"""
    try:
        async with running(CONFIG.format(url=url, extra=extra), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "X", "q": 'a "quoted" \\ value'}})
            await advance(rt, 1)
    finally:
        await runner.cleanup()
    [(_, body)] = record
    assert json.loads(body) == {"text": "firing: 1 firing", "labels": 'alertname=X q=a "quoted" \\ value '}
