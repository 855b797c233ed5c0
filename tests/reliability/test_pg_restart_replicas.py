"""PostgreSQL restarted under load, with two replicas on it (``storage.replicas``).

Two ``tocsin serve`` replicas share a database on a PostgreSQL server of the test's own
(so that restarting it touches no other test), take load posted round-robin
(:mod:`tests.reliability.loadgen`), and route to a local webhook receiver. The server
is stopped (``pg_ctl stop -m fast``: every session ends) for a few seconds, and started
again. Proven:

* while it is down, ingest answers 503 on every replica (never 2xx: nothing can be
  committed), ``/-/ready`` answers 503 and says why, and every read endpoint answers
  200 (from memory) or 503, never 500;
* no replica exits: the leader keeps the lease through the outage (nobody can take it
  through a server that is down) and takes it back, with its epoch, once it is up;
* within 5 s of the server's return, every replica is ready and commits alerts again
  (the recovery time is printed);
* no accepted alert lost: every alert answered 2xx is listed by every replica and was
  notified.

The figures are printed and appended as JSON (key ``"pg_restart_replicas"``) to
``$TOCSIN_RELIABILITY_REPORT`` if set.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.peers import Daemon
from tests.reliability.figures import write_report
from tests.reliability.loadgen import AlertLoad
from tests.reliability.test_chaos_replicas import leader, leads, repeats
from tests.reliability.test_crash import CONFIG as ONE_TOCSIN
from tests.reliability.test_crash import held, wait_notified
from tocsin.testing.postgres import PostgresServer

pytestmark = pytest.mark.e2e

#: Seconds the server stays down.
DOWN = 3.0
#: Seconds after the server's return within which everything must have resumed.
RESUME_LIMIT = 5.0

CONFIG = ONE_TOCSIN + "storage:\n  replicas: true\n"

#: Read endpoints: each answers from memory or says the database is down, never 500.
READS = ["/api/v2/alerts", "/api/v2/alerts/groups", "/api/v2/silences", "/api/v2/status",
         "/api/v2/receivers", "/metrics", "/api/tocsin/v1/stats", "/api/tocsin/v1/alerts",
         "/api/tocsin/v1/alerts/{fp}", "/api/tocsin/v1/alerts/{fp}/history",
         "/api/tocsin/v1/escalations", "/api/tocsin/v1/remediations", "/api/tocsin/v1/heartbeats",
         "/api/tocsin/v1/dead-letters", "/api/tocsin/v1/notifications/attempts"]


@pytest.fixture
def own_postgres():
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(url, timeout=aiohttp.ClientTimeout(total=10)) as r:
        return r.status, await r.text()


async def post_one(url: str, n: str) -> int:
    alert = [{"labels": {"alertname": "Probe", "n": n, "job": "probe"}}]
    async with aiohttp.ClientSession() as s, s.post(f"{url}/api/v2/alerts", json=alert,
                                                    timeout=aiohttp.ClientTimeout(total=10)) as r:
        return r.status


async def resumed(d: Daemon, n: str) -> bool:
    """Whether ``d`` is ready and commits an alert (``n``) again."""
    status, _ = await get(f"{d.url}/-/ready")
    return status == 200 and await post_one(d.url, n) == 200


async def test_postgresql_restarted_under_load(tmp_path, own_postgres, receiver):
    url = own_postgres.create_database()
    replicas = []
    for n in range(2):
        cfg = tmp_path / f"tocsin{n}.yml"
        cfg.write_text(CONFIG.format(url=receiver.url))
        replicas.append(Daemon(cfg, url, tmp_path / f"tocsin{n}.log"))
    try:
        for d in replicas:
            await d.start()
        first, _ = await leader(replicas, 15.0)
        epoch_line = [line for line in (await get(f"{first.url}/metrics"))[1].splitlines()
                      if line.startswith("tocsin_leader_epoch ")]
        load = AlertLoad([d.url for d in replicas], tag="pg", groups=8, workers=2, batch=2, pause=0.05)
        load.start()
        try:
            await asyncio.sleep(1.5)
            fp = (await replicas[1].get_alerts())[0]["fingerprint"]
            own_postgres.pause("fast")
            down_at = time.monotonic()
            await asyncio.sleep(0.2)  # answers to what was committed before the stop are in
            accepted_before = len(load.figures.accepted)
            await asyncio.sleep(0.8)  # every replica has noticed (probes every second)
            during = {}
            for d in replicas:
                status, why = await get(f"{d.url}/-/ready")
                assert status == 503, why
                assert "cannot be reached" in why, why
                assert await post_one(d.url, f"down-{d.port}") == 503
                during[d.url] = {path: (await get(d.url + path.format(fp=fp)))[0] for path in READS}
            accepted_during = len(load.figures.accepted) - accepted_before
            await asyncio.sleep(max(0.0, DOWN - (time.monotonic() - down_at)))
            own_postgres.resume()
            up_at = time.monotonic()
            down_for = up_at - down_at
            recovery = {}
            for i, d in enumerate(replicas):
                while not await resumed(d, f"up-{i}-{time.monotonic()}"):
                    assert time.monotonic() - up_at < RESUME_LIMIT + 5, d.logs()[-3000:]
                    await asyncio.sleep(0.05)
                recovery[d.url] = round(time.monotonic() - up_at, 3)
            await asyncio.sleep(1.5)
        finally:
            await load.stop()
        accepted = set(load.figures.accepted)
        never = await wait_notified(receiver, accepted, 15.0)
        lost = set().union(*[accepted - await held(d) for d in replicas])
        exited = [d.proc.returncode for d in replicas if d.proc is not None and d.proc.poll() is not None]
        still = [await leads(d.url) for d in replicas]
        epoch_after = [line for line in (await get(f"{first.url}/metrics"))[1].splitlines()
                       if line.startswith("tocsin_leader_epoch ")]
        figures = {"down_s": round(down_for, 2), "recovery_s": recovery,
                   "recovery_max_s": max(recovery.values()), "accepted": len(accepted),
                   "accepted_while_down": accepted_during, "refused": load.figures.refused,
                   "statuses": load.figures.statuses, "lost": len(lost), "never_notified": len(never),
                   "repeats": len(repeats(receiver)), "exited": exited,
                   "leader_kept": still == [d is first for d in replicas] and epoch_after == epoch_line}
        print(f"\nPostgreSQL restarted under load, 2 replicas: {figures}")
        for d, reads in during.items():
            print(f"  reads on {d} while down: {reads}")
        write_report("pg_restart_replicas", figures)
        for reads in during.values():
            assert all(status in (200, 503) for status in reads.values()), reads
        assert accepted_during == 0
        assert set(load.figures.statuses) <= {503}
        assert exited == []
        assert figures["leader_kept"], (still, epoch_line, epoch_after)
        assert figures["recovery_max_s"] < RESUME_LIMIT
        assert not lost, sorted(lost)[:10]
        assert not never, sorted(never)[:10]
    finally:
        for d in replicas:
            d.stop()
