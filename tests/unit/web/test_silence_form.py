"""The bare silence form at /api/tocsin/v1/silences/new, kept for links made before the
dashboard (which now answers ``/``; its own tests are under tests/unit/web/dashboard)."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

from tests.unit.web.test_api import api
from tocsin.channels.slack.render import silence_url


async def test_the_slack_silence_links_query_on_the_bare_form_creates_the_silence(tmp_path):
    labels = {"alertname": "DiskFull", "instance": 'db "1"'}
    link = silence_url("http://tocsin.example", labels)
    async with api(tmp_path) as (client, rt):
        # The Slack link's fragment query, on the form's path.
        fragment_query = urlsplit(link).fragment.split("?", 1)[1]
        form = await client.get(f"/api/tocsin/v1/silences/new?{fragment_query}")
        assert form.status == 200
        text = await form.text()
        assert "alertname=&quot;DiskFull&quot;" in text
        assert 'instance=&quot;db \\&quot;1\\&quot;&quot;' in text
        assert 'name="duration" value="1h"' in text
        assert len(rt.silences) == 0  # opening the link silences nothing

        fields = re.findall(r'<input type="hidden" name="filter" value="([^"]*)">', text)
        body = [("filter", html.unescape(f)) for f in fields]
        body += [("duration", "1h"), ("who", "alice"), ("comment", "disk being resized")]
        done = await client.post("/api/tocsin/v1/silences/new", data=body)
        assert done.status == 200, await done.text()
        [sil] = rt.silences.query([], rt.clock.now())
        assert {(m.name, m.value, m.is_regex, m.is_equal) for m in sil.matchers} == {
            ("alertname", "DiskFull", False, True), ("instance", 'db "1"', False, True)}
        assert sil.ends_at - sil.starts_at == 3600
        assert sil.created_by == "alice"
        assert sil.comment == "disk being resized"
        assert sil.id in await done.text()


async def test_bad_links_and_forms_say_why(tmp_path):
    async with api(tmp_path) as (client, rt):
        for query in ("", "filter=%7Bnope%7D"):
            resp = await client.get(f"/api/tocsin/v1/silences/new?{query}")
            assert resp.status == 400
            assert "Cannot silence" in await resp.text()
        resp = await client.post("/api/tocsin/v1/silences/new",
                                 data={"filter": 'a="b"', "duration": "forever", "who": "x", "comment": "y"})
        assert resp.status == 400
        assert "invalid duration" in await resp.text()
        resp = await client.post("/api/tocsin/v1/silences/new",
                                 data={"filter": 'a=~".*"', "duration": "1h", "who": "x", "comment": "y"})
        assert resp.status == 400
        assert "must not match the empty string" in await resp.text()
        assert len(rt.silences) == 0
