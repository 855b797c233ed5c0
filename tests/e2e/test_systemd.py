"""tocsin under systemd: sd_notify as the daemon sends it, the unit file, TLS, graceful stop.

No systemd runs here: a datagram socket the test reads stands in for ``$NOTIFY_SOCKET``;
``systemd-analyze verify`` checks the unit (``apt-get install -y systemd``).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.peers import Daemon, WebhookReceiver, free_port, require_binary, wait_http
from tocsin.testing import wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "tocsin.service"
VENV_TOCSIN = Path(sys.executable).parent / "tocsin"

CONFIG = """
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
        timeout: {timeout}
"""


def alert(name: str) -> dict:
    return {"labels": {"alertname": name, "instance": "db1"}, "annotations": {"summary": name}}


# -- helpers ----------------------------------------------------------------------------------


class NotifySocket:
    """A datagram socket in the role of systemd's notification socket; records what arrives."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tocsin-sd-"))  # short: AF_UNIX paths <= 107 bytes
        self.path = self.dir / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.setblocking(False)
        #: (arrival time, the datagram's lines)
        self.messages: list[tuple[float, list[str]]] = []
        self._arrived = asyncio.Condition()
        self._task = asyncio.get_running_loop().create_task(self._read())
        #: Called with each message as it arrives, before anyone waiting is woken.
        self.on_message: Callable[[list[str]], None] | None = None

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(self.sock, 65536)
            lines = data.decode().split("\n")
            if self.on_message is not None:
                self.on_message(lines)
            async with self._arrived:
                self.messages.append((time.monotonic(), lines))
                self._arrived.notify_all()

    def index(self, line: str, start: int = 0) -> int | None:
        for i in range(start, len(self.messages)):
            if line in self.messages[i][1]:
                return i
        return None

    def count(self, line: str, start: int = 0) -> int:
        return sum(1 for _, lines in self.messages[start:] if line in lines)

    async def wait(self, line: str, start: int = 0, timeout: float = 20.0) -> int:
        """The index of the first message from ``start`` on that has ``line``."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: self.index(line, start) is not None),
                                   timeout)
        found = self.index(line, start)
        assert found is not None
        return found

    async def wait_count(self, line: str, count: int, start: int = 0, timeout: float = 20.0) -> None:
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: self.count(line, start) >= count),
                                   timeout)

    def dump(self) -> str:
        return "\n".join(repr(lines) for _, lines in self.messages if lines != ["WATCHDOG=1"])

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class SystemdDaemon(Daemon):
    """``tocsin serve`` as systemd starts it: extra environment, maybe HTTPS."""

    def __init__(self, config: Path, storage: Path, log: Path, *, env: dict[str, str] | None = None,
                 prefix: list[str] | None = None) -> None:
        super().__init__(config, storage, log)
        self.env = {**os.environ, **(env or {})}
        self.prefix = prefix or [sys.executable]

    def argv(self) -> list[str]:
        return [*self.prefix, "-m", "tocsin", "serve", "--config", str(self.config),
                "--listen", f"127.0.0.1:{self.port}", "--storage", str(self.storage)]

    def spawn(self) -> subprocess.Popen:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT, env=self.env)
        return self.proc

    async def start(self, extra: object = ()) -> None:
        self.spawn()
        await wait_http(f"{self.url}/-/ready", proc=self.proc)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        assert self.proc.poll() is None, self.logs()
        self.proc.send_signal(sig)

    async def exited(self, timeout: float) -> int:
        """Wait for the process to end; its exit status."""
        proc = self.proc
        assert proc is not None
        await wait_until(lambda: proc.poll() is not None, timeout, 0.02,
                         message=lambda: f"the daemon to exit; its log:\n{self.logs()[-3000:]}")
        return proc.returncode


@pytest.fixture
async def notify_socket():
    ns = NotifySocket()
    yield ns
    await ns.close()


@pytest.fixture
def systemd_daemon(tmp_path):
    made: list[SystemdDaemon] = []

    def make(config_text: str, name: str = "tocsin", **kw) -> SystemdDaemon:
        cfg = tmp_path / f"{name}.yml"
        cfg.write_text(config_text)
        d = SystemdDaemon(cfg, tmp_path / "db" / "tocsin.db", tmp_path / f"{name}.log", **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        if d.proc is not None and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait(10)


def names(rx: WebhookReceiver) -> list[str]:
    return [m["groupLabels"]["alertname"] for m in rx.messages]


async def receivers(n: int) -> list[WebhookReceiver]:
    out = [WebhookReceiver() for _ in range(n)]
    for r in out:
        await r.start()
    return out


# -- sd_notify ------------------------------------------------------------------------------------


async def test_ready_watchdog_reload_and_stop_are_notified(systemd_daemon, notify_socket):
    old_rx, new_rx = await receivers(2)
    try:
        d = systemd_daemon(CONFIG.format(url=old_rx.url, timeout="10s"),
                           env={"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "200000"})
        # READY=1 only once the port answers: probe it the moment READY=1 arrives.
        probes: list[asyncio.Task] = []

        async def probe() -> int:
            async with aiohttp.ClientSession() as s, s.get(f"{d.url}/-/ready") as r:
                return r.status

        def on_message(lines: list[str]) -> None:
            if "READY=1" in lines and not probes:
                probes.append(asyncio.get_running_loop().create_task(probe()))

        notify_socket.on_message = on_message
        d.spawn()
        ready = await notify_socket.wait("READY=1")
        assert await probes[0] == 200, "READY=1 came before the listener answered /-/ready with 200"
        assert notify_socket.index("READY=1") == ready
        assert any(line.startswith("STATUS=") and d.url in line for line in notify_socket.messages[ready][1])

        # The watchdog: every 0.1 s (half of WATCHDOG_USEC), so several arrive soon.
        await notify_socket.wait_count("WATCHDOG=1", 5, start=ready, timeout=10)

        # A good reload: RELOADING=1 (with the monotonic clock), then READY=1; the new config routes.
        status, _ = await d.post_alerts([alert("Before")])
        assert status == 200
        await old_rx.wait_for(1)
        await d.wait_log("notification sent")  # recorded: the reload does not send it again
        d.config.write_text(CONFIG.format(url=new_rx.url, timeout="10s"))
        mark = len(notify_socket.messages)
        d.signal(signal.SIGHUP)
        reloading = await notify_socket.wait("RELOADING=1", start=mark)
        assert any(re.fullmatch(r"MONOTONIC_USEC=\d+", line) for line in notify_socket.messages[reloading][1])
        assert await notify_socket.wait("READY=1", start=reloading) > reloading
        status, _ = await d.post_alerts([alert("AfterGoodReload")])
        assert status == 200
        await new_rx.wait_for(1)
        assert names(new_rx) == ["AfterGoodReload"]

        # A broken config: RELOADING=1 then READY=1 all the same, and the running config stays.
        d.config.write_text("route: [this is not: a route\n")
        mark = len(notify_socket.messages)
        d.signal(signal.SIGHUP)
        reloading = await notify_socket.wait("RELOADING=1", start=mark)
        ready_again = await notify_socket.wait("READY=1", start=reloading)
        assert ready_again > reloading
        assert "previous config" in " ".join(notify_socket.messages[ready_again][1])
        await d.wait_log("reload rejected")
        status, _ = await d.post_alerts([alert("AfterBadReload")])
        assert status == 200
        await new_rx.wait_for(2)
        assert names(new_rx) == ["AfterGoodReload", "AfterBadReload"]
        assert names(old_rx) == ["Before"]

        # POST /-/reload is the same reload: notified the same way, 400 for the broken file.
        mark = len(notify_socket.messages)
        async with aiohttp.ClientSession() as s, s.post(f"{d.url}/-/reload") as r:
            assert r.status == 400
        reloading = await notify_socket.wait("RELOADING=1", start=mark)
        assert await notify_socket.wait("READY=1", start=reloading) > reloading
        assert notify_socket.count("STOPPING=1") == 0

        # SIGTERM: STOPPING=1, exit 0.
        mark = len(notify_socket.messages)
        d.signal(signal.SIGTERM)
        await notify_socket.wait("STOPPING=1", start=mark)
        assert await d.exited(timeout=15) == 0, d.logs()
        assert "Traceback" not in d.logs()
    finally:
        for r in (old_rx, new_rx):
            await r.stop()


async def test_no_watchdog_pings_when_the_watchdog_is_meant_for_another_process(
        systemd_daemon, notify_socket):
    d = systemd_daemon(CONFIG.format(url="http://127.0.0.1:9/hook", timeout="1s"),
                       env={"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "100000",
                            "WATCHDOG_PID": "1"})
    d.spawn()
    ready = await notify_socket.wait("READY=1")
    await asyncio.sleep(0.6)  # six intervals
    assert notify_socket.count("WATCHDOG=1") == 0, notify_socket.dump()
    d.signal(signal.SIGTERM)
    await notify_socket.wait("STOPPING=1", start=ready)
    assert await d.exited(timeout=15) == 0


# -- the unit file -----------------------------------------------------------------------------------


def unit_settings(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key, []).append(value)
    return out


def test_the_unit_runs_the_documented_paths():
    s = unit_settings(UNIT.read_text())
    assert s["ExecStart"] == [
        "/opt/tocsin/bin/tocsin serve --config /etc/tocsin/tocsin.yml"
        " --default-storage /var/lib/tocsin/tocsin.db"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["Type"] == ["notify"]
    assert s["WatchdogSec"] == ["30s"]
    assert s["DynamicUser"] == ["yes"]
    assert s["StateDirectory"] == ["tocsin"]
    assert s["ConfigurationDirectory"] == ["tocsin"]
    # Longer than the default server.shutdown_timeout (10s), so a graceful stop is never killed.
    stop = re.fullmatch(r"(\d+)s", s["TimeoutStopSec"][0])
    assert stop
    assert int(stop[1]) > 10
    install = (ROOT / "docs" / "install.md").read_text()
    for path in ("/opt/tocsin", "/etc/tocsin/tocsin.yml", "/var/lib/tocsin/tocsin.db",
                 "/var/lib/private/tocsin"):
        assert path in install, path


def verifiable_copy(tmp_path: Path) -> Path:
    """The unit with its executable paths swapped for ones that exist here."""
    text = UNIT.read_text()
    assert "/opt/tocsin/bin/tocsin " in text
    assert VENV_TOCSIN.exists(), VENV_TOCSIN
    copy = tmp_path / "unit" / "tocsin.service"
    copy.parent.mkdir()
    text = text.replace("ExecStart=/opt/tocsin/bin/tocsin ", f"ExecStart={VENV_TOCSIN} ")
    kill = shutil.which("kill") or "/bin/kill"
    text = text.replace("ExecReload=/bin/kill ", f"ExecReload={kill} ")
    copy.write_text(text)
    return copy


def test_systemd_analyze_verify(tmp_path):
    analyze = require_binary("systemd-analyze")
    copy = verifiable_copy(tmp_path)
    proc = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=120)
    ours = [line for line in (proc.stdout + proc.stderr).splitlines() if "tocsin.service" in line]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ours == []


def test_systemd_analyze_security_rates_the_sandbox_ok(tmp_path):
    analyze = require_binary("systemd-analyze")
    copy = verifiable_copy(tmp_path)
    proc = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(copy)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = re.search(r"Overall exposure level for tocsin\.service: ([0-9.]+)", proc.stdout)
    assert m, proc.stdout
    assert float(m[1]) <= 2.0, proc.stdout


# -- TLS ---------------------------------------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, PEM."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        from cryptography import x509  # type: ignore[import-not-found]
        from cryptography.hazmat.primitives import hashes, serialization  # type: ignore[import-not-found]
        from cryptography.hazmat.primitives.asymmetric import ec  # type: ignore[import-not-found]
        from cryptography.x509.oid import NameOID  # type: ignore[import-not-found]
    except ImportError:
        openssl = require_binary("openssl")
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True, timeout=60,
        )
        return cert, key
    import datetime
    import ipaddress

    pk = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(pk.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(pk, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(pk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    return cert, key


def tls_config(cert: str, key: str) -> str:
    return CONFIG.format(url="http://127.0.0.1:9/hook", timeout="1s") + (
        f"server:\n  tls:\n    cert_file: {cert}\n    key_file: {key}\n")


async def https_get(url: str, cafile: Path) -> tuple[int, str]:
    ctx = ssl.create_default_context(cafile=str(cafile))
    async with aiohttp.ClientSession() as s, s.get(url, ssl=ctx) as r:
        return r.status, await r.text()


async def tls_version(port: int, cafile: Path, maximum: ssl.TLSVersion | None = None) -> str | None:
    ctx = ssl.create_default_context(cafile=str(cafile))
    if maximum is not None:
        ctx.maximum_version = maximum
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    try:
        return writer.get_extra_info("ssl_object").version()
    finally:
        writer.close()
        await writer.wait_closed()


async def wait_https(url: str, cafile: Path, proc: subprocess.Popen, timeout: float = 20) -> None:
    async def ok() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}")
        try:
            status, _ = await https_get(url, cafile)
        except aiohttp.ClientConnectorError:
            return False
        return status == 200

    await wait_until(ok, timeout, 0.05, message=f"{url} to answer 200")


async def test_https_with_server_tls(systemd_daemon, tmp_path):
    cert, key = self_signed(tmp_path)
    # cert_file relative to the config file's directory, key_file absolute.
    d = systemd_daemon(tls_config(cert.name, str(key)))
    proc = d.spawn()
    https = f"https://127.0.0.1:{d.port}"
    await wait_https(f"{https}/-/ready", cert, proc)
    assert await https_get(f"{https}/-/healthy", cert) == (200, "OK")
    assert await tls_version(d.port, cert) in ("TLSv1.2", "TLSv1.3")
    # Plain HTTP on the TLS port is no HTTP answer at all.
    with pytest.raises(aiohttp.ClientError):
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{d.port}/-/healthy",
                                                       timeout=aiohttp.ClientTimeout(total=5)) as r:
            await r.read()
    # A client that offers TLS 1.2 at most gets TLS 1.2.
    assert await tls_version(d.port, cert, maximum=ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    # An alert posted over HTTPS is accepted.
    ctx = ssl.create_default_context(cafile=str(cert))
    async with aiohttp.ClientSession() as s, s.post(f"{https}/api/v2/alerts", json=[alert("Tls")],
                                                    ssl=ctx) as r:
        assert r.status == 200
    d.signal(signal.SIGTERM)
    assert await d.exited(timeout=15) == 0


def test_the_tls_context_refuses_versions_before_1_2(tmp_path):
    from tocsin.config.document import load_config
    from tocsin.daemon.serve import load_plugins, tls_context
    from tocsin.plugins import channel_kinds

    cert, key = self_signed(tmp_path)
    source = tmp_path / "tocsin.yml"
    config = load_config(tls_config(cert.name, key.name), channel_kinds(load_plugins()), source=str(source))
    ctx = tls_context(config)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.protocol == ssl.PROTOCOL_TLS_SERVER


def start_failure(d: SystemdDaemon, timeout: float = 30) -> tuple[int, str]:
    proc = subprocess.run(d.argv(), capture_output=True, text=True, timeout=timeout, env=d.env)
    return proc.returncode, proc.stderr + proc.stdout


@pytest.mark.parametrize("broken", ["missing key", "missing cert", "key of another cert", "not a cert"])
async def test_a_bad_tls_file_is_a_clear_startup_error(systemd_daemon, tmp_path, broken):
    cert, key = self_signed(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, other_key = self_signed(other)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    cert_file, key_file, field, says = {
        "missing key": (cert, tmp_path / "nope.key", "key_file", "cannot read"),
        "missing cert": (tmp_path / "nope.pem", key, "cert_file", "cannot read"),
        "key of another cert": (cert, other_key, "key_file", "not the private key"),
        "not a cert": (garbage, key, "cert_file", "no PEM certificate"),
    }[broken]
    d = systemd_daemon(tls_config(str(cert_file), str(key_file)))
    status, output = start_failure(d)
    assert status != 0, output
    assert f"server.tls.{field}" in output, output
    assert says in output, output
    assert "Traceback" not in output, output
    assert not d.storage.exists(), "the database was opened before the TLS files were checked"


# -- graceful stop ------------------------------------------------------------------------------


class SlowReceiver:
    """A webhook endpoint that takes ``delay`` seconds to answer; records arrivals and answers."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.arrived: list[dict] = []
        self.answered: list[dict] = []
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.arrived.append(body)
        await asyncio.sleep(self.delay)
        self.answered.append(body)
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def wait_arrived(self, count: int, timeout: float = 20) -> None:
        await wait_until(lambda: len(self.arrived) >= count, timeout, 0.02,
                         message=f"{count} request(s) to arrive")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def slow_receiver():
    made: list[SlowReceiver] = []

    async def make(delay: float) -> SlowReceiver:
        r = SlowReceiver(delay)
        await r.start()
        made.append(r)
        return r

    yield make
    for r in made:
        await r.stop()


async def test_sigterm_lets_a_delivery_in_flight_finish(systemd_daemon, slow_receiver):
    rx = await slow_receiver(2.0)
    d = systemd_daemon(CONFIG.format(url=rx.url, timeout="10s"))  # shutdown_timeout: 10s (default)
    await d.start()
    status, _ = await d.post_alerts([alert("SlowDelivery")])
    assert status == 200
    await rx.wait_arrived(1)
    assert rx.answered == []
    d.signal(signal.SIGTERM)
    assert await d.exited(timeout=10 + 10) == 0, d.logs()
    assert len(rx.answered) == 1
    logs = d.logs()
    assert "notification sent" in logs
    assert "given up" not in logs
    assert "Traceback" not in logs

    # The send was recorded before the exit: a restart does not send it again.
    d.port = free_port()
    d.url = f"http://127.0.0.1:{d.port}"
    await d.start()
    await asyncio.sleep(2.5)
    assert len(rx.arrived) == 1
    d.signal(signal.SIGTERM)
    assert await d.exited(timeout=20) == 0


async def test_sigterm_gives_up_a_hanging_delivery_after_shutdown_timeout(systemd_daemon, slow_receiver):
    rx = await slow_receiver(30.0)
    config = CONFIG.format(url=rx.url, timeout="60s") + "server:\n  shutdown_timeout: 1s\n"
    d = systemd_daemon(config)
    await d.start()
    status, _ = await d.post_alerts([alert("Hangs")])
    assert status == 200
    await rx.wait_arrived(1)
    started = time.monotonic()
    d.signal(signal.SIGTERM)
    assert await d.exited(timeout=1 + 6) == 0, d.logs()
    elapsed = time.monotonic() - started
    assert elapsed < 1 + 6
    logs = d.logs()
    assert '"deliveries_given_up":1' in logs, logs
    assert "Traceback" not in logs
    assert rx.answered == []

    # Given up, not forgotten: the next start delivers it again.
    d.port = free_port()
    d.url = f"http://127.0.0.1:{d.port}"
    await d.start()
    await rx.wait_arrived(2)
    d.signal(signal.SIGTERM)
    assert await d.exited(timeout=1 + 6) == 0


REMEDIATION_CONFIG = """
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  routes:
    - matchers: ['alertname="Remediate"']
      receiver: log
      remediations: [slow]
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
        timeout: 60s
  - name: log
    log_configs:
      - level: info
remediations:
  - name: slow
    kind: command
    argv: ["{sleep}", "30"]
    timeout: 60s
server:
  shutdown_timeout: 3s
"""


async def test_shutdown_timeout_is_one_deadline_for_all_work_in_flight(systemd_daemon, slow_receiver):
    """A hanging delivery and a hanging remediation together still get 3s, not 3s each."""
    rx = await slow_receiver(30.0)
    sleep = shutil.which("sleep")
    assert sleep
    d = systemd_daemon(REMEDIATION_CONFIG.format(url=rx.url, sleep=sleep))
    await d.start()
    status, body = await d.post_alerts([alert("Hangs"), alert("Remediate")])
    assert status == 200, body
    await rx.wait_arrived(1)
    await d.wait_log("remediation started")
    started = time.monotonic()
    d.signal(signal.SIGTERM)
    assert await d.exited(timeout=20) == 0, d.logs()
    elapsed = time.monotonic() - started
    assert elapsed < 3 + 2.5, f"stopped after {elapsed:.1f}s"
    logs = d.logs()
    assert '"deliveries_given_up":1' in logs, logs
    assert '"background_given_up":1' in logs, logs


# -- MemoryDenyWriteExecute=yes -----------------------------------------------------------------

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1

# Turns on the kernel's "memory deny write execute" for itself (inherited across exec),
# which refuses what systemd's MemoryDenyWriteExecute=yes refuses, then runs tocsin.
MDWE_WRAPPER = f"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) != 0:
    sys.exit(f"MDWE_UNSUPPORTED {{os.strerror(ctypes.get_errno())}}")
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


def mdwe_supported() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", MDWE_WRAPPER, "-c",
         "import mmap\n"
         "try:\n"
         "    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
         "except OSError:\n"
         "    print('refused')\n"],
        capture_output=True, text=True, timeout=30,
    )
    return probe.returncode == 0 and probe.stdout.strip() == "refused"


async def test_runs_with_memory_deny_write_execute(systemd_daemon, tmp_path, notify_socket):
    if not mdwe_supported():
        pytest.skip("KERNEL LACKS PR_SET_MDWE (Linux >= 6.3): MemoryDenyWriteExecute=yes not exercised")
    [rx] = await receivers(1)
    try:
        cert, key = self_signed(tmp_path)
        config = CONFIG.format(url=rx.url, timeout="10s") + (
            f"server:\n  tls:\n    cert_file: {cert}\n    key_file: {key}\n")
        d = systemd_daemon(config, prefix=[sys.executable, "-c", MDWE_WRAPPER],
                           env={"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "1000000"})
        proc = d.spawn()
        await notify_socket.wait("READY=1")
        https = f"https://127.0.0.1:{d.port}"
        await wait_https(f"{https}/-/ready", cert, proc)
        ctx = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as s, s.post(f"{https}/api/v2/alerts", json=[alert("Mdwe")],
                                                        ssl=ctx) as r:
            assert r.status == 200
        await rx.wait_for(1)
        mark = len(notify_socket.messages)
        d.signal(signal.SIGHUP)
        reloading = await notify_socket.wait("RELOADING=1", start=mark)
        await notify_socket.wait("READY=1", start=reloading)
        d.signal(signal.SIGTERM)
        assert await d.exited(timeout=15) == 0, d.logs()
        assert "Traceback" not in d.logs()
    finally:
        await rx.stop()
