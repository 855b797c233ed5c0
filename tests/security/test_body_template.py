"""A label that closes its JSON string must not add keys to a webhook body (issue 15, item 7).

``body_template: '{"t": "{{ commonLabels.x }}"}'`` with the label
``a", "injected": "yes`` sent ``{"t": "a", "injected": "yes"}``: whoever sets
a label (any alert source) wrote fields of the receiver's JSON. A daemon
process gets that alert; the webhook channel's body and the webhook
remediation's body must parse, keep the label whole, and have no other key.
"""

from __future__ import annotations

import aiohttp
import pytest

from tocsin.testing import RecordingServer, serving

pytestmark = pytest.mark.e2e

INJECTION = 'a", "injected": "yes'

CONFIG = """
route:
  receiver: r
  group_wait: 0s
  remediations: [fix]
receivers:
- name: r
  webhook_configs:
  - url: {url}/hook
    body_template: '{{"t": "{{{{ commonLabels.x }}}}", "n": {{{{ alerts | length }}}}}}'
remediations:
- name: fix
  kind: webhook
  url: {url}/fix
  body_template: '{{"t": "{{{{ labels.x }}}}", "alert": {{{{ alertname | tojson }}}}}}'
"""


async def test_a_label_cannot_add_keys_to_a_json_body(tmp_path):
    server = RecordingServer()
    url = await server.start()
    try:
        async with serving(CONFIG.format(url=url), tmp_path) as daemon:
            alert = {"labels": {"alertname": "Injected", "x": INJECTION}}
            async with aiohttp.ClientSession() as s, s.post(f"{daemon}/api/v2/alerts", json=[alert]) as r:
                assert r.status == 200, await r.text()
            requests = await server.wait_for(2, timeout=20)
    finally:
        await server.stop()
    bodies = {req.path: req.json() for req in requests}
    print(bodies)
    assert bodies["/hook"] == {"t": INJECTION, "n": 1}
    assert bodies["/fix"] == {"t": INJECTION, "alert": "Injected"}
