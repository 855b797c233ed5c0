"""The template names Alertmanager 0.25 defines for every config
(``slack.default.title``, ``__subject``, ``opsgenie.default.description``...),
written for tocsin so that each renders what Alertmanager's renders, byte for byte
(``tests/conformance/test_go_templates_amtool.py`` compares them with
``amtool template render``).

As in Alertmanager, a ``templates:`` file may define any of these names again, and
the defaults that call it then use the new definition.

``email.default.html`` is tocsin's own HTML mail (see the email channel), not
Alertmanager's page.
"""

from __future__ import annotations

__all__ = ["SOURCE"]

# Shared parts. The firing and resolved lists come in two layouts: "tight" (OpsGenie,
# VictorOps, WeChat: no blank line around a list) and "spaced" (the others).
_COMMON = r"""
{{- define "__alertmanager" }}Alertmanager{{ end }}
{{- define "__alertmanagerURL" }}{{ .ExternalURL }}/#/alerts?receiver={{ urlquery .Receiver }}{{ end }}
{{- define "__subject" -}}
[{{ toUpper .Status }}{{ if eq .Status "firing" }}:{{ len .Alerts.Firing }}{{ end }}]
{{- " " }}{{ join " " .GroupLabels.SortedPairs.Values }}{{ " " }}
{{- if gt (len .CommonLabels) (len .GroupLabels) -}}
  ({{ with .CommonLabels.Remove .GroupLabels.Names }}{{ join " " .Values }}{{ end }})
{{- end }}
{{- end }}
{{- define "__description" }}{{ end }}
{{- define "__text_alert_list" }}
  {{- range $alert := . }}Labels:{{ "\n" }}
    {{- range $alert.Labels.SortedPairs }} - {{ .Name }} = {{ .Value }}{{ "\n" }}{{ end -}}
    Annotations:{{ "\n" }}
    {{- range $alert.Annotations.SortedPairs }} - {{ .Name }} = {{ .Value }}{{ "\n" }}{{ end -}}
    Source: {{ $alert.GeneratorURL }}{{ "\n" }}
  {{- end }}
{{- end }}
{{- define "__tocsin_annotation_values" }}{{ join " " .CommonAnnotations.SortedPairs.Values }}{{ end }}
{{- define "__tocsin_lists_tight" }}
  {{- with .Alerts.Firing }}Alerts Firing:{{ "\n" }}{{ template "__text_alert_list" . }}{{ end }}{{ "\n" }}
  {{- with .Alerts.Resolved }}Alerts Resolved:{{ "\n" }}{{ template "__text_alert_list" . }}{{ end }}
{{- end }}
{{- define "__tocsin_lists_spaced" }}
  {{- with .Alerts.Firing }}{{ "\n" }}Alerts Firing:{{ "\n" }}
    {{- template "__text_alert_list" . }}{{ "\n" }}{{ end }}
  {{- "\n" }}
  {{- with .Alerts.Resolved }}{{ "\n" }}Alerts Resolved:{{ "\n" }}
    {{- template "__text_alert_list" . }}{{ "\n" }}{{ end }}
  {{- "\n" }}
{{- end }}
"""

_SLACK = r"""
{{- define "slack.default.title" }}{{ template "__subject" . }}{{ end }}
{{- define "slack.default.username" }}{{ template "__alertmanager" . }}{{ end }}
{{- define "slack.default.fallback" -}}
  {{ template "slack.default.title" . }} | {{ template "slack.default.titlelink" . }}
{{- end }}
{{- define "slack.default.callbackid" }}{{ end }}
{{- define "slack.default.pretext" }}{{ end }}
{{- define "slack.default.titlelink" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{- define "slack.default.iconemoji" }}{{ end }}
{{- define "slack.default.iconurl" }}{{ end }}
{{- define "slack.default.text" }}{{ end }}
{{- define "slack.default.footer" }}{{ end }}
"""

_PAGING = r"""
{{- define "pagerduty.default.description" }}{{ template "__subject" . }}{{ end }}
{{- define "pagerduty.default.client" }}{{ template "__alertmanager" . }}{{ end }}
{{- define "pagerduty.default.clientURL" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{- define "pagerduty.default.instances" }}{{ template "__text_alert_list" . }}{{ end }}
{{- define "opsgenie.default.message" }}{{ template "__subject" . }}{{ end }}
{{- define "opsgenie.default.description" -}}
  {{ template "__tocsin_annotation_values" . }}{{ "\n" }}{{ template "__tocsin_lists_tight" . }}
{{- end }}
{{- define "opsgenie.default.source" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{- define "victorops.default.state_message" -}}
  {{ template "__tocsin_annotation_values" . }}{{ "\n" }}{{ template "__tocsin_lists_tight" . }}
{{- end }}
{{- define "victorops.default.entity_display_name" }}{{ template "__subject" . }}{{ end }}
{{- define "victorops.default.monitoring_tool" }}{{ template "__alertmanager" . }}{{ end }}
{{- define "pushover.default.title" }}{{ template "__subject" . }}{{ end }}
{{- define "pushover.default.message" -}}
  {{ template "__tocsin_annotation_values" . }}{{ "\n" }}{{ template "__tocsin_lists_spaced" . }}
{{- end }}
{{- define "pushover.default.url" }}{{ template "__alertmanagerURL" . }}{{ end }}
"""

_CHAT = r"""
{{- define "wechat.default.message" -}}
  {{ template "__subject" . }}{{ "\n" }}
  {{- template "__tocsin_annotation_values" . }}{{ "\n" }}
  {{- template "__tocsin_lists_tight" . }}{{ "\n" -}}
  AlertmanagerUrl:{{ "\n" }}{{ template "__alertmanagerURL" . }}
{{- end }}
{{- define "wechat.default.to_user" }}{{ end }}
{{- define "wechat.default.to_party" }}{{ end }}
{{- define "wechat.default.to_tag" }}{{ end }}
{{- define "wechat.default.agent_id" }}{{ end }}
{{- define "sns.default.subject" }}{{ template "__subject" . }}{{ end }}
{{- define "sns.default.message" -}}
  {{ template "__tocsin_annotation_values" . }}{{ "\n" }}{{ template "__tocsin_lists_spaced" . }}
{{- end }}
{{- define "telegram.default.message" }}{{ "\n" }}{{ template "__tocsin_lists_spaced" . }}{{ end }}
{{- define "discord.default.title" }}{{ template "__subject" . }}{{ end }}
{{- define "discord.default.message" }}{{ "\n" }}{{ template "__tocsin_lists_spaced" . }}{{ end }}
{{- define "webex.default.message" -}}
  {{ template "__tocsin_annotation_values" . }}{{ "\n" }}{{ template "__tocsin_lists_spaced" . }}
{{- end }}
{{- define "email.default.subject" }}{{ template "__subject" . }}{{ end }}
"""

#: Every default definition, as one Go template source.
SOURCE = _COMMON + _SLACK + _PAGING + _CHAT
