"""HTTP client settings shared by HTTP channels (Alertmanager's ``http_config``), and
reading a channel's ``*_file`` secrets as a delivery does."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ssl
import time
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import quote_plus, urlsplit

import aiohttp

from tocsin.channels import DeliveryError, keepalive
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


_TLS_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
                 "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


class TLSConfig(ConfigBase):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False
    #: The oldest TLS version to speak: TLS10, TLS11, TLS12 or TLS13, as Alertmanager names them.
    min_version: str | None = None

    def __post_init__(self) -> None:
        if self.min_version is not None and self.min_version not in _TLS_VERSIONS:
            raise field_error("min_version", f"must be one of {', '.join(_TLS_VERSIONS)}")

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        if self.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.min_version is not None:
            ctx.minimum_version = _TLS_VERSIONS[self.min_version]
        return ctx


class OAuth2Config(ConfigBase):
    """OAuth 2.0 client credentials, as Alertmanager's ``http_config.oauth2``: a token from
    ``token_url``, sent as ``Authorization: Bearer``, kept until it expires."""

    client_id: str = ""
    client_secret: Secret | None = None
    client_secret_file: str | None = None
    scopes: list[str] = []
    token_url: URL | None = None
    endpoint_params: dict[str, str] = {}
    proxy_url: str | None = None
    tls_config: TLSConfig | None = None

    def __post_init__(self) -> None:
        if self.token_url is None:
            raise field_error("token_url", "required")
        if self.client_secret and self.client_secret_file:
            raise field_error("client_secret_file", "set client_secret or client_secret_file, not both")


class HTTPConfig(ConfigBase):
    authorization: Authorization | None = None
    basic_auth: BasicAuth | None = None
    bearer_token: Secret | None = None
    bearer_token_file: str | None = None
    oauth2: OAuth2Config | None = None
    #: An HTTP proxy every request of the integration goes through (``http://[user:pass@]host:port``).
    #: Any text loads, as in Alertmanager; one that is no http URL fails each delivery, saying so.
    proxy_url: str | None = None
    tls_config: TLSConfig | None = None
    follow_redirects: bool = True
    #: Accepted for Alertmanager's configs (whose ``config show`` writes it) and ignored:
    #: tocsin's HTTP client speaks HTTP/1.1 only.
    enable_http2: bool = True

    def __post_init__(self) -> None:
        auths = [self.authorization, self.basic_auth, self.bearer_token or self.bearer_token_file,
                 self.oauth2]
        if sum(1 for a in auths if a) > 1:
            raise field_error(
                "authorization", "at most one of authorization, basic_auth, bearer_token, oauth2 may be set"
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
        return None if self.tls_config is None else self.tls_config.context()


def _proxy(url: str | None, field: str) -> str | None:
    """The proxy to send through, or None; DeliveryError (final) for one that is no http URL."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryError(f"{field} is not an http:// or https:// URL with a host", retryable=False)
    return url


#: OAuth 2.0 tokens by (token URL, client id, secret, scopes): ``(token, expires at)``.
_tokens: dict[tuple[str, ...], tuple[str, float]] = {}
_token_locks: dict[tuple[str, ...], asyncio.Lock] = {}
#: A token is fetched again this long before it expires.
_TOKEN_MARGIN = 10.0


async def oauth2_token(session: aiohttp.ClientSession, o: OAuth2Config, timeout: float) -> str:
    """A client-credentials token for ``o``: the one held while it is valid, else a new one
    from ``token_url`` (client id and secret in HTTP basic auth, as RFC 6749 prefers)."""
    secret = str(secret_from_file(o.client_secret_file, "http_config.oauth2.client_secret_file")
                 if o.client_secret_file else (o.client_secret or ""))
    key = (str(o.token_url), o.client_id, hashlib.sha256(secret.encode()).hexdigest(), " ".join(o.scopes))
    async with _token_locks.setdefault(key, asyncio.Lock()):
        held = _tokens.get(key)
        if held is not None and held[1] > time.monotonic():
            return held[0]
        form = {"grant_type": "client_credentials", **o.endpoint_params}
        if o.scopes:
            form["scope"] = " ".join(o.scopes)
        tls = o.tls_config.context() if o.tls_config is not None else None
        shown = redact_url(str(o.token_url))
        try:
            # RFC 6749 2.3.1: id and secret form-encoded, then basic auth (as Go's oauth2 sends them).
            basic = base64.b64encode(f"{quote_plus(o.client_id)}:{quote_plus(secret)}".encode()).decode()
            async with session.post(str(o.token_url), data=form, headers={"Authorization": f"Basic {basic}"},
                                    proxy=_proxy(o.proxy_url, "http_config.oauth2.proxy_url"),
                                    timeout=aiohttp.ClientTimeout(total=timeout),
                                    ssl=tls if tls is not None else True) as resp:
                if resp.status >= 300:
                    raise DeliveryError(f"oauth2 token from {shown}: HTTP {resp.status}", status=resp.status,
                                        retryable=resp.status >= 500 or resp.status == 429)
                answer = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise DeliveryError(f"oauth2 token from {shown}: {type(exc).__name__}") from None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise DeliveryError(f"oauth2 token from {shown}: no access_token in the answer")
        expires_in = answer.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 3600.0
        _tokens[key] = (token, time.monotonic() + max(0.0, lifetime - _TOKEN_MARGIN))
        return token


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
    lean: bool = False,
) -> int:
    """POST a JSON body; return the status, or raise DeliveryError classifying the failure.

    With ``secret_url`` the URL is shown as scheme and host only in errors, which end up
    in logs and the dead-letter table; ``lean`` as :func:`request`."""
    return await send(session, "POST", url, body, http=http, timeout=timeout, headers=headers,
                      secret_url=secret_url, lean=lean)


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
    lean: bool = False,
) -> int:
    """Send ``body`` with ``method``; the status, as :func:`request`."""
    status, _ = await request(session, method, url, body, http=http, timeout=timeout, headers=headers,
                              secret_url=secret_url, content_type=content_type,
                              retry_statuses=retry_statuses, lean=lean)
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
    lean: bool = False,
) -> tuple[int, bytes]:
    """One HTTP request with the integration's ``http_config``: the status and body of a 2xx
    answer, or DeliveryError classifying the failure (5xx, one of ``retry_statuses`` and
    network errors are retried; ``Retry-After`` is kept; another 4xx or 3xx is final).
    ``headers`` come last, so they override the ``http_config``'s (a signed request's
    ``Authorization``). ``lean``: an ``http://`` request goes through
    :mod:`tocsin.channels.keepalive` (the same answers, less CPU), a redirect it gets
    through aiohttp."""
    shown = redact_url(url) if secret_url else url
    hdrs = {"Content-Type": content_type, "User-Agent": "tocsin"} if body is not None \
        else {"User-Agent": "tocsin"}
    if http is not None:
        hdrs.update(http.headers())
        if http.oauth2 is not None:
            hdrs["Authorization"] = f"Bearer {await oauth2_token(session, http.oauth2, timeout)}"
    if headers:
        hdrs.update(headers)
    target = keepalive.usable(session, url, http, hdrs) if lean else None
    try:
        if target is not None:
            deadline = asyncio.get_running_loop().time() + timeout
            try:
                async with asyncio.timeout(timeout):
                    answer = await keepalive.pool(session).request(target, method, hdrs, body or b"")
            except keepalive.Unreachable:
                pass  # nothing was sent: aiohttp tries, and says why it cannot
            else:
                hop = _hop(target, answer, method, hdrs, http)
                if hop is None:
                    return _answered(answer.status, answer.body, answer.text,
                                     answer.headers.get("retry-after"), shown, retry_statuses)
                left = max(0.001, deadline - asyncio.get_running_loop().time())
                method, to, keep_body, hop_headers = hop
                return await _aiohttp(session, method, str(to), body if keep_body else None, hop_headers,
                                      http, left, 1, shown, retry_statuses)
            timeout = max(0.001, deadline - asyncio.get_running_loop().time())
        return await _aiohttp(session, method, url, body, hdrs, http, timeout, 0, shown, retry_statuses)
    except TimeoutError:
        raise DeliveryError(f"{shown}: no answer within {timeout:g}s") from None
    except aiohttp.ClientError as exc:
        text = str(exc).replace(url, shown) if secret_url else str(exc)
        raise DeliveryError(f"{shown}: {type(exc).__name__}: {text}") from None


#: The statuses aiohttp follows when it follows redirects.
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _hop(target: Any, answer: keepalive.Answer, method: str, hdrs: dict[str, str],
         http: HTTPConfig | None) -> tuple[str, Any, bool, dict[str, str]] | None:
    """The redirect the lean client's answer asks to follow, or None (the answer stands)."""
    if answer.status not in REDIRECTS or (http is not None and not http.follow_redirects):
        return None
    location = answer.headers.get("location") or answer.headers.get("uri")
    return keepalive.redirect(target, answer.status, method, location, hdrs)


async def _aiohttp(session: aiohttp.ClientSession, method: str, url: str, body: bytes | None,
                   hdrs: dict[str, str], http: HTTPConfig | None, timeout: float, redirects: int,
                   shown: str, retry_statuses: Collection[int]) -> tuple[int, bytes]:
    """The request through aiohttp (after ``redirects`` followed already)."""
    ssl_ctx = http.ssl_context() if http is not None else None
    async with session.request(
        method,
        url,
        data=body,
        headers=hdrs,
        timeout=aiohttp.ClientTimeout(total=timeout),
        allow_redirects=http.follow_redirects if http is not None else True,
        max_redirects=10 - redirects,
        ssl=ssl_ctx if ssl_ctx is not None else True,
        proxy=_proxy(http.proxy_url, "http_config.proxy_url") if http is not None else None,
    ) as resp:
        if resp.status < 300:
            return resp.status, await resp.read()
        detail = (await resp.text(errors="replace"))[:512]
        return _answered(resp.status, b"", lambda: detail, resp.headers.get("Retry-After"), shown,
                         retry_statuses)


def _answered(status: int, body: bytes, text: Callable[[], str], retry_after: str | None, shown: str,
              retry_statuses: Collection[int]) -> tuple[int, bytes]:
    """A 2xx answer's status and body; DeliveryError classifying any other."""
    if status < 300:
        return status, body
    detail = text()[:512]
    raise DeliveryError(
        f"{shown}: HTTP {status}: {detail}".rstrip(": "),
        retryable=status >= 500 or status in retry_statuses,
        status=status,
        retry_after=_retry_after(retry_after),
    )
