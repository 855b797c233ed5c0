"""The status page: version, uptime, readiness, the last reload, plugins, storage with its
URL's password masked, and on PostgreSQL replicas the cluster."""

from __future__ import annotations

from tests.unit.web.dashboard.pagetext import elements
from tests.unit.web.tokens import TOKEN_AUTH, TOKENS
from tocsin import __version__
from tocsin.core.clock import FakeClock
from tocsin.store.factory import make_store
from tocsin.store.sqlite import SQLiteStore
from tocsin.testing import api_client, make_config, wait_until

T0 = 1_700_000_000.0
CONFIG = "route: {receiver: team}\nreceivers: [{name: team}]\n"


def facts(html: str) -> dict[str, str]:
    """The page's facts, term -> description (whitespace squeezed)."""
    out: dict[str, str] = {}
    term = ""
    for e in elements(html):
        if e.tag == "dt":
            term = " ".join(e.text.split())
        elif e.tag == "dd" and term:
            out.setdefault(term, " ".join(e.text.split()))
    return out


async def test_status_page_shows_version_uptime_reload_plugins_and_storage(tmp_path):
    clock = FakeClock(T0)
    async with api_client(CONFIG, tmp_path, clock=clock) as (client, rt):
        clock.advance(3 * 3600 + 125)
        resp = await client.get("/status")
        assert resp.status == 200
        html = await resp.text()
        plugin_names = sorted(i.name for i in rt.hooks.infos)
    shown = facts(html)
    assert shown["Version"].startswith(f"tocsin {__version__} (Alertmanager API 0.25.0")
    assert shown["Up"].startswith("3h 02m (since 2023-11-14 22:13:20 UTC)")
    assert shown["Ready"] == "ready"
    assert shown["Config"].startswith("loaded")
    assert shown["Backend"] == "sqlite"
    assert shown["File"] == "var/tocsin.db"  # the config's (this test's store is elsewhere)
    rows = next(e for e in elements(html) if e.tag == "table" and "plugins" in e.classes)
    names = [tr.children[0].text for tr in rows.children[1].children]
    assert names == plugin_names
    assert "route" in names
    assert "Cluster" not in html  # one tocsin: no cluster section


async def test_status_page_masks_the_storage_urls_password(tmp_path):
    config = CONFIG + ("storage:\n  url: postgresql://tocsin:hunter2@db.example:5432/tocsin"
                       "?sslmode=require&password=s3cond\n")
    async with api_client(config, tmp_path, store=SQLiteStore(tmp_path / "x.db")) as (client, _rt):
        html = await (await client.get("/status")).text()
    shown = facts(html)
    assert shown["Backend"] == "postgresql"
    assert "hunter2" not in html
    assert "s3cond" not in html
    assert shown["URL"].startswith("postgresql://tocsin:***@db.example:5432/tocsin?sslmode=require")
    assert shown["Replicas"] == "off"


async def test_status_page_shows_the_cluster_of_postgresql_replicas(tmp_path, tocsin_postgres_url):
    config = CONFIG + f"storage:\n  url: {tocsin_postgres_url}\n  replicas: true\n"
    store = make_store(make_config(config).storage)
    async with api_client(config, tmp_path, store=store) as (client, rt):
        await wait_until(lambda: rt.leading, timeout=15)
        html = await (await client.get("/status")).text()
    assert "<h2>Cluster</h2>" in html
    [leader] = [e.text for e in elements(html) if "cluster-leader" in e.classes]
    assert leader == rt.leadership.lease.name
    assert "(leading)" in html


async def test_status_page_needs_the_read_role(tmp_path):
    async with api_client(TOKEN_AUTH, tmp_path) as (client, _rt):
        assert (await client.get("/status", allow_redirects=False)).status in (303, 401)
        ok = await client.get("/status", headers={"Authorization": f"Bearer {TOKENS['read']}"})
        assert ok.status == 200
