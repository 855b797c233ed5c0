"""The ``webhook`` remediation kind: send one HTTP request for the alert.

Registered through the ``tocsin.plugins`` entry point ``remediation-webhook``.

The body is JSON (the alert's data, or ``body_template``), optionally with a
bearer token and an HMAC-SHA256 signature of the body in
``X-Tocsin-Signature: sha256=<hex>`` (the webhook channel's format).
Credentials are never part of what is shown: the rendered request has the URL
cut to scheme and host and ``<secret>`` for each credential; ``execute`` reads
the real URL and credentials (files too, so they can be rotated) when it runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from typing import Any, Literal

import aiohttp
import msgspec

from tocsin import hookimpl
from tocsin.channels import DeliveryError
from tocsin.channels.http import HTTPConfig, redact_url
from tocsin.config.secrets import SecretFileError, read_secret_file, read_url_file
from tocsin.config.types import URL, Secret
from tocsin.config.validate import field_error
from tocsin.notify.templates import Template, Templates
from tocsin.remediation import (
    MAX_OUTPUT,
    ExecContext,
    Outcome,
    RemediationConfig,
    RemediationError,
    RemediationKind,
    Rendered,
)
from tocsin.remediation.kinds.output import OutputCapture, check_max_output, fail
from tocsin.remediation.kinds.templating import CompiledTemplate, TemplateText, has_markup

__all__ = ["SECRET_SHOWN", "WEBHOOK", "WebhookRemediation", "WebhookRemediationConfig", "shown_url"]

#: Response bytes read (and counted) past ``max_output`` before tocsin stops reading.
_HTTP_DISCARD = 1024 * 1024
#: Shown in a rendered request instead of a credential.
SECRET_SHOWN = "<secret>"

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def shown_url(url: str) -> str:
    """The URL as approvers and records see it: scheme and host, no credentials, path or query."""
    parts = url.split("://", 1)
    if len(parts) == 2:
        scheme, rest = parts
        netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        url = f"{scheme}://{netloc.rpartition('@')[2]}/"
    return redact_url(url)


def _read_secret(path: str, field: str) -> str:
    try:
        return read_secret_file(path, field)
    except SecretFileError as exc:
        raise RemediationError(str(exc)) from None


class WebhookRemediationConfig(RemediationConfig):
    url: URL | None = None
    #: File holding the URL (read when rendered and when run, so it can be rotated).
    url_file: str | None = None
    method: Literal["POST", "PUT", "PATCH", "DELETE"] = "POST"
    #: Extra headers; values are templates and are shown to approvers (no credentials here).
    headers: dict[str, TemplateText] = {}
    #: Jinja2 template for the body; it must render JSON. Default: the alert's data as JSON.
    body_template: Template | None = None
    bearer_token: Secret | None = None
    bearer_token_file: str | None = None
    #: Signs the body: ``<hmac_header>: sha256=<hex HMAC-SHA256 of the body>``.
    hmac_secret: Secret | None = None
    hmac_secret_file: str | None = None
    hmac_header: str = "X-Tocsin-Signature"
    #: Statuses that count as success; empty: any 2xx.
    expected_status: list[int] = []
    #: TLS, basic auth, authorization, redirects.
    http_config: HTTPConfig | None = None
    #: Response body bytes kept.
    max_output: int = MAX_OUTPUT

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in self.headers:
            if not _HEADER_NAME.match(name):
                raise field_error(f"headers.{name}", "is not a valid HTTP header name")
        if not _HEADER_NAME.match(self.hmac_header):
            raise field_error("hmac_header", "is not a valid HTTP header name")
        for i, status in enumerate(self.expected_status):
            if not 100 <= status <= 599:
                raise field_error(f"expected_status[{i}]", f"{status} is not an HTTP status")
        check_max_output(self.max_output)


_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization")


def _webhook_check(c: WebhookRemediationConfig) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if (c.url is None) == (c.url_file is None):
        problems.append(("url", "exactly one of url and url_file must be set"))
    elif c.url is not None and has_markup(c.url):
        # Sent as written, braces and all: say so rather than post to a URL nobody meant.
        problems.append(("url", "is not a template: alert data never picks where the request goes "
                                "(put alert data in headers or body_template)"))
    if c.bearer_token and c.bearer_token_file:
        problems.append(("bearer_token_file", "set bearer_token or bearer_token_file, not both"))
    if c.hmac_secret and c.hmac_secret_file:
        problems.append(("hmac_secret_file", "set hmac_secret or hmac_secret_file, not both"))
    h = c.http_config
    if (c.bearer_token or c.bearer_token_file) and h is not None and (
            h.authorization or h.basic_auth or h.bearer_token or h.bearer_token_file):
        problems.append(("bearer_token", "http_config already sets the Authorization header; set one"))
    for name in c.headers:
        if name.lower() in _CREDENTIAL_HEADERS:
            problems.append((f"headers.{name}", "headers are shown to approvers and kept in records: put "
                                                "credentials in bearer_token(_file) or http_config"))
        elif name.lower() == c.hmac_header.lower():
            problems.append((f"headers.{name}", "this is the signature header (hmac_header)"))
    return problems


class WebhookRemediation:
    """``render`` -> ``{"method", "url", "headers", "body"}``: the URL cut to scheme and host,
    credentials shown as ``<secret>``. ``execute`` reads the real URL and credentials then."""

    def __init__(self, config: WebhookRemediationConfig, templates: Templates) -> None:
        self.config = config
        self.headers = {k: CompiledTemplate(templates, v, f"headers.{k}") for k, v in config.headers.items()}
        self.body = (CompiledTemplate(templates, config.body_template, "body_template", json_body=True)
                     if config.body_template is not None else None)
        h = config.http_config
        self.has_auth = bool(config.bearer_token or config.bearer_token_file or (h is not None and (
            h.authorization or h.basic_auth or h.bearer_token or h.bearer_token_file)))
        self.signs = bool(config.hmac_secret or config.hmac_secret_file)
        self.managed = {"authorization", config.hmac_header.lower()}

    def url(self) -> str:
        if self.config.url is not None:
            return self.config.url
        assert self.config.url_file is not None
        try:
            return read_url_file(self.config.url_file, "url_file")
        except SecretFileError as exc:
            raise RemediationError(str(exc)) from None

    def render_body(self, data: dict[str, Any]) -> str:
        if self.body is None:
            return msgspec.json.encode({**data, "remediation": self.config.name}).decode()
        text = self.body.render(data)
        try:
            json.loads(text)
        except ValueError as exc:
            raise RemediationError(f"body_template did not render JSON: {exc}") from None
        return text

    def render(self, data: dict[str, Any]) -> Rendered:
        shown = shown_url(self.url())
        body = self.render_body(data)
        headers = {"Content-Type": "application/json"}
        for name, t in self.headers.items():
            value = t.render(data)
            if any(c in value for c in "\r\n\0"):
                raise RemediationError(f"headers.{name} rendered with a line break or NUL, which an HTTP "
                                       "header cannot hold; refusing to send")
            if name.lower() == "content-type":
                headers.pop("Content-Type", None)
            headers[name] = value
        if self.has_auth:
            headers["Authorization"] = SECRET_SHOWN
        if self.signs:
            headers[self.config.hmac_header] = SECRET_SHOWN
        return Rendered(summary=f"{self.config.method} {shown}",
                        detail={"method": self.config.method, "url": shown, "headers": headers, "body": body})

    def credential_headers(self, body: bytes) -> dict[str, str]:
        """Authorization and signature, read now (files are read at each run, so they can be rotated)."""
        c = self.config
        out: dict[str, str] = {}
        if c.bearer_token_file:
            out["Authorization"] = f"Bearer {_read_secret(c.bearer_token_file, 'bearer_token_file')}"
        elif c.bearer_token:
            out["Authorization"] = f"Bearer {c.bearer_token}"
        elif c.http_config is not None:
            try:
                out.update(c.http_config.headers())
            except DeliveryError as exc:  # a secret file of http_config; the message names it
                raise RemediationError(str(exc)) from None
        secret = _read_secret(c.hmac_secret_file, "hmac_secret_file") if c.hmac_secret_file else c.hmac_secret
        if secret:
            # As the webhook channel signs: GitHub's format, over the exact bytes sent.
            digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            out[c.hmac_header] = f"sha256={digest}"
        return out

    async def execute(self, rendered: Rendered, ctx: ExecContext) -> Outcome:
        d = rendered.detail
        body_text, shown_headers = d.get("body"), d.get("headers") or {}
        if not isinstance(body_text, str) or not isinstance(shown_headers, dict):
            return fail("the rendered request has no body or headers; nothing was sent")
        body = body_text.encode()
        c = self.config
        try:
            url = self.url()
            headers = {"User-Agent": "tocsin"}
            headers.update({k: str(v) for k, v in shown_headers.items() if k.lower() not in self.managed})
            headers.update(self.credential_headers(body))
            ssl_ctx = c.http_config.ssl_context() if c.http_config is not None else None
        except RemediationError as exc:
            return fail(str(exc))
        except OSError as exc:  # TLS files
            return fail(f"http_config.tls_config: {exc.strerror or exc}")
        shown = shown_url(url)
        capture = OutputCapture(c.max_output)
        status: int | None = None
        try:
            async with asyncio.timeout(ctx.timeout), ctx.session.request(
                c.method, url, data=body, headers=headers,
                allow_redirects=c.http_config.follow_redirects if c.http_config is not None else True,
                ssl=ssl_ctx if ssl_ctx is not None else True,
            ) as resp:
                status = resp.status
                async for chunk in resp.content.iter_any():
                    capture.feed(chunk)
                    if capture.total > c.max_output + _HTTP_DISCARD:
                        capture.stopped = True
                        break
        except TimeoutError:
            return fail(f"timed out after {ctx.timeout:g}s", http_status=status, output=capture.text())
        except (aiohttp.ClientError, ValueError) as exc:
            text = str(exc).replace(url, shown)  # never echo a URL that may carry a token
            return fail(f"{shown}: {type(exc).__name__}: {text}".rstrip(": "), http_status=status,
                         output=capture.text())
        output = capture.text()
        expected = c.expected_status
        ok = status in expected if expected else 200 <= status < 300
        if ok:
            return Outcome(ok=True, http_status=status, output=output)
        want = ", ".join(map(str, expected)) if expected else "2xx"
        return fail(f"HTTP {status}, expected {want}", http_status=status, output=output)


WEBHOOK = RemediationKind("webhook", WebhookRemediationConfig, WebhookRemediation, _webhook_check)


@hookimpl
def tocsin_remediation_kinds() -> list[RemediationKind]:
    return [WEBHOOK]
