"""The ``webhook`` kind never builds its URL from alert data: ``url`` is not a template,
and one written as if it were is refused when the config loads (it would be sent with
its braces, to a URL nobody meant)."""

from __future__ import annotations

import pytest

from tests.unit.remediation.kinds.helpers import alert_data, load, problems


@pytest.mark.parametrize("url", ["https://ops.example.com/{{ labels.path }}",
                                 "https://{{ labels.host }}/hook",
                                 "https://ops.example.com/h?x={% if 1 %}1{% endif %}"])
def test_a_url_written_as_a_template_is_refused_at_load(url):
    found = problems(f"""
        - name: fix
          kind: webhook
          url: "{url}"
        """)
    assert list(found) == ["remediations[0].url"]
    assert found["remediations[0].url"].startswith("is not a template")
    assert "example.com" not in found["remediations[0].url"]  # a URL may hold a token: not echoed


def test_labels_never_reach_the_url():
    spec = load("""
        - name: fix
          kind: webhook
          url: https://ops.example.com/hooks/scale
          headers: {X-Instance: "{{ labels.instance }}"}
        """)
    rendered = spec.remediation.render(alert_data(instance="evil.example.org@x#?/../"))
    assert rendered.detail["url"] == "https://ops.example.com/<redacted>"
    assert spec.remediation.url() == "https://ops.example.com/hooks/scale"
