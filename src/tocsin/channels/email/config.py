"""``email_configs``: the entry's keys, checked as the config loads, and what
can only be checked with ``global:`` in sight (:func:`check`)."""

from __future__ import annotations

import re
from email.utils import getaddresses
from typing import Any

import msgspec

from tocsin.channels import ChannelConfig
from tocsin.channels.http import TLSConfig
from tocsin.config.types import Secret
from tocsin.config.validate import field_error
from tocsin.notify.templates import Template

__all__ = ["EmailConfig", "addresses", "check", "is_template", "split_smarthost"]

#: RFC 5322 field names: printable ASCII but the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+")


def _canonical(name: str) -> str:
    """``message-id`` -> ``Message-Id``, as Go's ``CanonicalMIMEHeaderKey`` (Alertmanager)."""
    return "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def addresses(text: str) -> list[str]:
    """The addresses of a list such as ``"Ops <ops@x.org>, b@y.org"``; ValueError if one is bad."""
    pairs = getaddresses([text])
    out = [addr for _, addr in pairs if addr]
    if not out or any("@" not in a or a.startswith("@") or a.endswith("@") for a in out):
        raise ValueError(f"no valid email address list in {text!r}")
    return out


def split_smarthost(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


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
        self._check_addresses()
        if self.auth_password and self.auth_password_file:
            raise field_error("auth_password_file", "set auth_password or auth_password_file, not both")
        if self.smarthost is not None:
            try:
                split_smarthost(self.smarthost)
            except ValueError as exc:
                raise field_error("smarthost", str(exc)) from None
        if self.html == "" and self.text == "":
            raise field_error("html", "html and text cannot both be empty")
        self.headers = _canonical_headers(self.headers)

    def _check_addresses(self) -> None:
        """``to`` and ``from``, unless templates (those are checked once rendered)."""
        if not self.to.strip():
            raise field_error("to", "must not be empty")
        if not is_template(self.to):
            try:
                addresses(self.to)
            except ValueError as exc:
                raise field_error("to", str(exc)) from None
        if self.from_ is not None and not is_template(self.from_):
            try:
                if len(addresses(self.from_)) != 1:
                    raise ValueError(f"must be exactly one address, got {self.from_!r}")
            except ValueError as exc:
                raise field_error("from", str(exc)) from None


def _canonical_headers(configured: dict[str, Template]) -> dict[str, Template]:
    """The header templates by canonical name (``x-team`` -> ``X-Team``); names must be valid
    and, case aside, distinct."""
    headers: dict[str, Template] = {}
    for name, value in configured.items():
        if not _FIELD_NAME.fullmatch(name):
            raise field_error(f"headers.{name}", "not a valid header name")
        key = _canonical(name)
        if key in headers:
            raise field_error(f"headers.{name}", f"duplicate header {key!r} (names are case-insensitive)")
        headers[key] = value
    return headers


def check(config: EmailConfig, g: Any) -> list[tuple[str, str]]:
    """What one entry cannot know alone: defaults that must come from ``global:``."""
    problems = []
    if not config.smarthost:
        own = getattr(g, "smtp_smarthost", None)
        if not own:
            problems.append(("smarthost", "no SMTP server: set smarthost here or global.smtp_smarthost"))
        else:
            try:
                split_smarthost(own)
            except ValueError as exc:
                problems.append(("smarthost", f"global.smtp_smarthost: {exc}"))
    if config.from_ is None:
        sender = getattr(g, "smtp_from", None)
        if not sender:
            problems.append(("from", "no sender: set from here or global.smtp_from"))
        elif not is_template(sender):
            try:
                if len(addresses(sender)) != 1:
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

