"""Connections that never finish a request (issue 15, item 3), and over-long headers.

Before the fix, sockets that sent ``GET /-/healthy HTTP/1.1\\r\\nHost: x\\r\\n`` and
stopped each held a descriptor for an hour (aiohttp's keep-alive timeout): enough of them
took every descriptor, the health check was refused and deliveries failed with "Too many
open files". The daemons here run with a small ``server.max_connections`` and a low
descriptor limit (``prlimit``, as ``LimitNOFILE=`` would), so the attack is cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from tests.peers import Daemon
from tests.security.probe import HealthProbe
from tocsin.testing import RecordingServer, wait_until

pytestmark = pytest.mark.e2e

CAP = 50
#: The daemon's descriptor limit during the attacks: room for the cap, not for the attack.
NOFILE = 256
#: The start of a request head, never finished.
PARTIAL = b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n"

CONFIG = """
server:
  max_connections: {cap}
  header_timeout: {header}
  idle_timeout: {idle}
{tls}
route:
  receiver: hook
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
"""


class TLSDaemon(Daemon):
    """A daemon with ``server.tls``: ready once it logs that it listens."""

    async def start(self, extra: Sequence[str] = ()) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tocsin", "serve", "--config", str(self.config),
                 "--listen", f"127.0.0.1:{self.port}", "--storage", str(self.storage), *extra],
                stdout=log, stderr=subprocess.STDOUT)
        await wait_until(lambda: '"listening"' in self.logs(), 20, 0.05, message="tocsin to listen")


@contextlib.asynccontextmanager
async def daemon(tmp_path: Path, *, header: str = "2s", idle: str = "30s", tls: str = "",
                 url: str = "http://127.0.0.1:9/hook") -> AsyncIterator[Daemon]:
    """A daemon with the cap at :data:`CAP` and its descriptor limit lowered to :data:`NOFILE`."""
    config = tmp_path / "tocsin.yml"
    config.write_text(CONFIG.format(cap=CAP, header=header, idle=idle, tls=tls, url=url))
    d = (TLSDaemon if tls else Daemon)(config, tmp_path / "tocsin.db", tmp_path / "tocsin.log")
    await d.start()
    assert d.proc is not None
    resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    try:
        yield d
    finally:
        d.stop()


def descriptors(d: Daemon) -> int:
    assert d.proc is not None
    return len(os.listdir(f"/proc/{d.proc.pid}/fd"))


async def metric(url: str, name: str, **labels: str) -> float:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/metrics") as r:
        text = await r.text()
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(rf"^{name}{{{want}}} (\S+)$" if want else rf"^{name} (\S+)$", text, re.M)
    assert m is not None, f"{name}{{{want}}} not in /metrics"
    return float(m[1])


@dataclass
class Stalled:
    """Sockets that send :data:`PARTIAL` (or nothing) and then wait."""

    port: int
    payload: bytes = PARTIAL
    streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)
    refused: int = 0

    async def open(self, count: int, per_second: float) -> None:
        for _ in range(count):
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), 2)
            except (OSError, TimeoutError):
                self.refused += 1
                continue
            writer.write(self.payload)
            self.streams.append((reader, writer))
            await asyncio.sleep(1 / per_second)

    async def closed_within(self, seconds: float) -> int:
        """How many of the sockets the server closes within ``seconds`` from now."""

        async def closed(reader: asyncio.StreamReader) -> bool:
            try:
                return await asyncio.wait_for(reader.read(1), seconds) == b""
            except (ConnectionError, OSError):
                return True
            except TimeoutError:
                return False

        return sum(await asyncio.gather(*(closed(r) for r, _ in self.streams)))

    def close(self) -> None:
        for _, writer in self.streams:
            writer.close()


class FreshProbe(HealthProbe):
    """The health probe with a new connection for every check (a kept-alive one would be
    one of the connections waiting for a request, closed when the cap is reached)."""

    ssl: ssl.SSLContext | bool = True

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(
                force_close=True, ssl=self.ssl)) as s:
            while True:
                t0 = time.perf_counter()
                try:
                    async with s.get(f"{self.url}/-/healthy") as r:
                        await r.read()
                        self.failures += r.status != 200
                except (aiohttp.ClientError, TimeoutError):
                    self.failures += 1
                self.latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(self.interval)


@contextlib.asynccontextmanager
async def fresh_probing(url: str, tls: ssl.SSLContext | None = None) -> AsyncIterator[FreshProbe]:
    probe = FreshProbe(url, interval=0.05)
    if tls is not None:
        probe.ssl = tls
    task = asyncio.create_task(probe.run())
    try:
        yield probe
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def most_descriptors(d: Daemon) -> AsyncIterator[list[int]]:
    """The daemon's open descriptors, sampled every 20 ms; the list holds the most seen."""
    most = [descriptors(d)]

    async def sample() -> None:
        while True:
            most[0] = max(most[0], descriptors(d))
            await asyncio.sleep(0.02)

    task = asyncio.create_task(sample())
    try:
        yield most
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def post_and_deliver(d: Daemon, hook: RecordingServer) -> str:
    """Post an alert and wait for its webhook: ``delivered``, or what went wrong."""
    try:
        status, body = await asyncio.wait_for(d.post_alerts([{"labels": {"alertname": "Under"}}]), 10)
        if status != 200:
            return f"answered {status}: {body}"
        await hook.wait_for(1, timeout=10)  # a descriptor was there for the delivery
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"failed: {exc!r}"
    return "delivered"


async def test_stalled_headers_take_neither_descriptors_nor_health_nor_deliveries(tmp_path):
    hook = RecordingServer()
    await hook.start()
    async with daemon(tmp_path, url=f"{hook.url}/hook") as d:
        before = descriptors(d)
        attack = Stalled(d.port)
        async with most_descriptors(d) as most, fresh_probing(d.url) as probe:
            await attack.open(400, per_second=100)  # 8 times the cap, 1.5 times the limit
            delivered = await post_and_deliver(d, hook)
        print(f"descriptors: {before} before, at most {most[0]} during 400 stalled sockets "
              f"(cap {CAP}, limit {NOFILE}); {probe.summary()}; an alert posted then: {delivered}")
        assert delivered == "delivered"
        assert probe.failures == 0, probe.summary()
        assert probe.quantile(0.99) < 1.0, probe.summary()
        assert most[0] <= before + CAP + 10
        # The ones still open are closed by the header timeout (2 s).
        t0 = time.perf_counter()
        closed = await attack.closed_within(2 + 3)
        print(f"{closed} of {len(attack.streams)} stalled sockets closed by the server, "
              f"the last {time.perf_counter() - t0:.2f} s after the attack")
        assert closed == len(attack.streams)
        evicted = await metric(d.url, "tocsin_http_connections_closed_total", reason="evicted")
        timed_out = await metric(d.url, "tocsin_http_connections_closed_total", reason="header_timeout")
        print(f"closed: {evicted:g} evicted at the cap, {timed_out:g} at the header timeout")
        assert evicted >= 400 - CAP - 5
        assert timed_out >= 1
        assert evicted + timed_out >= 400
        assert await metric(d.url, "tocsin_http_connections_max") == CAP
        attack.close()
    await hook.stop()


async def test_kept_alive_connections_are_closed_when_idle_or_slow(tmp_path):
    async with daemon(tmp_path, header="1s", idle="3s") as d:

        async def request(writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> bytes:
            writer.write(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            await reader.readexactly(int(re.search(rb"Content-Length: (\d+)", head)[1]))  # type: ignore[index]
            return head.split(b"\r\n", 1)[0]

        async def closed_after(reader: asyncio.StreamReader, limit: float) -> float:
            t0 = time.perf_counter()
            with contextlib.suppress(ConnectionError):
                assert await asyncio.wait_for(reader.read(1), limit) == b""
            return time.perf_counter() - t0

        # Idle: a second request 1 s after the first is answered; then nothing, closed at 3 s.
        reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
        assert await request(writer, reader) == b"HTTP/1.1 200 OK"
        await asyncio.sleep(1)
        assert await request(writer, reader) == b"HTTP/1.1 200 OK"
        idle = await closed_after(reader, 3 + 5)
        writer.close()
        # Slow: after an answer, the next head starts at once but never ends: closed 1 s
        # after its first byte, not at the idle timeout.
        reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
        assert await request(writer, reader) == b"HTTP/1.1 200 OK"
        writer.write(PARTIAL)
        slow = await closed_after(reader, 3 + 5)
        writer.close()
        print(f"kept-alive connection closed {idle:.2f} s after its last answer (idle_timeout 3s); "
              f"one with half a head {slow:.2f} s after it (header_timeout 1s)")
        assert 2.5 <= idle <= 5
        assert 0.5 <= slow <= 2.5
        assert await metric(d.url, "tocsin_http_connections_closed_total", reason="idle_timeout") == 1
        assert await metric(d.url, "tocsin_http_connections_closed_total", reason="header_timeout") == 1


async def test_sockets_that_never_start_tls_are_capped_and_closed(tmp_path):
    from tests.e2e.test_systemd import self_signed

    cert, key = self_signed(tmp_path)
    tls = f"  tls: {{cert_file: {cert}, key_file: {key}}}"
    async with daemon(tmp_path, tls=tls) as d:
        before = descriptors(d)
        attack = Stalled(d.port, payload=b"")  # no ClientHello
        context = ssl.create_default_context(cafile=str(cert))
        async with most_descriptors(d) as most, fresh_probing(f"https://127.0.0.1:{d.port}",
                                                             context) as probe:
            await attack.open(300, per_second=100)
        print(f"TLS: descriptors {before} before, at most {most[0]} during 300 silent sockets "
              f"(cap {CAP}); {probe.summary()}")
        assert probe.failures == 0, probe.summary()
        assert most[0] <= before + CAP + 10
        closed = await attack.closed_within(2 + 3)
        assert closed == len(attack.streams)
        attack.close()


async def test_an_over_long_header_is_logged_in_one_line_without_its_text(tmp_path):
    async with daemon(tmp_path) as d:
        reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
        writer.write(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nX-Attack: " + b"MARKER-" * 2000 + b"\r\n\r\n")
        status = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        assert status.startswith(b"HTTP/1.")
        assert b" 400 " in status
        # What the daemon logs about it: one line now; aiohttp's error and traceback before.
        await wait_until(lambda: "malformed request" in d.logs() or "Error handling request" in d.logs(),
                         15, 0.05, message="the daemon to log the refused request")
        await asyncio.sleep(0.2)  # the rest of what it logs about it
        logs = d.logs()
    first = next(logs.find(t) for t in ("malformed request", "Error handling") if t in logs)
    about = logs[logs.rfind("\n", 0, first) + 1:]
    print(f"logged ({len(about.splitlines())} lines, {len(about)} characters): {about[:300]!r}")
    assert "MARKER" not in logs
    assert "Traceback" not in logs
    [line] = [line for line in logs.splitlines() if "malformed request refused" in line]
    assert '"error":"LineTooLong"' in line
    assert '"client":"127.0.0.1"' in line
