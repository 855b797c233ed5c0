"""Differential test: tocsin's Go template engine against the real ``amtool template
render`` (Alertmanager 0.25).

Each template of the corpus (every name of Alertmanager's ``default.tmpl``, and
templates as users write them: ``range``, ``if``, ``printf``, ``reReplaceAll``,
``SortedPairs``, times, variables, trimming, errors...) is rendered by amtool and
by tocsin on the same ``template.Data`` (JSON), with the same ``templates:`` file;
the outputs must be equal byte for byte, and a template amtool refuses must fail
in tocsin too.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.test_routes_amtool import require_amtool
from tocsin.notify.gotemplate import ExecError, GoTemplates, GoTemplateSyntaxError, from_context

USER_FILE = r"""
{{ define "my.title" }}[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}{{ end }}
{{ define "my.list" -}}
{{ range $i, $a := .Alerts }}{{ if $i }}, {{ end }}{{ $a.Labels.instance }}{{ end }}
{{- end }}
{{/* a comment with "quotes" and }} braces */}}
{{ define "__subject" }}overridden subject {{ len .Alerts }}{{ end }}
{{ define "my.recursive" -}}
  {{ if . }}{{ index . 0 }}{{ template "my.recursive" (slice . 1) }}{{ end }}
{{- end }}
"""

ALERT_A = {
    "status": "firing",
    "labels": {"alertname": "DiskFull", "instance": "db-1:9100", "severity": "critical", "team": "ops",
               "Zed": "upper", "émoji": "✓"},
    "annotations": {"summary": "Disk almost full on db-1", "description": "95% used\non /var",
                    "runbook": "https://wiki/x?a=1&b=<2>"},
    "startsAt": "2024-03-05T07:08:09.123456Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prom:9090/graph?g0.expr=up",
    "fingerprint": "0a1b2c3d4e5f6789",
}
ALERT_B = {
    "status": "resolved",
    "labels": {"alertname": "DiskFull", "instance": "db-2:9100", "severity": "critical", "team": "ops"},
    "annotations": {"summary": "Disk almost full on db-2", "description": "95% used"},
    "startsAt": "2024-03-05T06:00:00Z",
    "endsAt": "2024-03-05T08:30:00.5Z",
    "generatorURL": "http://prom:9090/graph?g0.expr=up",
    "fingerprint": "1111222233334444",
}
ALERT_C = {
    "status": "firing",
    "labels": {"alertname": "HighLatency", "service": "api", "severity": "warning"},
    "annotations": {"summary": "p99 above 2s"},
    "startsAt": "2023-12-31T23:59:59Z",
    "endsAt": "2024-01-01T00:04:59Z",
    "generatorURL": "",
    "fingerprint": "ffff",
}


def _data(receiver: str, alerts: list[dict[str, Any]], group: dict[str, str]) -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    common_l = dict(alerts[0]["labels"])
    common_a = dict(alerts[0]["annotations"])
    for a in alerts[1:]:
        common_l = {k: v for k, v in common_l.items() if a["labels"].get(k) == v}
        common_a = {k: v for k, v in common_a.items() if a["annotations"].get(k) == v}
    return {"receiver": receiver, "status": status, "alerts": alerts, "groupLabels": group,
            "commonLabels": common_l, "commonAnnotations": common_a,
            "externalURL": "https://am.example.com:9093/prefix"}


DATASETS = {
    "mixed": _data("team ops/db+1", [ALERT_A, ALERT_B], {"alertname": "DiskFull"}),
    "firing": _data("pager", [ALERT_C], {"alertname": "HighLatency", "service": "api"}),
    "resolved": _data("r", [ALERT_B], {}),
    "unrelated": _data("many", [ALERT_A, ALERT_C], {"severity": "x"}),
}

DEFAULT_NAMES = [
    "__alertmanager", "__alertmanagerURL", "__subject", "__description", "slack.default.title",
    "slack.default.username", "slack.default.fallback", "slack.default.callbackid",
    "slack.default.pretext", "slack.default.titlelink", "slack.default.iconemoji",
    "slack.default.iconurl", "slack.default.text", "slack.default.footer",
    "pagerduty.default.description", "pagerduty.default.client", "pagerduty.default.clientURL",
    "opsgenie.default.message", "opsgenie.default.description", "opsgenie.default.source",
    "wechat.default.message", "wechat.default.to_user", "wechat.default.to_party",
    "wechat.default.to_tag", "wechat.default.agent_id", "victorops.default.state_message",
    "victorops.default.entity_display_name", "victorops.default.monitoring_tool",
    "pushover.default.title", "pushover.default.message", "pushover.default.url",
    "sns.default.subject", "sns.default.message", "telegram.default.message",
    "discord.default.title", "discord.default.message", "webex.default.message",
    "email.default.subject",
]

USER_TEMPLATES = [
    '{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}',
    '{{ .CommonLabels.alertname | toUpper }} {{ toLower "MiXeD" }} {{ title "hello wORLD it\'s a-b_c d2e" }}',
    '{{ range .Alerts.Firing }}{{ .Labels.instance }} since {{ .StartsAt }}{{ end }}',
    '{{ range .Alerts }}{{ .StartsAt.Format "2006-01-02T15:04:05Z07:00" }} '
    '{{ .EndsAt.Format "Jan _2 15:04:05.000 MST Mon" }}|{{ end }}',
    '{{ range .Alerts }}{{ .StartsAt.Unix }} {{ .EndsAt.IsZero }} '
    '{{ .StartsAt.Format "3:04PM 06/1/2 .999" }}|{{ end }}',
    '{{ range .Alerts }}{{ .EndsAt.Sub .StartsAt }}|{{ end }}',
    '{{ printf "%s has %d alerts (%q) %v %5.2f|%-6s|%06d|%x|%X|%t|%c|%U|%e|%g" .Receiver (len .Alerts) '
    '.Status .GroupLabels 3.14159 "ab" 42 "hi" 255 true 65 9731 1234.5678 0.000012 }}',
    '{{ printf "%d %s" "x" 3 }}{{ printf "%d" }}{{ printf "%s" "a" "b" }}{{ printf "%!" }}',
    '{{ printf "%v %v %v %v" 1000000.0 123456.0 1e-7 -2.50 }}',
    '{{ printf "%q %v" .CommonLabels.Names .CommonLabels.Values }}',
    '{{ print 1 2 "a" "b" 3 nil }}|{{ println "x" 1 2 }}|{{ print }}',
    '{{ reReplaceAll "(\\\\w+)-(\\\\d)" "${2}_$1" .CommonLabels.instance }} '
    '{{ reReplaceAll ":.*" "" "db-1:9100" }}',
    '{{ reReplaceAll "x*" "-" "abxd" }} {{ reReplaceAll "a(?P<rest>.)" "[$rest$$]" "abacad" }} '
    '{{ reReplaceAll "b" "$1x" "abc" }}',
    '{{ match "^Disk" .CommonLabels.alertname }} {{ match "full$" "disk full\n" }} '
    '{{ match "(?i)DISK" "disk" }}',
    '{{ range .CommonLabels.SortedPairs }}{{ .Name }}={{ .Value }};{{ end }}',
    '{{ range $k, $v := .CommonLabels }}{{ $k }}:{{ $v }} {{ end }}',
    '{{ range $i, $a := .Alerts }}{{ $i }}={{ $a.Fingerprint }} {{ end }}',
    '{{ range .Alerts.Resolved }}R{{ else }}none resolved{{ end }}',
    '{{ with .CommonAnnotations.summary }}S: {{ . }}{{ else }}no summary{{ end }}',
    '{{ if eq .Status "firing" }}F{{ else if eq .Status "resolved" }}R{{ else }}?{{ end }}',
    '{{ if and (gt (len .Alerts) 1) (eq .CommonLabels.severity "critical" "warning") }}many'
    '{{ else }}one{{ end }}',
    '{{ or .CommonAnnotations.missing "default" }} {{ and 1 0 2 }} {{ not .Alerts }} {{ ne 1 2 }} '
    '{{ lt "a" "b" }} {{ le 2 2 }} {{ ge 1.5 2.5 }}',
    '{{ index .CommonLabels "alertname" }} '
    '[{{ index .CommonLabels "nope" }}] {{ (index .Alerts 0).Labels.alertname }} {{ index "abc" 1 }}',
    '{{ slice "abcdef" 1 3 }} {{ len (slice .Alerts 1) }} {{ len "héllo" }}',
    '{{ join ", " (stringSlice "a" "b" "c") }} {{ .GroupLabels.Names | join "+" }}',
    '{{ html "<a href=\\"x\\">&\'</a>" }} {{ js "it\'s <x> \\"q\\" = &" }} {{ urlquery "a b&c/d?é" }}',
    '{{ safeHtml "<b>" }}',
    '{{ $x := 1 }}{{ range .Alerts }}{{ $x = 2 }}{{ end }}{{ $x }} {{ $ := . }}{{ $.Receiver }}',
    '{{ range .Alerts }}{{ if eq .Status "resolved" }}{{ continue }}{{ end }}{{ .Fingerprint }} {{ end }}',
    '{{ range .Alerts }}{{ .Fingerprint }}{{ break }}{{ end }}',
    '  a  {{- " b " -}}  c  \n{{- /* comment */ -}}\n d {{/* another */}}',
    '{{ template "my.title" . }} / {{ template "my.list" . }} / {{ template "__subject" . }}',
    '{{ template "slack.default.title" . }}',
    '{{ template "my.recursive" (stringSlice "a" "b" "c") }}',
    '{{ define "inline" }}inline {{ . }}{{ end }}{{ template "inline" "x" }}',
    '{{ block "blk" .Status }}block: {{ . }}{{ end }}',
    '{{ .CommonLabels.Remove (stringSlice "severity") }} {{ .Alerts.Firing | len }}',
    '{{ . }}',
    '{{ .Alerts }}',
    '{{ .CommonLabels }} {{ .CommonLabels.SortedPairs }} {{ index .Alerts 0 }}',
    '{{ .Nonexistent }}',
    '{{ .CommonLabels.nope.deeper }}',
    '{{ template "undefined.name" . }}',
    '{{ index .Alerts 99 }}',
    '{{ eq 1 "a" }}',
    '{{ len 3 }}',
    '{{ toUpper 3 }}',
    '{{ nosuchfunc . }}',
    '{{ if .Status }}unclosed',
    '{{ .Status',
    '{{ $undefined }}',
    '{{ printf "%s" .Alerts.Nope }}',
    '{{ `raw\\n{{` }} {{ "\\u00e9\\x41\\101\\t" }} {{ \'a\' }} {{ 0x1F }} {{ 1_000 }} {{ -3 }} '
    '{{ 1e3 }} {{ .5 }}',
    '{{ with $x := .CommonLabels.alertname }}{{ $x }}{{ end }}',
    '{{ range $i, $e := stringSlice "a" "b" }}{{ $i }}{{ $e }}{{ end }}',
    '{{ "piped" | printf "%s-%s" "x" }} {{ .Status | printf "%.3s" | toUpper }}',
    '{{ range .Alerts }}{{ .Labels.émoji }}{{ end }} {{ $é := 1 }}{{ $é }}',
    '{{ range .Alerts }}{{ .StartsAt.Format "Mon Jan 2 15:04:05 MST 2006" }} '
    '{{ .StartsAt.Format "02/01/06 03:04:05.000000PM -07:00" }}{{ end }}',
    '{{ range .Alerts }}{{ (.EndsAt.Sub .StartsAt).Minutes }} '
    '{{ .EndsAt.Sub .StartsAt | printf "%v %s" }}|{{ end }}',
    '{{ reReplaceAll "(?m)^" "> " "a\nb" }} {{ reReplaceAll "\\d+$" "N" "x12\n" }} '
    '{{ match "[[:upper:]]+" "ABC" }}',
    '<a href="{{ .ExternalURL }}" title="{{ .Status }}">{{ .CommonAnnotations.description }} + '
    '{{ "a+b" }}</a>',
    'a<!-- {{ .Status }} --> b <!--x-->{{ .Receiver }}<!---->',
]


#: Debian's amtool has no default templates inside; its package ships them here (the
#: Alertmanager 0.25 ``template/default.tmpl`` and ``email.tmpl``), given to it as
#: Alertmanager loads them.
DEBIAN_DEFAULTS = [Path("/usr/share/prometheus/alertmanager/default.tmpl"),
                   Path("/usr/share/prometheus/alertmanager/email.tmpl")]


def _render_amtool(amtool: str, glob: str, text: str, data_file: Path, kind: str) -> str | None:
    defaults = [f"--template.glob={p}" for p in DEBIAN_DEFAULTS if p.exists()]
    proc = subprocess.run(
        [amtool, "template", "render", *defaults, f"--template.glob={glob}", f"--template.text={text}",
         f"--template.data={data_file}", f"--template.type={kind}"],
        capture_output=True, timeout=60, check=False,
    )
    return proc.stdout.decode() if proc.returncode == 0 else None


def _render_tocsin(templates: GoTemplates, text: str, data: dict[str, Any], kind: str) -> str | None:
    try:
        return templates.render(text, from_context(data), html=kind == "html")
    except (ExecError, GoTemplateSyntaxError):
        return None


def _cases() -> list[str]:
    return [f'{{{{ template "{name}" . }}}}' for name in DEFAULT_NAMES] + USER_TEMPLATES


def _compare(amtool: str, tmp_path: Path, user_file: str | None, kind: str) -> list[str]:
    glob = str(tmp_path / "*.tmpl")
    templates = GoTemplates()
    if user_file is not None:
        (tmp_path / "user.tmpl").write_text(user_file)
        templates.add(user_file, "user.tmpl")
    jobs = []
    for name, data in DATASETS.items():
        data_file = tmp_path / f"{name}.json"
        data_file.write_text(json.dumps(data))
        jobs += [(name, data, data_file, text) for text in _cases()]
    with ThreadPoolExecutor(max_workers=2) as pool:
        expected = list(pool.map(lambda j: _render_amtool(amtool, glob, j[3], j[2], kind), jobs))
    failures = []
    for (name, data, _, text), want in zip(jobs, expected, strict=True):
        got = _render_tocsin(templates, text, data, kind)
        if got != want:
            failures.append(f"{name}: {text!r}\n  amtool: {want!r}\n  tocsin: {got!r}")
    return failures


@pytest.mark.parametrize("kind", ["text", "html"])
@pytest.mark.parametrize("with_user_file", [False, True], ids=["defaults", "user-file"])
def test_go_templates_render_what_amtool_renders(tmp_path: Path, with_user_file: bool, kind: str) -> None:
    """``html``: as HTML fields render (``html/template`` in HTML text; attribute values
    are escaped the same way, which holds for these)."""
    amtool = require_amtool()
    failures = _compare(amtool, tmp_path, USER_FILE if with_user_file else None, kind)
    assert not failures, f"{len(failures)} of {len(_cases()) * len(DATASETS)} differ:\n" + "\n".join(failures)


def test_alertmanagers_own_template_files_load_and_render_the_same(tmp_path: Path) -> None:
    """Alertmanager's ``default.tmpl`` and ``email.tmpl`` (Debian ships them) as a
    ``templates:`` file: tocsin parses them, and the HTML mail renders as amtool renders it."""
    amtool = require_amtool()
    shipped = [p for p in DEBIAN_DEFAULTS if p.exists()]
    if len(shipped) < 2:
        pytest.skip("Alertmanager's template files are not installed")
    templates = GoTemplates()
    for path in shipped:
        templates.add(path.read_text(), str(path))
    data_file = tmp_path / "data.json"
    for data in DATASETS.values():
        data_file.write_text(json.dumps(data))
        for kind in ("html", "text"):
            for name in ("email.default.html", "email.default.subject", "opsgenie.default.description"):
                text = f'{{{{ template "{name}" . }}}}'
                want = _render_amtool(amtool, str(tmp_path / "none"), text, data_file, kind)
                assert want is not None
                assert templates.render(text, from_context(data), html=kind == "html") == want, (name, kind)
