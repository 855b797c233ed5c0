"""The email channel against a real SMTP server (aiosmtpd) on 127.0.0.1.

Every test delivers through a real runtime on a fake clock; retries use a fake
sleep that only moves that clock. TLS tests make their own self-signed
certificates with the ``openssl`` command (``cryptography`` is not a
dependency) and are skipped, saying so, where it is missing.
"""

from __future__ import annotations

import base64
import email
import email.policy
import shutil
import socket
import ssl
import subprocess
import threading
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tocsin import hookimpl
from tocsin.channels import ChannelContext, DeliveryError
from tocsin.channels.email import EmailChannel, EmailConfig
from tocsin.config.document import ConfigError, GlobalConfig
from tocsin.core.events import NotificationFailed
from tocsin.core.models import Alert, Notification
from tocsin.core.timefmt import format_ts
from tocsin.testing import advance, instant_retries, make_config, post, running

# -- an SMTP server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """An aiosmtpd handler keeping what it accepts; ``answer`` is its reply to DATA,
    ``refuse`` maps recipients to a reply to their RCPT."""

    def __init__(self, answer: str = "250 OK", refuse: dict[str, str] | None = None) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.answer = answer
        self.refuse = refuse or {}
        self.tls: list[bool] = []
        self.data_calls = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        self.tls.append(server.transport.get_extra_info("ssl_object") is not None)
        if self.answer.startswith("250"):
            msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return self.answer


@pytest.fixture
def smtp():
    started: list[Controller] = []

    def start(inbox: Inbox, port: int | None = None, **kwargs) -> int:
        port = port or free_port()
        c = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
        c.start()
        started.append(c)
        return port

    yield start
    for c in started:
        c.stop()


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Self-signed certificates: ``ip`` for 127.0.0.1, ``name`` for mail.test only."""
    if shutil.which("openssl") is None:
        pytest.skip("MISSING openssl (and cryptography): TLS tests of the email channel NOT RUN")
    d = tmp_path_factory.mktemp("certs")
    out = {}
    for kind, san in (("ip", "IP:127.0.0.1"), ("name", "DNS:mail.test")):
        cert, key = d / f"{kind}.pem", d / f"{kind}.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(cert),
                        "-days", "1", "-subj", "/CN=tocsin test", "-addext", f"subjectAltName={san}"],
                       check=True, capture_output=True)
        out[kind] = (cert, key)
    return out


def server_tls(cert_key: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*cert_key)
    return ctx


# -- a runtime delivering to it -------------------------------------------------------------------


def config(port: int, extra: str = "", global_: str = "", *, require_tls: bool = False) -> str:
    return f"""
global:
  smtp_from: Tocsin <tocsin@example.org>
  smtp_require_tls: {str(require_tls).lower()}
{global_}
server: {{external_url: "https://tocsin.example.org"}}
route: {{receiver: mail, group_by: [alertname], group_wait: 1s, group_interval: 1m}}
receivers:
  - name: mail
    email_configs:
      - to: On-call <oncall@example.org>
        smarthost: 127.0.0.1:{port}
{extra}
"""


class Failures:
    def __init__(self) -> None:
        self.events: list[NotificationFailed] = []

    @hookimpl
    def tocsin_observe(self, runtime, event):
        if isinstance(event, NotificationFailed):
            self.events.append(event)


async def deliver(tmp_path, yaml: str, *alerts: dict, db: str = "t.db") -> tuple[list[float], Failures]:
    """Post ``alerts`` (default one ``X``), let group_wait pass, and report retries and failures."""
    failures = Failures()
    async with running(yaml, tmp_path, plugins=[failures], db_name=db) as rt:
        delays = instant_retries(rt).delays
        await post(rt, *(alerts or ({"labels": {"alertname": "X"}},)))
        await advance(rt, 1)
    return delays, failures


def parts(msg: EmailMessage) -> dict[str, str]:
    assert msg.get_content_type() == "multipart/alternative"
    return {p.get_content_type(): p.get_content().replace("\r\n", "\n") for p in msg.iter_parts()}


DISK = {"labels": {"alertname": "DiskFull", "instance": "db1", "team": "<ops> & \"dev\""},
        "annotations": {"summary": "disk <b>full</b>", "description": "1 GiB left\non /var",
                        "runbook_url": "https://runbooks.example/disk", "note": "javascript:alert(1)"},
        "generatorURL": "http://prometheus.example/graph?g0.expr=a&b=1"}


# -- the message ----------------------------------------------------------------------------------


async def test_firing_email_structure_headers_and_both_parts(tmp_path, smtp):
    inbox = Inbox()
    port = smtp(inbox)
    extra = "        headers: {x-team: '{{ receiver }}-team', reply-to: 'noc@example.org'}"
    await deliver(tmp_path, config(port, extra), DISK)
    [(sender, rcpts, msg)] = inbox.messages
    assert sender == "tocsin@example.org"
    assert rcpts == ["oncall@example.org"]
    # Headers: Alertmanager's subject; To and From from to/from; custom ones canonicalised.
    assert msg["Subject"] == '[FIRING:1] DiskFull (db1 <ops> & "dev")'
    assert msg["From"] == "Tocsin <tocsin@example.org>"
    assert msg["To"] == "On-call <oncall@example.org>"
    assert msg["X-Team"] == "mail-team"
    assert msg["Reply-To"] == "noc@example.org"
    assert msg["Message-Id"].startswith("<")
    assert msg["Message-Id"].endswith("@example.org>")
    assert msg["Date"].datetime.timestamp() > 0
    assert msg["MIME-Version"] == "1.0"
    # multipart/alternative: text first, HTML (preferred) last, both UTF-8.
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in msg.iter_parts())
    p = parts(msg)
    text, html = p["text/plain"], p["text/html"]
    assert "1 firing, 0 resolved (receiver mail)" in text
    assert "== FIRING (1) ==" in text
    assert "* DiskFull: disk <b>full</b>" in text
    assert "  1 GiB left\n  on /var" in text  # multi-line annotations stay indented
    assert "runbook_url: https://runbooks.example/disk" in text
    assert '    team = <ops> & "dev"' in text
    assert "    instance = db1" in text
    assert "Source: http://prometheus.example/graph?g0.expr=a&b=1" in text
    assert "RESOLVED" not in text
    assert "Sent by tocsin: https://tocsin.example.org" in text
    # HTML: every label and annotation value escaped; only http(s) values become links.
    assert "team=&lt;ops&gt; &amp; &#34;dev&#34;" in html
    assert "<ops>" not in html
    assert "<b>full</b>" not in html
    assert "disk &lt;b&gt;full&lt;/b&gt;" in html
    assert '<a href="https://runbooks.example/disk">' in html
    assert 'href="javascript' not in html
    assert "javascript:alert(1)" in html
    assert '<a href="http://prometheus.example/graph?g0.expr=a&amp;b=1">Source</a>' in html
    assert "Firing (1)" in html
    assert "Resolved" not in html
    assert '<a href="https://tocsin.example.org">' in html


async def test_resolved_email_only_with_send_resolved(tmp_path, smtp):
    for send_resolved, expected in ((None, 1), (False, 1), (True, 2)):
        inbox = Inbox()
        port = smtp(inbox)
        extra = "" if send_resolved is None else f"        send_resolved: {str(send_resolved).lower()}"
        async with running(config(port, extra), tmp_path, db_name=f"{send_resolved}.db") as rt:
            await post(rt, {"labels": {"alertname": "X", "instance": "a"}})
            await advance(rt, 1)
            await post(rt, {"labels": {"alertname": "X", "instance": "a"},
                            "endsAt": format_ts(rt.clock.now())})
            await advance(rt, 60)
        assert len(inbox.messages) == expected, send_resolved
    resolved = inbox.messages[1][2]
    assert resolved["Subject"] == "[RESOLVED] X (a)"
    p = parts(resolved)
    assert "0 firing, 1 resolved" in p["text/plain"]
    assert "== RESOLVED (1) ==" in p["text/plain"]
    assert "Ended:" in p["text/plain"]
    assert "(lasted 1s)" in p["text/plain"]
    assert "FIRING" not in p["text/plain"]
    assert "Resolved (1)" in p["text/html"]
    assert "lasted 1s" in p["text/html"]
    assert "Firing" not in p["text/html"]


async def test_to_and_from_are_templates_and_lists(tmp_path, smtp):
    inbox = Inbox()
    port = smtp(inbox)
    extra = ("        from: 'alerts+{{ commonLabels.team }}@example.org'\n"
             "        to: '{{ commonLabels.team }}@example.org, \"Doe, Jane\" <jane@example.org>'")
    await deliver(tmp_path, config(port).replace("      - to: On-call <oncall@example.org>\n", "      -\n")
                  + extra, {"labels": {"alertname": "X", "team": "db"}})
    [(sender, rcpts, msg)] = inbox.messages
    assert sender == "alerts+db@example.org"
    assert msg["From"] == "alerts+db@example.org"
    assert rcpts == ["db@example.org", "jane@example.org"]
    assert msg["To"] == 'db@example.org, "Doe, Jane" <jane@example.org>'


async def test_template_overrides(tmp_path, smtp):
    inbox = Inbox()
    port = smtp(inbox)
    extra = """\
        headers:
          Subject: '{{ firing|length }} on fire: {{ commonLabels.alertname }}'
          message-id: '<fixed@example.org>'
        text: 'Text for {{ receiver }}: {% for a in alerts %}{{ a.labels.instance }}{% endfor %}'
        html: '<p>{{ commonLabels.instance }}</p>'"""
    await deliver(tmp_path, config(port, extra), {"labels": {"alertname": "X", "instance": "<i>"}})
    [(_, _, msg)] = inbox.messages
    assert msg["Subject"] == "1 on fire: X"
    assert msg.get_all("Message-Id") == ["<fixed@example.org>"]  # the receiver's, not a second one
    assert parts(msg) == {"text/plain": "Text for mail: <i>\n", "text/html": "<p>&lt;i&gt;</p>\n"}


async def test_empty_html_sends_a_text_only_email(tmp_path, smtp):
    inbox = Inbox()
    port = smtp(inbox)
    await deliver(tmp_path, config(port, "        html: ''"))
    [(_, _, msg)] = inbox.messages
    assert msg.get_content_type() == "text/plain"
    assert "* X" in msg.get_content()


async def test_broken_templates_fall_back_and_still_send(tmp_path, smtp):
    inbox = Inbox()
    port = smtp(inbox)
    extra = """\
        headers: {Subject: '{{ 1 / 0 }}'}
        text: '{{ alerts[0].labels.nope.deeper() }}'
        html: '{{ 1 / 0 }}'"""
    _, failures = await deliver(tmp_path, config(port, extra))
    [(_, _, msg)] = inbox.messages
    assert not failures.events
    assert msg["Subject"] == "[FIRING:1] X (mail)"
    p = parts(msg)
    assert p["text/plain"].strip() == "[FIRING:1] X (mail)"
    assert p["text/html"].strip() == "[FIRING:1] X (mail)"


def big_group(count: int) -> list[dict]:
    return [{"labels": {"alertname": "Big", "instance": f"h{i:03}"},
             "annotations": {"description": f"line one of {i}\nline two ü"}} for i in range(count)]


async def test_a_big_groups_email_is_made_in_a_worker_thread_and_is_the_same(tmp_path, smtp, monkeypatch):
    """More than HEAVY_ALERTS alerts: the email is rendered, and made bytes, in a worker
    thread, and arrives as the same email the event loop would have made."""
    from tocsin.channels.email import channel as email_channel
    from tocsin.core import pacing

    threads: list[tuple[str, str]] = []

    def spy(name, fn):
        def spied(*args, **kwargs):
            threads.append((name, threading.current_thread().name))
            return fn(*args, **kwargs)
        return spied

    monkeypatch.setattr(EmailChannel, "render", spy("render", EmailChannel.render))
    monkeypatch.setattr(email_channel, "flatten_message", spy("flatten", email_channel.flatten_message))
    alerts = big_group(pacing.HEAVY_ALERTS + 20)
    inbox = Inbox()
    port = smtp(inbox)
    await deliver(tmp_path, config(port), *alerts, db="big.db")
    assert threads == [("render", threads[0][1]), ("flatten", threads[1][1])]
    assert all(t.startswith("tocsin-render") for _, t in threads)
    monkeypatch.setattr(pacing, "HEAVY_ALERTS", 10_000)  # the same group, made on the loop
    threads.clear()
    await deliver(tmp_path, config(port), *alerts, db="small.db")
    assert threads == [("render", "MainThread")]  # and aiosmtplib's own send_message
    [(_, _, big), (_, _, small)] = inbox.messages
    assert parts(big) == parts(small)
    assert f"== FIRING ({len(alerts)}) ==" in parts(big)["text/plain"]
    assert big["Subject"] == small["Subject"]


async def test_a_big_group_to_a_non_ascii_address_goes_with_smtputf8_or_not_at_all(tmp_path, smtp):
    inbox = Inbox()
    yaml = config(smtp(inbox)).replace("On-call <oncall@example.org>", "jürgen@example.org")
    _, failures = await deliver(tmp_path, yaml, *big_group(150))
    assert not failures.events
    [(_, rcpts, _)] = inbox.messages
    assert rcpts == ["jürgen@example.org"]
    inbox = Inbox()
    yaml = config(smtp(inbox, enable_SMTPUTF8=False)).replace("On-call <oncall@example.org>",
                                                               "jürgen@example.org")
    _, failures = await deliver(tmp_path, yaml, *big_group(150), db="no-utf8.db")
    [failed] = failures.events
    assert "SMTPUTF8 is not supported by this server" in failed.error
    assert failed.attempts == 1  # permanent, as on aiosmtplib's own path
    assert not inbox.messages


async def test_label_values_cannot_inject_headers(tmp_path, smtp):
    inbox = Inbox()
    port = smtp(inbox)
    await deliver(tmp_path, config(port), {"labels": {"alertname": "X\r\nBcc: victim@example.org",
                                                      "job": "a\nb"}})
    [(_, rcpts, msg)] = inbox.messages
    assert rcpts == ["oncall@example.org"]
    assert msg["Bcc"] is None
    assert msg["Subject"] == "[FIRING:1] X Bcc: victim@example.org (a b)"


# -- authentication -------------------------------------------------------------------------------


class Authenticator:
    def __init__(self, login: bytes = b"bot", password: bytes = b"s3cret") -> None:
        self.want = (login, password)
        self.seen: list[tuple[str, bool]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == self.want
        self.seen.append((mechanism, ok))
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_auth_login_with_inline_password(tmp_path, smtp):
    auth = Authenticator()
    inbox = Inbox()
    port = smtp(inbox, authenticator=auth, auth_require_tls=False, auth_required=True,
                auth_exclude_mechanism=["PLAIN"])
    await deliver(tmp_path, config(port, "        auth_username: bot\n        auth_password: s3cret"))
    assert auth.seen == [("LOGIN", True)]
    assert len(inbox.messages) == 1


class PlainInbox(Inbox):
    """Also checks AUTH PLAIN itself, to see the authorization identity aiosmtpd drops."""

    def __init__(self) -> None:
        super().__init__()
        self.plain: list[bytes] = []

    async def auth_PLAIN(self, server, args):
        self.plain.append(base64.b64decode(args[1]))
        return AuthResult(success=self.plain[-1].split(b"\0")[1:] == [b"bot", b"s3cret"], handled=False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_auth_plain_with_password_file_and_identity_from_global(tmp_path, smtp):
    inbox = PlainInbox()
    port = smtp(inbox, auth_require_tls=False, auth_required=True)
    (tmp_path / "pw").write_text("s3cret\n")
    global_ = (f"  smtp_auth_username: bot\n  smtp_auth_password_file: {tmp_path / 'pw'}\n"
               "  smtp_auth_identity: ops")
    await deliver(tmp_path, config(port, global_=global_))
    assert inbox.plain == [b"ops\0bot\0s3cret"]
    assert len(inbox.messages) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_wrong_password_is_permanent(tmp_path, smtp):
    auth = Authenticator()
    inbox = Inbox()
    port = smtp(inbox, authenticator=auth, auth_require_tls=False, auth_required=True)
    delays, failures = await deliver(
        tmp_path, config(port, "        auth_username: bot\n        auth_password: wrong"))
    [failed] = failures.events
    assert failed.attempts == 1
    assert not delays
    assert not inbox.messages
    assert "authentication refused: SMTP 535" in failed.error
    assert "wrong" not in failed.error


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_credentials_never_cross_an_unencrypted_link_to_another_host(tmp_path, smtp, monkeypatch):
    import tocsin.channels.email.channel as mod

    monkeypatch.setattr(mod, "_is_loopback", lambda host: False)  # as if 127.0.0.1 were remote
    auth = Authenticator()
    inbox = Inbox()
    port = smtp(inbox, authenticator=auth, auth_require_tls=False, auth_required=True)
    _, failures = await deliver(
        tmp_path, config(port, "        auth_username: bot\n        auth_password: s3cret"))
    [failed] = failures.events
    assert failed.attempts == 1
    assert "unencrypted" in failed.error
    assert auth.seen == []
    assert not inbox.messages


def test_loopback_hosts():
    from tocsin.channels.email.channel import _is_loopback

    assert _is_loopback("127.0.0.1")
    assert _is_loopback("::1")
    assert _is_loopback("LocalHost")
    assert not _is_loopback("smtp.example.org")
    assert not _is_loopback("10.0.0.1")


# -- TLS ------------------------------------------------------------------------------------------


async def test_starttls_required_and_verified(tmp_path, smtp, certs):
    inbox = Inbox()
    cert, _ = certs["ip"]
    port = smtp(inbox, tls_context=server_tls(certs["ip"]), require_starttls=True)
    extra = f"        tls_config: {{ca_file: {cert}}}"
    await deliver(tmp_path, config(port, extra, require_tls=True))
    assert inbox.tls == [True]
    assert inbox.messages[0][2]["Subject"] == "[FIRING:1] X"


async def test_starttls_used_when_offered_and_auth_inside_it(tmp_path, smtp, certs):
    auth = Authenticator()
    inbox = Inbox()
    cert, _ = certs["ip"]
    # auth_require_tls (aiosmtpd's default): AUTH is only offered after STARTTLS.
    port = smtp(inbox, tls_context=server_tls(certs["ip"]), authenticator=auth, auth_required=True)
    extra = (f"        tls_config: {{ca_file: {cert}}}\n"
             "        auth_username: bot\n        auth_password: s3cret")
    await deliver(tmp_path, config(port, extra, require_tls=False))
    assert inbox.tls == [True]
    assert auth.seen == [("PLAIN", True)]


async def test_untrusted_or_misnamed_certificates_are_refused(tmp_path, smtp, certs):
    inbox = Inbox()
    port = smtp(inbox, tls_context=server_tls(certs["name"]), require_starttls=True)
    cert, _ = certs["name"]
    # Not trusted at all.
    _, failures = await deliver(tmp_path, config(port, require_tls=True), db="untrusted.db")
    assert failures.events
    assert "certificate not trusted: self-signed" in failures.events[0].error
    # Trusted, but issued for mail.test, not 127.0.0.1.
    _, failures = await deliver(tmp_path, config(port, f"        tls_config: {{ca_file: {cert}}}",
                                                 require_tls=True), db="misnamed.db")
    assert failures.events
    assert "not valid for '127.0.0.1'" in failures.events[0].error
    assert not inbox.messages
    # server_name names the certificate expected.
    await deliver(tmp_path, config(port, f"        tls_config: {{ca_file: {cert}, server_name: mail.test}}",
                                   require_tls=True), db="named.db")
    assert inbox.tls == [True]
    # insecure_skip_verify accepts anything.
    await deliver(tmp_path, config(port, "        tls_config: {insecure_skip_verify: true}",
                                   require_tls=True), db="insecure.db")
    assert inbox.tls == [True, True]


async def test_require_tls_without_starttls_fails_permanently(tmp_path, smtp):
    inbox = Inbox()
    port = smtp(inbox)
    delays, failures = await deliver(tmp_path, config(port, "        require_tls: true"))
    [failed] = failures.events
    assert failed.attempts == 1
    assert not delays
    assert not inbox.data_calls
    assert "does not offer STARTTLS and require_tls is true" in failed.error


async def test_require_tls_defaults_to_global_true(tmp_path, smtp):
    port = smtp(Inbox())
    yaml = config(port).replace("  smtp_require_tls: false\n", "")
    _, failures = await deliver(tmp_path, yaml)
    assert "STARTTLS" in failures.events[0].error


async def test_port_465_is_implicit_tls(tmp_path, smtp, certs):
    try:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 465))
    except OSError as exc:
        pytest.skip(f"NOT RUN: cannot listen on 127.0.0.1:465 for implicit TLS ({exc.strerror})")
    inbox = Inbox()
    cert, _ = certs["ip"]
    smtp(inbox, port=465, ssl_context=server_tls(certs["ip"]))
    # A short timeout: were TLS not started at once, each attempt would wait on the server.
    yaml = config(465, f"        tls_config: {{ca_file: {cert}}}\n        timeout: 1s", require_tls=True)
    _, failures = await deliver(tmp_path, yaml)
    assert not failures.events
    assert inbox.tls == [True]


# -- failures -------------------------------------------------------------------------------------


async def test_5xx_is_not_retried_and_4xx_is(tmp_path, smtp):
    for answer, retried in (("550 5.7.1 rejected as spam", False), ("451 4.3.0 try later", True)):
        inbox = Inbox(answer)
        port = smtp(inbox)
        delays, failures = await deliver(tmp_path, config(port), db=f"{answer[:3]}.db")
        [failed] = failures.events
        assert f"message refused: SMTP {answer[:3]}" in failed.error
        assert (failed.attempts > 1) is retried
        assert bool(delays) is retried
        assert inbox.data_calls == failed.attempts


async def test_refused_recipients(tmp_path, smtp):
    # Every recipient refused for good: not retried.
    inbox = Inbox(refuse={"oncall@example.org": "550 5.1.1 no such user"})
    port = smtp(inbox)
    delays, failures = await deliver(tmp_path, config(port), db="all.db")
    [failed] = failures.events
    assert failed.attempts == 1
    assert not delays
    assert "every recipient refused: oncall@example.org: 550" in failed.error
    # Refused for now: retried.
    inbox = Inbox(refuse={"oncall@example.org": "450 4.2.1 mailbox busy"})
    port = smtp(inbox)
    delays, failures = await deliver(tmp_path, config(port), db="busy.db")
    assert failures.events[0].attempts > 1
    assert delays
    # One of two refused: the other gets it, and it counts as sent (no repeat to them).
    inbox = Inbox(refuse={"gone@example.org": "550 5.1.1 no such user"})
    port = smtp(inbox)
    yaml = config(port).replace("to: On-call <oncall@example.org>",
                                "to: 'oncall@example.org, gone@example.org'")
    delays, failures = await deliver(tmp_path, yaml, db="some.db")
    assert not failures.events
    assert not delays
    assert [m[1] for m in inbox.messages] == [["oncall@example.org"]]


async def test_no_server_is_retried(tmp_path):
    delays, failures = await deliver(tmp_path, config(free_port()))
    [failed] = failures.events
    assert failed.attempts > 1
    assert delays
    assert "Error connecting to 127.0.0.1" in failed.error


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_unreadable_password_file_is_permanent(tmp_path, smtp):
    port = smtp(Inbox(), authenticator=Authenticator(), auth_require_tls=False, auth_required=True)
    extra = f"        auth_username: bot\n        auth_password_file: {tmp_path / 'missing'}"
    _, failures = await deliver(tmp_path, config(port, extra))
    [failed] = failures.events
    assert failed.attempts == 1
    assert "auth_password_file" in failed.error
    assert "No such file" in failed.error


async def test_unreadable_ca_file_is_permanent(tmp_path, smtp):
    port = smtp(Inbox())
    _, failures = await deliver(tmp_path, config(port, f"        tls_config: {{ca_file: {tmp_path / 'no'}}}"))
    [failed] = failures.events
    assert failed.attempts == 1
    assert failed.error == "tls_config.ca_file: No such file or directory"


# -- configuration --------------------------------------------------------------------------------

BASE = "route: {receiver: m}\nreceivers:\n  - name: m\n    email_configs:\n"
PATH = "receivers[0].email_configs[0]"


def problems(text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as err:
        make_config(text)
    return {p.path: p.message for p in err.value.problems}


def test_config_errors_name_the_field():
    assert set(problems(BASE + "      - {to: not an address, smarthost: h:25, from: a@b.c}\n")) == {
        f"{PATH}.to"}
    assert set(problems(BASE + "      - {to: a@b.c, smarthost: nohost, from: a@b.c}\n")) == {
        f"{PATH}.smarthost"}
    assert set(problems(BASE + "      - {to: a@b.c, smarthost: 'h:25', from: 'a@b.c, d@e.f'}\n")) == {
        f"{PATH}.from"}
    assert set(problems(BASE + "      - {smarthost: 'h:25', from: a@b.c}\n")) == {f"{PATH}.to"}
    dup = problems(BASE + "      - {to: a@b.c, smarthost: 'h:25', from: a@b.c,"
                          " headers: {subject: a, SUBJECT: b}}\n")
    assert "duplicate header 'Subject'" in next(iter(dup.values()))
    assert next(iter(dup)).startswith(f"{PATH}.headers.")
    assert set(problems(BASE + "      - {to: a@b.c, smarthost: 'h:25', from: a@b.c, html: '', text: ''}\n")
               ) == {f"{PATH}.html"}
    assert set(problems(BASE + "      - {to: a@b.c, smarthost: 'h:25', from: a@b.c, text: '{{ x'}\n")
               ) == {f"{PATH}.text"}


def test_smarthost_and_from_from_global_or_refused():
    # Neither here nor in global: both named, with the entry's path.
    found = problems(BASE + "      - {to: a@example.org}\n")
    assert set(found) == {f"{PATH}.smarthost", f"{PATH}.from"}
    assert "global.smtp_smarthost" in found[f"{PATH}.smarthost"]
    assert "global.smtp_from" in found[f"{PATH}.from"]
    # Globals satisfy both; a malformed global is named too.
    make_config("global: {smtp_smarthost: 'localhost:25', smtp_from: a@b.c}\n" + BASE
                + "      - {to: a@example.org}\n")
    found = problems("global: {smtp_smarthost: 'localhost', smtp_from: a@b.c}\n" + BASE
                     + "      - {to: a@example.org}\n")
    assert set(found) == {f"{PATH}.smarthost"}
    assert "global.smtp_smarthost" in found[f"{PATH}.smarthost"]
    # A username with no password anywhere.
    found = problems("global: {smtp_smarthost: 'h:25', smtp_from: a@b.c, smtp_auth_username: u}\n" + BASE
                     + "      - {to: a@example.org}\n")
    assert set(found) == {f"{PATH}.auth_password"}


def test_defaults_as_alertmanager():
    cfg = make_config("global: {smtp_smarthost: 'h:25', smtp_from: a@b.c}\n" + BASE
                      + "      - {to: a@example.org}\n")
    [integ] = cfg.receivers["m"].integrations
    assert integ.config.send_resolved is False
    assert integ.config.require_tls is None


async def test_built_without_the_load_check_send_refuses_clearly():
    """An integration made by hand (no config load, so no check): refused, not retried."""
    import msgspec

    from tocsin.config.types import dec_hook

    cfg = msgspec.convert({"to": "a@example.org"}, EmailConfig, dec_hook=dec_hook)
    ctx = ChannelContext(session=None, external_url="", global_config=GlobalConfig(),
                         receiver="m", integration="email[0]")
    n = Notification(receiver="m", group_key="{}", group_labels={}, now=1e9,
                     alerts=[Alert(fingerprint="f", labels={"alertname": "X"}, annotations={},
                                   starts_at=1e9 - 1, ends_at=0.0)])
    with pytest.raises(DeliveryError) as err:
        await EmailChannel(cfg, ctx).send(n)
    assert not err.value.retryable
    assert "global.smtp_smarthost" in str(err.value)
    cfg = msgspec.convert({"to": "a@example.org", "smarthost": "h:25"}, EmailConfig, dec_hook=dec_hook)
    with pytest.raises(DeliveryError) as err:
        await EmailChannel(cfg, ctx).send(n)
    assert not err.value.retryable
    assert "global.smtp_from" in str(err.value)


async def test_an_acknowledgement_is_announced_by_email(tmp_path, smtp):
    inbox = Inbox()
    port = smtp(inbox)
    async with running(config(port), tmp_path) as rt:
        await post(rt, {"labels": {"alertname": "DiskFull", "instance": "db1"}})
        await advance(rt, 1)
        fp = next(iter(rt.alerts)).fingerprint
        await rt.lifecycle.acknowledge(fp, by="alice", note="resizing\nBcc: evil@example.org")
        await advance(rt, 0)
    assert len(inbox.messages) == 2
    _, rcpts, msg = inbox.messages[1]
    assert rcpts == ["oncall@example.org"]
    # The note is one line in the subject: no header can be smuggled in.
    assert msg["Subject"] == ("[Acknowledged by alice: resizing Bcc: evil@example.org] "
                              "[FIRING:1] DiskFull (db1)")
    assert msg["Bcc"] is None
    body = parts(msg)
    assert body["text/plain"].startswith("Acknowledged by alice: resizing\nBcc: evil@example.org\n\n1 firing")
    assert "<b>Acknowledged by alice: resizing\nBcc: evil@example.org</b>" in body["text/html"]
