from __future__ import annotations

import pytest

from tests.peers import Daemon, WebhookReceiver


@pytest.fixture
async def receiver():
    r = WebhookReceiver()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
def make_daemon(tmp_path):
    daemons: list[Daemon] = []

    def make(config_text: str) -> Daemon:
        cfg = tmp_path / "tocsin.yml"
        cfg.write_text(config_text)
        d = Daemon(cfg, tmp_path / "db" / "tocsin.db", tmp_path / "tocsin.log")
        daemons.append(d)
        return d

    yield make
    for d in daemons:
        d.stop()
