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

This module is the plugin (entry point ``email``); the entry's keys are in
:mod:`~tocsin.channels.email.config`, the message in
:mod:`~tocsin.channels.email.render`, the SMTP conversation in
:mod:`~tocsin.channels.email.channel`.
"""

from __future__ import annotations

from tocsin import hookimpl
from tocsin.channels import ChannelKind
from tocsin.channels.email.channel import EmailChannel
from tocsin.channels.email.config import EmailConfig, check
from tocsin.channels.email.render import DEFAULT_HTML, DEFAULT_SUBJECT, DEFAULT_TEXT

__all__ = [
    "DEFAULT_HTML", "DEFAULT_SUBJECT", "DEFAULT_TEXT", "EmailChannel", "EmailConfig", "tocsin_channel_kinds",
]


@hookimpl
def tocsin_channel_kinds() -> list[ChannelKind]:
    return [ChannelKind("email", EmailConfig, EmailChannel, check=check)]
