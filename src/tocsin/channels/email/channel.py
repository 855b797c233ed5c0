"""Sending an email over SMTP (aiosmtplib): implicit TLS or STARTTLS, AUTH, and
SMTP answers as delivery errors, permanent or retryable.

The email of a big group (:func:`tocsin.core.pacing.heavy`) is rendered, and
turned into the bytes sent, in a worker thread: the templates and the ``email``
package take seconds over ten thousand alerts, and each attempt renders again."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import ssl
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import structlog
from aiosmtplib.email import flatten_message

from tocsin.channels import ChannelContext, DeliveryError, rendered
from tocsin.channels.email.config import EmailConfig, split_smarthost
from tocsin.channels.email.render import message
from tocsin.channels.http import TLSConfig, secret_from_file
from tocsin.core.models import Notification
from tocsin.core.pacing import heavy, off_loop
from tocsin.notify.templates import Templates

__all__ = ["EmailChannel"]

log = structlog.get_logger("tocsin.notify.email")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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

    def render(self, n: Notification) -> tuple[EmailMessage, str, list[str]]:
        """The message, the envelope sender and the envelope recipients."""
        return message(self.config, self.templates, self.ctx, self.sender, self.hello, n)

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

    def _server(self) -> tuple[str, int]:
        """The smarthost's host and port; without a usable one the email fails for good."""
        if not self.smarthost:
            raise DeliveryError("no SMTP server: set smarthost in this email_configs entry or "
                                "global.smtp_smarthost", retryable=False)
        try:
            return split_smarthost(self.smarthost)
        except ValueError as exc:
            raise DeliveryError(f"smarthost: {exc}", retryable=False) from None

    async def send(self, n: Notification) -> None:
        host, port = self._server()
        big = heavy(n.alerts)
        msg, sender, recipients = await rendered(self.render, n)
        implicit = port == 465
        where = f"{host}:{port}"
        smtp = aiosmtplib.SMTP(
            hostname=host, port=port, local_hostname=self.hello, timeout=float(self.config.timeout),
            use_tls=implicit, start_tls=False, tls_context=await asyncio.to_thread(self._tls_context),
        )
        sent = False
        try:
            refused = await self._converse(smtp, host, implicit, where, msg, sender, recipients, big)
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
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await smtp.quit()
            smtp.close()

    async def _converse(self, smtp: aiosmtplib.SMTP, host: str, implicit: bool, where: str,
                        msg: EmailMessage, sender: str, recipients: list[str], big: bool) -> dict[str, Any]:
        """Greet, secure, authenticate, send; the recipients the server refused (others took it)."""
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
        if big:
            refused, _ = await _send_flattened(smtp, msg, sender, recipients)
        else:
            refused, _ = await smtp.send_message(msg, sender=sender, recipients=recipients)
        return refused

    @staticmethod
    async def _hello(smtp: aiosmtplib.SMTP) -> None:
        try:
            await smtp.ehlo()
        except aiosmtplib.SMTPHeloError:
            await smtp.helo()


async def _send_flattened(smtp: aiosmtplib.SMTP, msg: EmailMessage, sender: str,
                          recipients: list[str]) -> tuple[dict[str, Any], str]:
    """``smtp.send_message(msg, ...)``, the message made bytes in a worker thread: as
    aiosmtplib does it (SMTPUTF8 for addresses that need it, 8BITMIME where offered)."""
    options: list[str] = []
    utf8 = not (sender + "".join(recipients)).isascii()
    if utf8:
        if not smtp.supports_extension("smtputf8"):
            raise aiosmtplib.SMTPNotSupported(
                "An address containing non-ASCII characters was provided, but "
                "SMTPUTF8 is not supported by this server")
        options.append("SMTPUTF8")
    cte_type = "7bit"
    if smtp.supports_extension("8BITMIME"):
        options.append("BODY=8BITMIME")
        cte_type = "8bit"

    def flatten() -> bytes:
        return flatten_message(msg, utf8=utf8, cte_type=cte_type)

    return await smtp.sendmail(sender, recipients, await off_loop(flatten), mail_options=options)


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

