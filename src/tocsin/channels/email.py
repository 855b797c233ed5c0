"""The ``email`` channel: one email per group notification, sent with aiosmtplib.

Keys and defaults follow Alertmanager's ``email_configs``: ``to`` (required),
``from``, ``smarthost``, ``hello``, ``auth_username``, ``auth_password`` /
``auth_password_file``, ``auth_identity``, ``require_tls`` and ``tls_config``;
unset ones come from ``global.smtp_*``. ``to``, ``from`` and every header are
templates, as in Alertmanager. ``send_resolved`` is false by default.

A receiver with no smarthost or sender anywhere (neither its own keys nor
``global.smtp_smarthost`` / ``global.smtp_from``) is refused when the config
loads, with the entry's path (``ChannelKind.check``: the globals live in
another section, so one entry cannot check this alone). Should an integration
be built without that check (a hand-made config), ``send`` refuses it with a
non-retryable :class:`DeliveryError` saying what is missing.

The message is multipart/alternative: a text part and an HTML part (both
templates with readable defaults; set one to ``''`` to leave that part out).
Headers: ``Subject`` (default Alertmanager's ``[FIRING:n] <group label values>
(<other common label values>)``), ``To`` (default ``to``), ``From`` (default
``from``), any of the receiver's own, and ``Date`` and ``Message-Id`` unless the
receiver sets them.

Connection: port 465 means implicit TLS. On any other port STARTTLS is used
when the server offers it; with ``require_tls`` (default
``global.smtp_require_tls``, true) a server that does not offer it is a
permanent failure. ``tls_config.server_name`` names the certificate expected
(default the smarthost's host). Authentication happens when ``auth_username``
is set and the server offers AUTH (PLAIN with ``auth_identity``, else LOGIN).
As Go's PLAIN auth in Alertmanager, credentials are never sent over an
unencrypted connection except to a loopback host.

Failures: SMTP 5xx answers are permanent (not retried); 4xx answers, timeouts
and connection or TLS errors are retried. A message some recipients refused
but others accepted counts as sent (retrying would repeat it to those who got
it); the refusals are logged.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import re
import ssl
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any

import aiosmtplib
import msgspec
import structlog

from tocsin import hookimpl
from tocsin.channels import ChannelConfig, ChannelContext, ChannelKind, DeliveryError
from tocsin.channels.http import TLSConfig, secret_from_file
from tocsin.config.types import Secret
from tocsin.config.validate import field_error
from tocsin.core.models import Notification
from tocsin.notify.templates import Template, Templates, data

__all__ = ["DEFAULT_HTML", "DEFAULT_SUBJECT", "DEFAULT_TEXT", "EmailChannel", "EmailConfig"]

log = structlog.get_logger("tocsin.notify.email")

#: Alertmanager's ``__subject``: ``[FIRING:2] <group label values> (<other common label values>)``.
DEFAULT_SUBJECT = (
    '[{{ status|upper }}{% if status == "firing" %}:{{ firing|length }}{% endif %}] '
    '{{ groupLabels|dictsort|map("last")|join(" ") }}'
    '{% set extra = commonLabels|dictsort|rejectattr("0", "in", groupLabels)|map("last")|list %}'
    '{% if extra %} ({{ extra|join(" ") }}){% endif %}'
)

DEFAULT_TEXT = """\
{% if notice %}{{ notice.text }}

{% endif %}{{ firing|length }} firing, {{ resolved|length }} resolved (receiver {{ receiver }})
{% if groupLabels %}
Group: {{ groupLabels|join_labels }}
{% endif %}
{% for title, list in [("FIRING", firing), ("RESOLVED", resolved)] if list %}

== {{ title }} ({{ list|length }}) ==
{% for a in list %}

* {{ a.labels.alertname or "(no alertname)" }}\
{{ ": " ~ a.annotations.summary if a.annotations.summary else "" }}
  Started: {{ a.startsAt[:19]|replace("T", " ") }} UTC\
{{ " (" ~ a.starts|since(now) ~ " ago)" if a.status == "firing" else "" }}
{% if a.status == "resolved" %}
  Ended:   {{ a.endsAt[:19]|replace("T", " ") }} UTC (lasted {{ (a.ends - a.starts)|duration }})
{% endif %}
{% if a.annotations.description %}
  {{ a.annotations.description|indent(2) }}
{% endif %}
{% for k, v in a.annotations|dictsort if k not in ("summary", "description") %}
  {{ k }}: {{ v|indent(4) }}
{% endfor %}
  Labels:
{% for k, v in a.labels|dictsort %}
    {{ k }} = {{ v }}
{% endfor %}
{% if a.generatorURL %}
  Source: {{ a.generatorURL }}
{% endif %}
{% endfor %}
{% endfor %}

--
Sent by tocsin{{ ": " ~ externalURL if externalURL else "" }}
"""

DEFAULT_HTML = """\
{% macro link(v, text=none) %}
{% if v is string and (v.startswith("http://") or v.startswith("https://")) %}\
<a href="{{ v }}">{{ text or v }}</a>{% else %}{{ v }}{% endif %}
{% endmacro %}
<!DOCTYPE html>
<html><head><meta charset="utf-8"></head>
<body style="margin:0;padding:16px;font-family:Helvetica,Arial,sans-serif;font-size:14px;color:#222">
{% if notice %}<p style="font-size:16px;margin:0 0 8px;color:#1d4ed8"><b>{{ notice.text }}</b></p>{% endif %}
<p style="font-size:16px;margin:0 0 4px"><b>{{ firing|length }} firing</b>, \
{{ resolved|length }} resolved (receiver {{ receiver }})</p>
{% if groupLabels %}
<p style="color:#555;margin:0">Group: {{ groupLabels|join_labels }}</p>
{% endif %}
{% for title, color, list in [("Firing", "#d63232", firing), ("Resolved", "#2eb67d", resolved)] if list %}
<h2 style="color:{{ color }};font-size:18px;margin:24px 0 8px">{{ title }} ({{ list|length }})</h2>
{% for a in list %}
<div style="border-left:4px solid {{ color }};padding:4px 0 4px 12px;margin:0 0 16px">
<p style="font-size:15px;margin:0 0 4px"><b>{{ a.labels.alertname or "(no alertname)" }}</b>\
{{ ": " ~ a.annotations.summary if a.annotations.summary else "" }}</p>
<p style="color:#555;margin:0 0 4px">Started {{ a.startsAt[:19]|replace("T", " ") }} UTC\
{% if a.status == "firing" %} ({{ a.starts|since(now) }} ago){% else %}, \
ended {{ a.endsAt[:19]|replace("T", " ") }} UTC (lasted {{ (a.ends - a.starts)|duration }}){% endif %}</p>
{% if a.annotations.description %}
<p style="white-space:pre-wrap;margin:0 0 4px">{{ a.annotations.description }}</p>
{% endif %}
{% set notes = a.annotations|dictsort|rejectattr("0", "in", ["summary", "description"])|list %}
{% if notes %}
<table style="border-collapse:collapse;margin:0 0 4px">
{% for k, v in notes %}
<tr><td style="padding:1px 12px 1px 0;color:#555;vertical-align:top">{{ k }}</td>\
<td style="white-space:pre-wrap">{{ link(v) }}</td></tr>
{% endfor %}
</table>
{% endif %}
<p style="font-size:12px;margin:0 0 4px">\
{% for k, v in a.labels|dictsort %}
<span style="display:inline-block;background:#eee;border-radius:3px;padding:0 4px;margin:0 4px 2px 0">\
{{ k }}={{ v }}</span>
{% endfor %}
</p>
{% if a.generatorURL %}
<p style="margin:0">{{ link(a.generatorURL, "Source") }}</p>
{% endif %}
</div>
{% endfor %}
{% endfor %}
<p style="color:#888;font-size:12px;margin:24px 0 0">Sent by tocsin\
{% if externalURL %}: {{ link(externalURL) }}{% endif %}</p>
</body></html>
"""

#: RFC 5322 field names: printable ASCII but the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+")


def _canonical(name: str) -> str:
    """``message-id`` -> ``Message-Id``, as Go's ``CanonicalMIMEHeaderKey`` (Alertmanager)."""
    return "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def _addresses(text: str) -> list[str]:
    """The addresses of a list such as ``"Ops <ops@x.org>, b@y.org"``; ValueError if one is bad."""
    pairs = getaddresses([text])
    out = [addr for _, addr in pairs if addr]
    if not out or any("@" not in a or a.startswith("@") or a.endswith("@") for a in out):
        raise ValueError(f"no valid email address list in {text!r}")
    return out


def _split_smarthost(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _one_line(value: str) -> str:
    """A rendered header value: line breaks would start new headers (or a body)."""
    return " ".join(value.split())


class EmailConfig(ChannelConfig, kw_only=True):
    send_resolved: bool = False
    #: Recipients, comma-separated (a template).
    to: Template
    #: The sender (a template); default ``global.smtp_from``.
    from_: Template | None = msgspec.field(default=None, name="from")
    #: ``HOST:PORT``; default ``global.smtp_smarthost``. Port 465: implicit TLS.
    smarthost: str | None = None
    #: Name sent with EHLO; default ``global.smtp_hello``.
    hello: str | None = None
    auth_username: str | None = None
    auth_password: Secret | None = None
    #: File holding the password (read at each send, so it can be rotated).
    auth_password_file: str | None = None
    auth_identity: str | None = None
    #: STARTTLS required; default ``global.smtp_require_tls`` (true).
    require_tls: bool | None = None
    tls_config: TLSConfig | None = None
    #: Header templates; names are case-insensitive.
    headers: dict[str, Template] = {}
    #: Template of the HTML part ('' for none).
    html: Template | None = None
    #: Template of the text part ('' for none).
    text: Template | None = None

    def __post_init__(self) -> None:
        if not self.to.strip():
            raise field_error("to", "must not be empty")
        if not _is_template(self.to):
            try:
                _addresses(self.to)
            except ValueError as exc:
                raise field_error("to", str(exc)) from None
        if self.from_ is not None and not _is_template(self.from_):
            try:
                if len(_addresses(self.from_)) != 1:
                    raise ValueError(f"must be exactly one address, got {self.from_!r}")
            except ValueError as exc:
                raise field_error("from", str(exc)) from None
        if self.auth_password and self.auth_password_file:
            raise field_error("auth_password_file", "set auth_password or auth_password_file, not both")
        if self.smarthost is not None:
            try:
                _split_smarthost(self.smarthost)
            except ValueError as exc:
                raise field_error("smarthost", str(exc)) from None
        if self.html == "" and self.text == "":
            raise field_error("html", "html and text cannot both be empty")
        headers: dict[str, Template] = {}
        for name, value in self.headers.items():
            if not _FIELD_NAME.fullmatch(name):
                raise field_error(f"headers.{name}", "not a valid header name")
            key = _canonical(name)
            if key in headers:
                raise field_error(f"headers.{name}", f"duplicate header {key!r} (names are case-insensitive)")
            headers[key] = value
        self.headers = headers


def _check(config: EmailConfig, g: Any) -> list[tuple[str, str]]:
    """What one entry cannot know alone: defaults that must come from ``global:``."""
    problems = []
    if not config.smarthost:
        own = getattr(g, "smtp_smarthost", None)
        if not own:
            problems.append(("smarthost", "no SMTP server: set smarthost here or global.smtp_smarthost"))
        else:
            try:
                _split_smarthost(own)
            except ValueError as exc:
                problems.append(("smarthost", f"global.smtp_smarthost: {exc}"))
    if config.from_ is None:
        sender = getattr(g, "smtp_from", None)
        if not sender:
            problems.append(("from", "no sender: set from here or global.smtp_from"))
        elif not _is_template(sender):
            try:
                if len(_addresses(sender)) != 1:
                    raise ValueError(f"must be exactly one address, got {sender!r}")
            except ValueError as exc:
                problems.append(("from", f"global.smtp_from: {exc}"))
    username = config.auth_username or getattr(g, "smtp_auth_username", None)
    if username and not (config.auth_password or config.auth_password_file
                         or getattr(g, "smtp_auth_password", None)
                         or getattr(g, "smtp_auth_password_file", None)):
        problems.append(("auth_password", "auth_username is set but no auth_password[_file] here or "
                                          "in global.smtp_auth_password[_file]"))
    return problems


class _TLSContext(ssl.SSLContext):
    """Verifies the certificate against ``server_name`` rather than the host connected to."""

    server_name: str | None = None

    def wrap_bio(self, incoming: Any, outgoing: Any, server_side: bool = False,
                 server_hostname: Any = None, session: Any = None) -> ssl.SSLObject:
        return super().wrap_bio(incoming, outgoing, server_side,
                                self.server_name or server_hostname, session)


class EmailChannel:
    def __init__(self, config: EmailConfig, ctx: ChannelContext) -> None:
        g = ctx.global_config
        self.config = config
        self.ctx = ctx
        self.templates: Templates = ctx.templates or Templates()
        c = config

        def own_or_global(own: Any, name: str) -> Any:
            return own if own is not None else getattr(g, name, None)

        self.smarthost: str | None = c.smarthost or getattr(g, "smtp_smarthost", None)
        self.sender: str | None = c.from_ if c.from_ is not None else getattr(g, "smtp_from", None)
        self.hello: str = own_or_global(c.hello, "smtp_hello") or "localhost"
        self.username: str | None = c.auth_username or getattr(g, "smtp_auth_username", None)
        self.identity: str = c.auth_identity or getattr(g, "smtp_auth_identity", None) or ""
        if c.auth_password or c.auth_password_file:
            self.password, self.password_file = c.auth_password, c.auth_password_file
            self.password_field = "auth_password_file"
        else:  # as Alertmanager: both from global, together
            self.password = getattr(g, "smtp_auth_password", None)
            self.password_file = getattr(g, "smtp_auth_password_file", None)
            self.password_field = "global.smtp_auth_password_file"
        require = own_or_global(c.require_tls, "smtp_require_tls")
        self.require_tls: bool = True if require is None else bool(require)

    # -- the message ----------------------------------------------------------------------------

    def render(self, n: Notification) -> tuple[EmailMessage, str, list[str]]:
        """The message, the envelope sender and the envelope recipients."""
        c, t = self.config, self.templates
        if not self.sender:
            raise DeliveryError("no sender: set from in this email_configs entry or global.smtp_from",
                                retryable=False)
        what = f"{self.ctx.receiver}/{self.ctx.integration}"
        d = data(n, self.ctx.external_url)

        def text(source: str, name: str) -> str:
            return _one_line(t.render(source, d, what=f"{what}.{name}"))

        sender, to = text(self.sender, "from"), text(c.to, "to")
        try:
            envelope_from = _addresses(sender)
            if len(envelope_from) != 1:
                raise ValueError(f"must be exactly one address, got {sender!r}")
            recipients = _addresses(to)
        except ValueError as exc:
            raise DeliveryError(f"email address: {exc}", retryable=False) from None

        headers = {"Subject": DEFAULT_SUBJECT, "To": c.to, "From": self.sender, **c.headers}
        msg = EmailMessage()
        try:
            for name, source in headers.items():
                msg[name] = text(source, f"headers.{name}")
            if n.event and "Subject" in msg:
                subject = msg["Subject"]
                del msg["Subject"]
                msg["Subject"] = _one_line(f"[{d['notice']['text']}] {subject}")
            if "Date" not in msg:
                msg["Date"] = formatdate(n.now, usegmt=True)
            if "Message-Id" not in msg:
                domain = envelope_from[0].rpartition("@")[2] or self.hello
                msg["Message-Id"] = make_msgid("tocsin", domain=domain)
            plain = t.render(c.text, d, what=f"{what}.text") if c.text is not None else (
                t.render(DEFAULT_TEXT, d, what=f"{what}.text"))
            html = t.render(c.html, d, html=True, what=f"{what}.html") if c.html is not None else (
                t.render(DEFAULT_HTML, d, html=True, what=f"{what}.html"))
            if c.text == "":
                msg.set_content(html, subtype="html")
            else:
                msg.set_content(plain)
                if c.html != "":
                    msg.add_alternative(html, subtype="html")
        except (ValueError, TypeError, MessageError) as exc:
            raise DeliveryError(f"cannot build the email: {exc}", retryable=False) from None
        return msg, envelope_from[0], recipients

    # -- the connection -------------------------------------------------------------------------

    def _password(self) -> str:
        if self.password_file:
            return secret_from_file(self.password_file, self.password_field)
        return self.password or ""

    def _tls_context(self) -> ssl.SSLContext:
        t = self.config.tls_config or TLSConfig()
        ctx = _TLSContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.server_name = t.server_name
        key = "ca_file"
        try:
            if t.ca_file:
                ctx.load_verify_locations(cafile=t.ca_file)
            else:
                ctx.load_default_certs()
            if t.cert_file:
                key = "cert_file/key_file"
                ctx.load_cert_chain(t.cert_file, t.key_file)
        except (OSError, ssl.SSLError) as exc:  # SSLError is an OSError; strerror may be None
            raise DeliveryError(f"tls_config.{key}: {exc.strerror or exc}", retryable=False) from None
        if t.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    async def _authenticate(self, smtp: aiosmtplib.SMTP, host: str, encrypted: bool) -> None:
        if not self.username or not smtp.supports_extension("auth"):
            return  # as Alertmanager: a server that offers no AUTH gets none
        if not encrypted and not _is_loopback(host):
            raise DeliveryError(
                f"{host}: not sending credentials over an unencrypted connection; "
                "use STARTTLS (require_tls) or port 465", retryable=False)
        password = self._password()
        if not password:
            raise DeliveryError("auth_username is set but the password is empty", retryable=False)
        methods = [m.lower() for m in smtp.server_auth_methods]
        if "plain" in methods:
            token = base64.b64encode(f"{self.identity}\0{self.username}\0{password}".encode())
            answer = await smtp.execute_command(b"AUTH", b"PLAIN", token)
            if answer.code != 235:
                raise aiosmtplib.SMTPAuthenticationError(answer.code, answer.message)
        elif "login" in methods:
            await smtp.auth_login(self.username, password)
        else:
            raise DeliveryError(f"{host}: no AUTH mechanism tocsin supports (PLAIN, LOGIN) among "
                                f"{' '.join(smtp.server_auth_methods) or 'none'}", retryable=False)

    async def send(self, n: Notification) -> None:
        if not self.smarthost:
            raise DeliveryError("no SMTP server: set smarthost in this email_configs entry or "
                                "global.smtp_smarthost", retryable=False)
        try:
            host, port = _split_smarthost(self.smarthost)
        except ValueError as exc:
            raise DeliveryError(f"smarthost: {exc}", retryable=False) from None
        msg, sender, recipients = self.render(n)
        implicit = port == 465
        where = f"{host}:{port}"
        smtp = aiosmtplib.SMTP(
            hostname=host, port=port, local_hostname=self.hello, timeout=float(self.config.timeout),
            use_tls=implicit, start_tls=False, tls_context=await asyncio.to_thread(self._tls_context),
        )
        sent = False
        try:
            await smtp.connect()
            await self._hello(smtp)
            encrypted = implicit
            if not implicit and smtp.supports_extension("starttls"):
                await smtp.starttls()
                await self._hello(smtp)
                encrypted = True
            elif not implicit and self.require_tls:
                raise DeliveryError(f"{where} does not offer STARTTLS and require_tls is true",
                                    retryable=False)
            await self._authenticate(smtp, host, encrypted)
            refused, _ = await smtp.send_message(msg, sender=sender, recipients=recipients)
            sent = True
            if refused:
                log.warning("some recipients refused the email; sent to the others",
                            receiver=self.ctx.receiver, integration=self.ctx.integration,
                            refused={r: f"{a.code} {a.message}" for r, a in refused.items()})
        except DeliveryError:
            raise
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            raise DeliveryError(f"{where}: every recipient refused: {detail}",
                                retryable=not all(500 <= c < 600 for c in codes),
                                status=max(codes, default=None)) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"{where}: {_stage(exc)}: SMTP {exc.code} {exc.message}",
                                retryable=not 500 <= exc.code < 600, status=exc.code) from None
        except aiosmtplib.SMTPNotSupported as exc:  # SMTPUTF8 needed and not offered
            raise DeliveryError(f"{where}: {exc}", retryable=False) from None
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(f"{where}: TLS certificate not trusted: {exc.verify_message}; "
                                "see tls_config (ca_file, server_name)") from None
        except aiosmtplib.SMTPException as exc:  # timeouts, refused or dropped connections
            raise DeliveryError(f"{where}: {exc}") from None
        except OSError as exc:  # TLS handshake and other socket errors
            raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from None
        finally:
            if sent:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError):
                    pass
            smtp.close()

    @staticmethod
    async def _hello(smtp: aiosmtplib.SMTP) -> None:
        try:
            await smtp.ehlo()
        except aiosmtplib.SMTPHeloError:
            await smtp.helo()


def _stage(exc: aiosmtplib.SMTPResponseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return "authentication refused"
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return "sender refused"
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return "message refused"
    if isinstance(exc, aiosmtplib.SMTPHeloError):
        return "greeting refused"
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return "connection refused"
    return "refused"


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [ChannelKind("email", EmailConfig, EmailChannel, check=_check)]
