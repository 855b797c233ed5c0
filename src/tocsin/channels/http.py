"""HTTP client settings shared by HTTP channels (Alertmanager's ``http_config``), and
reading a channel's ``*_file`` secrets as a delivery does."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Collection
from typing import Any

import aiohttp

from tocsin.channels import DeliveryError
from tocsin.config.secrets import SecretFileError, read_secret_file, read_url_file
from tocsin.config.types import URL, ConfigBase, Secret
from tocsin.config.validate import field_error

__all__ = [
    "HTTPConfig", "entry_or_global_secret", "post_json", "redact_url", "request", "secret_from_file", "send",
    "url_from_file",
]


def redact_url(url: str) -> str:
    """Scheme and host only: for URLs that may carry a token (Slack, Discord, Teams and
    webhook URLs, as Alertmanager treats them as secrets)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]  # never user:password@
    return f"{parts.scheme}://{host}/<redacted>"


def secret_from_file(path: str, field: str) -> Secret:
    """The secret in ``path``, read now (so it can be rotated). A file that cannot be read fails
    the delivery for good, with a message naming ``field``: retrying would not make it readable."""
    try:
        return read_secret_file(path, field)
    except SecretFileError as exc:
        raise DeliveryError(str(exc), retryable=False) from None


def entry_or_global_secret(entry: Any, global_config: Any, field: str, global_field: str, what: str) -> str:
    """A credential an entry may set (``field`` or ``field_file``) and the ``global`` section
    may default (``global_field`` or ``global_field_file``), as Alertmanager's OpsGenie and
    VictorOps keys; a file is read now, so it can be rotated. Empty everywhere fails the
    delivery for good, naming ``what``."""
    value, path = getattr(entry, field, None), getattr(entry, f"{field}_file", None)
    shown = f"{field}_file"
    if not (value or path):
        value = getattr(global_config, global_field, None)
        path, shown = getattr(global_config, f"{global_field}_file", None), f"global.{global_field}_file"
    if path:
        value = secret_from_file(path, shown)
    text = str(value or "").strip()
    if not text:
        raise DeliveryError(f"{what} is empty", retryable=False)
    return text


def url_from_file(path: str, field: str) -> URL:
    """The http(s) URL in ``path``, read now; as :func:`secret_from_file`."""
    try:
        return read_url_file(path, field)
    except SecretFileError as exc:
        raise DeliveryError(str(exc), retryable=False) from None


class Authorization(ConfigBase):
    type: str = "Bearer"
    credentials: Secret | None = None
    credentials_file: str | None = None

    def __post_init__(self) -> None:
        if self.credentials and self.credentials_file:
            raise field_error("credentials_file", "set credentials or credentials_file, not both")


class BasicAuth(ConfigBase):
    username: str = ""
    password: Secret | None = None
    password_file: str | None = None

    def __post_init__(self) -> None:
        if self.password and self.password_file:
            raise field_error("password_file", "set password or password_file, not both")


class TLSConfig(ConfigBase):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False


class HTTPConfig(ConfigBase):
    authorization: Authorization | None = None
    basic_auth: BasicAuth | None = None
    bearer_token: Secret | None = None
    bearer_token_file: str | None = None
    tls_config: TLSConfig | None = None
    follow_redirects: bool = True
    #: Accepted for Alertmanager's configs (whose ``config show`` writes it) and ignored:
    #: tocsin's HTTP client speaks HTTP/1.1 only.
    enable_http2: bool = True

    def __post_init__(self) -> None:
        auths = [self.authorization, self.basic_auth, self.bearer_token or self.bearer_token_file]
        if sum(1 for a in auths if a) > 1:
            raise field_error(
                "authorization", "at most one of authorization, basic_auth, bearer_token may be set"
            )

    def headers(self) -> dict[str, str]:
        """Authentication headers; secrets in files are read at each call so rotation works."""
        if self.authorization is not None:
            a = self.authorization
            cred = (secret_from_file(a.credentials_file, "http_config.authorization.credentials_file")
                    if a.credentials_file else (a.credentials or ""))
            return {"Authorization": f"{a.type} {cred}"}
        if self.bearer_token or self.bearer_token_file:
            tok = (secret_from_file(self.bearer_token_file, "http_config.bearer_token_file")
                   if self.bearer_token_file else self.bearer_token)
            return {"Authorization": f"Bearer {tok}"}
        if self.basic_auth is not None:
            b = self.basic_auth
            pw = (secret_from_file(b.password_file, "http_config.basic_auth.password_file")
                  if b.password_file else (b.password or ""))
            raw = f"{b.username}:{pw}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return {}

    def ssl_context(self) -> ssl.SSLContext | None:
        t = self.tls_config
        if t is None:
            return None
        ctx = ssl.create_default_context(cafile=t.ca_file)
        if t.cert_file:
            ctx.load_cert_chain(t.cert_file, t.key_file)
        if t.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime
        from time import time

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time())
        except (TypeError, ValueError):
            return None


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    *,
    http: HTTPConfig | None,
    timeout: float,
    headers: dict[str, str] | None = None,
    secret_url: bool = False,
) -> int:
    """POST a JSON body; return the status, or raise DeliveryError classifying the failure.

    With ``secret_url`` the URL is shown as scheme and host only in errors, which end up
    in logs and the dead-letter table."""
    return await send(session, "POST", url, body, http=http, timeout=timeout, headers=headers,
                      secret_url=secret_url)


#: The statuses below 500 worth retrying, unless a channel says otherwise.
RETRY_STATUSES = frozenset({408, 429})


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: bytes,
    *,
    http: HTTPConfig | None,
    timeout: float,
    headers: dict[str, str] | None = None,
    secret_url: bool = False,
    content_type: str = "application/json",
    retry_statuses: Collection[int] = RETRY_STATUSES,
) -> int:
    """Send ``body`` with ``method``; the status, as :func:`request`."""
    status, _ = await request(session, method, url, body, http=http, timeout=timeout, headers=headers,
                              secret_url=secret_url, content_type=content_type,
                              retry_statuses=retry_statuses)
    return status


async def request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: bytes | None = None,
    *,
    http: HTTPConfig | None,
    timeout: float,
    headers: dict[str, str] | None = None,
    secret_url: bool = False,
    content_type: str = "application/json",
    retry_statuses: Collection[int] = RETRY_STATUSES,
) -> tuple[int, bytes]:
    """One HTTP request with the integration's ``http_config``: the status and body of a 2xx
    answer, or DeliveryError classifying the failure (5xx, one of ``retry_statuses`` and
    network errors are retried; ``Retry-After`` is kept; another 4xx or 3xx is final).
    ``headers`` come last, so they override the ``http_config``'s (a signed request's
    ``Authorization``)."""
    shown = redact_url(url) if secret_url else url
    hdrs = {"Content-Type": content_type, "User-Agent": "tocsin"} if body is not None \
        else {"User-Agent": "tocsin"}
    if http is not None:
        hdrs.update(http.headers())
    if headers:
        hdrs.update(headers)
    ssl_ctx = http.ssl_context() if http is not None else None
    try:
        async with session.request(
            method,
            url,
            data=body,
            headers=hdrs,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=http.follow_redirects if http is not None else True,
            ssl=ssl_ctx if ssl_ctx is not None else True,
        ) as resp:
            status = resp.status
            if status < 300:
                return status, await resp.read()
            detail = (await resp.text(errors="replace"))[:512]
            retryable = status >= 500 or status in retry_statuses
            raise DeliveryError(
                f"{shown}: HTTP {status}: {detail}".rstrip(": "),
                retryable=retryable,
                status=status,
                retry_after=_retry_after(resp.headers.get("Retry-After")),
            )
    except TimeoutError:
        raise DeliveryError(f"{shown}: no answer within {timeout:g}s") from None
    except aiohttp.ClientError as exc:
        text = str(exc).replace(url, shown) if secret_url else str(exc)
        raise DeliveryError(f"{shown}: {type(exc).__name__}: {text}") from None
