"""The ``email`` channel: one multipart (text + HTML) email per group notification.

Sent with aiosmtplib. Port 465 means implicit TLS; otherwise STARTTLS is used
when the server offers it, and required when ``require_tls`` is true (the
default, as Alertmanager). Keys and defaults follow Alertmanager's
``email_configs``; unset ones come from ``global.smtp_*``.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

import aiosmtplib
import msgspec

from tocsin import hookimpl
from tocsin.channels import ChannelConfig, ChannelContext, ChannelKind, DeliveryError
from tocsin.channels.http import TLSConfig
from tocsin.configtypes import Secret
from tocsin.models import Notification
from tocsin.templates import Template, Templates, data
from tocsin.validate import field_error

__all__ = ["EmailChannel", "EmailConfig"]

DEFAULT_SUBJECT = (
    "[{{ status|upper }}{% if status == 'firing' %}:{{ firing|length }}{% endif %}] "
    "{{ groupLabels.values()|join(' ') }}"
    "{% if commonLabels|length > groupLabels|length %} ("
    "{% for k, v in commonLabels|dictsort if k not in groupLabels %}{{ v }}{{ ' ' if not loop.last }}"
    "{% endfor %}){% endif %}"
)

DEFAULT_TEXT = """{{ firing|length }} firing, {{ resolved|length }} resolved (receiver {{ receiver }})
{% for a in alerts %}

[{{ a.status|upper }}] {{ a.labels.alertname }}
{% for k, v in a.annotations|dictsort %}
  {{ k }}: {{ v }}
{% endfor %}
  Labels:
{% for k, v in a.labels|dictsort %}
    {{ k }} = {{ v }}
{% endfor %}
  Started: {{ a.startsAt }}{% if a.status == 'resolved' %}, ended: {{ a.endsAt }}{% endif %}

{% if a.generatorURL %}
  Source: {{ a.generatorURL }}
{% endif %}
{% endfor %}
{% if externalURL %}

Sent by tocsin: {{ externalURL }}
{% endif %}
"""

DEFAULT_HTML = """<!DOCTYPE html>
<html><body style="font-family: sans-serif">
<h2 style="color: {{ '#d63232' if status == 'firing' else '#2eb67d' }}">
{{ firing|length }} firing, {{ resolved|length }} resolved</h2>
{% for a in alerts %}
<div style="border-left: 4px solid {{ '#d63232' if a.status == 'firing' else '#2eb67d' }};
padding-left: 8px; margin-bottom: 16px">
<h3>[{{ a.status|upper }}] {{ a.labels.alertname }}</h3>
{% for k, v in a.annotations|dictsort %}<p><b>{{ k }}</b>: {{ v }}</p>{% endfor %}
<table>{% for k, v in a.labels|dictsort %}<tr><td>{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}</table>
<p>Started {{ a.startsAt }}{% if a.status == 'resolved' %}, ended {{ a.endsAt }}{% endif %}</p>
{% if a.generatorURL %}<p><a href="{{ a.generatorURL }}">Source</a></p>{% endif %}
</div>
{% endfor %}
<p style="color: #888">Sent by tocsin{% if externalURL %}:
<a href="{{ externalURL }}">{{ externalURL }}</a>{% endif %} to receiver {{ receiver }}</p>
</body></html>
"""


class EmailConfig(ChannelConfig, kw_only=True):
    send_resolved: bool = False
    to: str
    from_: str | None = msgspec.field(default=None, name="from")
    smarthost: str | None = None
    hello: str | None = None
    auth_username: str | None = None
    auth_password: Secret | None = None
    auth_password_file: str | None = None
    auth_identity: str | None = None
    require_tls: bool | None = None
    tls_config: TLSConfig | None = None
    headers: dict[str, Template] = {}
    text: Template | None = None
    html: Template | None = None

    def __post_init__(self) -> None:
        if not parseaddr(self.to)[1]:
            raise field_error("to", f"no email address in {self.to!r}")
        if self.auth_password and self.auth_password_file:
            raise field_error("auth_password_file", "set auth_password or auth_password_file, not both")
        if self.smarthost is not None:
            _split_smarthost(self.smarthost, "smarthost")


def _split_smarthost(value: str, where: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise field_error(where, f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _check(config: EmailConfig, g: object) -> list[tuple[str, str]]:
    problems = []
    if not (config.smarthost or getattr(g, "smtp_smarthost", None)):
        problems.append(("smarthost", "no SMTP server: set smarthost here or global.smtp_smarthost"))
    if not (config.from_ or getattr(g, "smtp_from", None)):
        problems.append(("from", "no sender: set from here or global.smtp_from"))
    return problems


class EmailChannel:
    def __init__(self, config: EmailConfig, ctx: ChannelContext) -> None:
        self.config = config
        self.ctx = ctx
        self.g = ctx.global_config
        self.templates: Templates = ctx.templates or Templates()

    def _setting(self, own: object, global_name: str) -> object:
        return own if own is not None else getattr(self.g, global_name, None)

    def render(self, n: Notification) -> EmailMessage:
        c, t = self.config, self.templates
        ctx = data(n, self.ctx.external_url)
        what = f"{self.ctx.receiver}/{self.ctx.integration}"
        msg = EmailMessage()
        headers = {k.title(): v for k, v in c.headers.items()}
        msg["Subject"] = t.render(headers.pop("Subject", DEFAULT_SUBJECT), ctx, what=f"{what}.Subject")
        msg["From"] = headers.pop("From", None) or str(self._setting(c.from_, "smtp_from"))
        msg["To"] = headers.pop("To", None) or c.to
        for name, source in headers.items():
            msg[name] = t.render(source, ctx, what=f"{what}.headers.{name}")
        msg["Date"] = formatdate(n.now, localtime=False)
        msg["Message-Id"] = make_msgid(domain=str(self._setting(c.hello, "smtp_hello") or "tocsin"))
        msg.set_content(t.render(c.text or DEFAULT_TEXT, ctx, what=f"{what}.text"))
        msg.add_alternative(t.render(c.html or DEFAULT_HTML, ctx, html=True, what=f"{what}.html"),
                            subtype="html")
        return msg

    def _password(self) -> str | None:
        path = self.config.auth_password_file or (
            None if self.config.auth_password else getattr(self.g, "smtp_auth_password_file", None))
        if path:
            try:
                return Path(path).read_text().strip()
            except OSError as exc:
                raise DeliveryError(f"auth_password_file: {exc.strerror}", retryable=False) from None
        return self._setting(self.config.auth_password, "smtp_auth_password")  # type: ignore[return-value]

    def _tls_context(self) -> ssl.SSLContext | None:
        t = self.config.tls_config
        if t is None:
            return None
        ctx = ssl.create_default_context(cafile=t.ca_file)
        if t.cert_file:
            ctx.load_cert_chain(t.cert_file, t.key_file)
        if t.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    async def send(self, n: Notification) -> None:
        c = self.config
        smarthost = self._setting(c.smarthost, "smtp_smarthost")
        sender = self._setting(c.from_, "smtp_from")
        if not smarthost or not sender:
            raise DeliveryError("no smarthost or from address configured", retryable=False)
        host, port = _split_smarthost(str(smarthost), "smarthost")
        require_tls = self._setting(c.require_tls, "smtp_require_tls")
        implicit = port == 465
        msg = self.render(n)
        username = self._setting(c.auth_username, "smtp_auth_username")
        tls_ctx = self._tls_context()
        try:
            await aiosmtplib.send(
                msg, hostname=host, port=port, sender=parseaddr(str(sender))[1],
                recipients=[a for _, a in [parseaddr(x) for x in c.to.split(",")] if a],
                username=username or None, password=self._password() if username else None,
                use_tls=implicit, start_tls=None if implicit else (True if require_tls else None),
                tls_context=tls_ctx,
                local_hostname=str(self._setting(c.hello, "smtp_hello") or "localhost"),
                timeout=float(c.timeout),
            )
        except aiosmtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.code < 600
            raise DeliveryError(f"{host}:{port}: SMTP {exc.code}: {exc.message}",
                                retryable=not permanent, status=exc.code) from None
        except aiosmtplib.SMTPConnectError as exc:
            raise DeliveryError(f"{host}:{port}: {exc}") from None
        except aiosmtplib.SMTPException as exc:
            text = str(exc)
            # STARTTLS required but not offered will not fix itself on a retry.
            raise DeliveryError(f"{host}:{port}: {text}",
                                retryable="STARTTLS" not in text.upper()) from None
        except OSError as exc:
            raise DeliveryError(f"{host}:{port}: {exc}") from None


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [ChannelKind("email", EmailConfig, EmailChannel, check=_check)]
