"""The email channel against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tocsin.config import ConfigError
from tocsin.events import NotificationFailed
from tocsin.testing import advance, make_config, post, running
from tocsin.timefmt import format_ts


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    def __init__(self, answer: str = "250 OK") -> None:
        self.messages: list[tuple[str, list[str], Message]] = []
        self.answer = answer

    async def handle_DATA(self, server, session, envelope):
        if self.answer.startswith("250"):
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                  email.message_from_bytes(envelope.original_content)))
        return self.answer


@pytest.fixture
def smtp():
    started = []

    def start(inbox: Inbox, **kwargs) -> int:
        port = free_port()
        c = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
        c.start()
        started.append(c)
        return port

    yield start
    for c in started:
        c.stop()


def config(port: int, extra: str = "", global_: str = "") -> str:
    return f"""
global:
  smtp_from: tocsin@example.org
  smtp_require_tls: false
{global_}
route: {{receiver: mail, group_by: [alertname], group_wait: 1s, group_interval: 1m}}
receivers:
  - name: mail
    email_configs:
      - to: oncall@example.org
        smarthost: 127.0.0.1:{port}
{extra}
"""


class Failures:
    def __init__(self) -> None:
        self.events: list[NotificationFailed] = []

    from tocsin import hookimpl

    @hookimpl
    def tocsin_observe(self, runtime, event):
        if isinstance(event, NotificationFailed):
            self.events.append(event)


def parts(msg: Message) -> dict[str, str]:
    assert msg.get_content_type() == "multipart/alternative"
    return {p.get_content_type(): p.get_payload(decode=True).decode() for p in msg.get_payload()}


async def test_firing_email_is_multipart_with_headers(tmp_path, smtp):
    inbox = Inbox()
    port = smtp(inbox)
    extra = "        headers: {X-Team: '{{ receiver }}-team'}"
    async with running(config(port, extra), tmp_path) as rt:
        await post(rt, {"labels": {"alertname": "DiskFull", "instance": "db1", "team": "<ops>"},
                        "annotations": {"summary": "disk <b>full</b>"},
                        "generatorURL": "http://prometheus.example/graph"})
        await advance(rt, 1)
    [(sender, rcpts, msg)] = inbox.messages
    assert sender == "tocsin@example.org" and rcpts == ["oncall@example.org"]
    assert msg["Subject"] == "[FIRING:1] DiskFull (db1 <ops>)"
    assert msg["From"] == "tocsin@example.org" and msg["To"] == "oncall@example.org"
    assert msg["X-Team"] == "mail-team"
    assert msg["Message-Id"] and msg["Date"]
    p = parts(msg)
    assert set(p) == {"text/plain", "text/html"}
    assert "[FIRING] DiskFull" in p["text/plain"] and "team = <ops>" in p["text/plain"]
    assert "summary: disk <b>full</b>" in p["text/plain"]
    assert "&lt;ops&gt;" in p["text/html"] and "<ops>" not in p["text/html"]
    assert 'href="http://prometheus.example/graph"' in p["text/html"]


async def test_resolved_only_with_send_resolved(tmp_path, smtp):
    for send_resolved, expected in ((False, 1), (True, 2)):
        inbox = Inbox()
        port = smtp(inbox)
        extra = f"        send_resolved: {str(send_resolved).lower()}"
        async with running(config(port, extra), tmp_path, db_name=f"{send_resolved}.db") as rt:
            await post(rt, {"labels": {"alertname": "X"}})
            await advance(rt, 1)
            now = rt.clock.now()
            await post(rt, {"labels": {"alertname": "X"}, "endsAt": format_ts(now)})
            await advance(rt, 60)
        assert len(inbox.messages) == expected
        if expected == 2:
            assert inbox.messages[1][2]["Subject"] == "[RESOLVED] X"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_auth_with_password_file(tmp_path, smtp):
    seen = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            b"bot", b"s3cret")
        seen.append(ok)
        return AuthResult(success=ok)

    inbox = Inbox()
    port = smtp(inbox, authenticator=authenticator, auth_require_tls=False, auth_required=True)
    (tmp_path / "pw").write_text("s3cret\n")
    extra = f"        auth_username: bot\n        auth_password_file: {tmp_path / 'pw'}"
    async with running(config(port, extra), tmp_path) as rt:
        await post(rt, {"labels": {"alertname": "X"}})
        await advance(rt, 1)
    assert seen == [True] and len(inbox.messages) == 1


async def test_permanent_5xx_is_not_retried_and_4xx_is(tmp_path, smtp):
    for answer, retried in (("550 mailbox unavailable", False), ("451 try later", True)):
        inbox = Inbox(answer)
        port = smtp(inbox)
        failures = Failures()
        async with running(config(port), tmp_path, plugins=[failures], db_name=f"{answer[:3]}.db") as rt:
            delays: list[float] = []

            async def fake_sleep(d: float, delays: list[float] = delays) -> None:
                delays.append(d)
                rt.clock.advance(d)

            rt.delivery.sleep = fake_sleep
            await post(rt, {"labels": {"alertname": "X"}})
            await advance(rt, 1)
        [failed] = failures.events
        assert answer[:3] in failed.error
        assert (failed.attempts > 1) is retried and bool(delays) is retried


async def test_require_tls_without_starttls_fails_permanently(tmp_path, smtp):
    port = smtp(Inbox())
    failures = Failures()
    async with running(config(port, "        require_tls: true"), tmp_path, plugins=[failures]) as rt:
        await post(rt, {"labels": {"alertname": "X"}})
        await advance(rt, 1)
    [failed] = failures.events
    assert failed.attempts == 1 and "STARTTLS" in failed.error.upper()


async def test_broken_template_falls_back_and_still_sends(tmp_path, smtp):
    inbox = Inbox()
    port = smtp(inbox)
    async with running(config(port, "        text: '{{ 1 / 0 }}'"), tmp_path) as rt:
        await post(rt, {"labels": {"alertname": "X"}})
        await advance(rt, 1)
    assert parts(inbox.messages[0][2])["text/plain"].strip() == "[FIRING:1] X (mail)"


def test_config_errors_name_the_field():
    base = "route: {receiver: m}\nreceivers:\n  - name: m\n    email_configs:\n"
    with pytest.raises(ConfigError) as err:
        make_config(base + "      - {to: not an address, smarthost: nohost}\n")
    assert {p.path for p in err.value.problems} >= {
        "receivers[0].email_configs[0].to"} or {p.path for p in err.value.problems} >= {
        "receivers[0].email_configs[0].smarthost"}
    with pytest.raises(ConfigError) as err:
        make_config(base + "      - {to: a@example.org}\n")
    assert {p.path for p in err.value.problems} == {
        "receivers[0].email_configs[0].smarthost", "receivers[0].email_configs[0].from"}
    # Globals satisfy both.
    make_config("global: {smtp_smarthost: 'localhost:25', smtp_from: a@b.c}\n" + base
                + "      - {to: a@example.org}\n")


async def test_starttls_with_a_verified_certificate(tmp_path, smtp):
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("MISSING openssl: cannot make a certificate for the STARTTLS test")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    inbox = Inbox()
    port = smtp(inbox, tls_context=server_tls, require_starttls=True)
    extra = f"        require_tls: true\n        tls_config: {{ca_file: {cert}}}"
    async with running(config(port, extra), tmp_path) as rt:
        await post(rt, {"labels": {"alertname": "Secure"}})
        await advance(rt, 1)
    [(_, _, msg)] = inbox.messages
    assert msg["Subject"] == "[FIRING:1] Secure"
    # Without trusting the certificate, the same server is refused.
    failures = Failures()
    async with running(config(port, "        require_tls: true"), tmp_path, plugins=[failures],
                       db_name="untrusted.db") as rt:
        rt.delivery.sleep = _no_sleep(rt)
        await post(rt, {"labels": {"alertname": "Secure"}})
        await advance(rt, 1)
    assert len(inbox.messages) == 1 and failures.events
    assert "CERTIFICATE" in failures.events[0].error.upper()


def _no_sleep(rt):
    async def sleep(d: float) -> None:
        rt.clock.advance(d)
    return sleep
