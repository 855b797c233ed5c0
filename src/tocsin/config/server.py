"""The daemon's own sections: ``server`` (listener, TLS, auth, rate and size
limits), ``storage``, ``logging`` and ``plugins``."""

from __future__ import annotations

import re
from typing import Literal, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from tocsin.config.types import ConfigBase, Duration, Secret
from tocsin.config.validate import field_error

__all__ = [
    "AuthConfig", "LimitsConfig", "LoggingConfig", "PluginsConfig", "RateLimitConfig", "Role", "ServerConfig",
    "StorageConfig", "StorageLocation", "TLSConfig", "TokenConfig", "parse_listen", "parse_storage",
    "redact_url",
]

_LISTEN_RE = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[^:\[\]]*)):(?P<port>\d{1,5})$")


class TLSConfig(ConfigBase, kw_only=True):
    """HTTPS on the listener: a PEM certificate (chain) and its key."""

    cert_file: str
    key_file: str


Role = Literal["ingest", "read", "admin"]


class TokenConfig(ConfigBase, kw_only=True):
    """A bearer token and what it may do: ``ingest`` posts alerts and events,
    ``read`` reads, ``admin`` does everything."""

    name: str
    role: Role
    token: Secret | None = None
    token_file: str | None = None

    def __post_init__(self) -> None:
        if (self.token is None) == (self.token_file is None):
            raise field_error("token", "set exactly one of token and token_file")
        if self.token is not None and len(self.token) < 16:
            raise field_error("token", "too short: use at least 16 characters")


_BCRYPT = re.compile(r"^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$")


class AuthConfig(ConfigBase):
    tokens: list[TokenConfig] = []
    #: user -> bcrypt hash, as Alertmanager's web config (``htpasswd -nBC 10 user``).
    basic_auth_users: dict[str, Secret] = {}
    #: user -> role for basic-auth users; a user not listed is ``admin``.
    basic_auth_roles: dict[str, Role] = {}

    def __post_init__(self) -> None:
        for user, hashed in self.basic_auth_users.items():
            if not _BCRYPT.match(hashed):
                raise field_error(f"basic_auth_users.{user}", "expected a bcrypt hash ($2y$...)")
        for user in self.basic_auth_roles:
            if user not in self.basic_auth_users:
                raise field_error(f"basic_auth_roles.{user}", "no such user in basic_auth_users")
        names = [t.name for t in self.tokens]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise field_error(f"tokens[{i}].name", f"token name {name!r} is not unique")


class RateLimitConfig(ConfigBase, kw_only=True):
    """Per client address: a token bucket; over it, 429 with Retry-After."""

    requests_per_second: float
    burst: int

    def __post_init__(self) -> None:
        if self.requests_per_second <= 0:
            raise field_error("requests_per_second", "must be greater than zero")
        if self.burst < 1:
            raise field_error("burst", "must be at least 1")


class LimitsConfig(ConfigBase):
    """What one request may carry; beyond it the request (or the alert) is refused."""

    max_alerts_per_request: int = 10_000
    max_labels_per_alert: int = 64
    max_label_name_length: int = 256
    max_label_value_length: int = 4096
    max_annotation_value_length: int = 65_536

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            if getattr(self, name) < 1:
                raise field_error(name, "must be at least 1")


class ServerConfig(ConfigBase):
    listen: str = "127.0.0.1:9095"
    #: URL under which users reach tocsin; used in links sent to receivers.
    external_url: str | None = None
    #: Largest request body accepted; larger ones get 413.
    max_body_bytes: int | None = None
    #: The older name of ``max_body_bytes``.
    max_request_bytes: int | None = None
    tls: TLSConfig | None = None
    #: Without it every endpoint is open (bind to loopback, or put a proxy in front).
    auth: AuthConfig | None = None
    rate_limit: RateLimitConfig | None = None
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    #: On SIGTERM: how long in-flight deliveries get to finish before they are given up.
    shutdown_timeout: Duration = Duration(10)
    #: Most client connections open at once; None: derived from the process's limit of
    #: open files (``tocsin.daemon.fdlimit``), leaving room for deliveries and the database.
    max_connections: int | None = None
    #: A new connection must send its first request head (after TLS) within this long;
    #: a kept-alive one, within this long of the head's first byte.
    header_timeout: Duration = Duration(10)
    #: A kept-alive connection with no request for this long is closed.
    idle_timeout: Duration = Duration(75)

    def __post_init__(self) -> None:
        try:
            parse_listen(self.listen)
        except ValueError as exc:
            raise field_error("listen", str(exc)) from None
        if self.max_body_bytes is not None and self.max_request_bytes is not None:
            raise field_error("max_request_bytes", "set max_body_bytes or max_request_bytes, not both")
        if self.body_limit <= 0:
            raise field_error("max_body_bytes", "must be greater than zero")
        for name in ("shutdown_timeout", "header_timeout", "idle_timeout"):
            if getattr(self, name) <= 0:
                raise field_error(name, "must be greater than zero")
        if self.max_connections is not None and self.max_connections < 1:
            raise field_error("max_connections", "must be at least 1")

    @property
    def body_limit(self) -> int:
        if self.max_body_bytes is not None:
            return self.max_body_bytes
        if self.max_request_bytes is not None:
            return self.max_request_bytes
        return 16 * 1024 * 1024


def parse_listen(text: str) -> tuple[str, int]:
    m = _LISTEN_RE.match(text)
    if m is None or not 0 <= int(m["port"]) <= 65535:
        raise ValueError(f"invalid listen address {text!r}: expected HOST:PORT or [IPv6]:PORT")
    return (m["v6"] or m["host"] or "0.0.0.0"), int(m["port"])


#: The URL schemes of a PostgreSQL database (as libpq reads them).
POSTGRES_SCHEMES = ("postgresql", "postgres")

#: ``storage.path`` when neither it nor ``storage.url`` is set.
DEFAULT_PATH = "var/tocsin.db"


class StorageLocation(NamedTuple):
    """Where the state lives: ``kind`` ``sqlite`` (``target`` a file path, or ``:memory:``)
    or ``postgresql`` (``target`` the connection URL, password included)."""

    kind: Literal["sqlite", "postgresql"]
    target: str

    def __str__(self) -> str:
        """For logs and messages: the path, or the URL without its password."""
        return self.target if self.kind == "sqlite" else redact_url(self.target)


def parse_storage(text: str) -> StorageLocation:
    """``postgresql://...`` (or ``postgres://``), ``sqlite:PATH``, or a bare path (SQLite).
    ValueError says what is wrong without echoing a URL (it may hold a password)."""
    scheme, sep, rest = text.partition(":")
    if sep and scheme.lower() in POSTGRES_SCHEMES:
        if not rest.startswith("//"):
            raise ValueError(f"a PostgreSQL URL starts with {scheme}:// (the value is not shown: "
                             "it may hold a password)")
        return StorageLocation("postgresql", text)
    if sep and scheme.lower() == "sqlite":
        if not rest:
            raise ValueError("sqlite: needs a path after it (sqlite:/var/lib/tocsin/tocsin.db)")
        return StorageLocation("sqlite", rest)
    if sep and "://" in text and "/" not in scheme:
        raise ValueError(f"unknown storage scheme {scheme[:16]!r}: expected postgresql:// or sqlite:PATH "
                         "(or a file path)")
    if not text:
        raise ValueError("empty: expected a file path, sqlite:PATH or postgresql://...")
    return StorageLocation("sqlite", text)


def redact_url(url: str) -> str:
    """``url`` with its password (``user:password@``, ``?password=``) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k == "password" for k, _ in pairs):
            query = urlencode([(k, "***" if k == "password" else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, f"{userinfo}{at}{hosts}", parts.path, query, parts.fragment))


class StorageConfig(ConfigBase):
    #: The SQLite database file (when ``url`` is not set).
    path: str = DEFAULT_PATH
    #: Where the state lives, as a URL: ``postgresql://user@host:5432/db`` (PostgreSQL; several
    #: hosts ``host1:5432,host2:5432`` with ``?target_session_attrs=read-write`` follow a
    #: failover to a standby) or ``sqlite:PATH``. Instead of ``path``.
    url: Secret | None = None
    #: NORMAL survives a crash of the process; FULL also a power loss (SQLite).
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    #: Where commits run (SQLite): ``process``, a child process of the daemon's own (commits go
    #: on beside the event loop instead of taking turns with it for Python's
    #: interpreter lock), or ``thread``, a thread of the daemon.
    writer: Literal["process", "thread"] = "process"
    #: How long expired silences and notification-log entries are kept
    #: (Alertmanager's --data.retention).
    retention: Duration = Duration(120 * 3600)
    #: How long alert history, resolved incidents and delivery attempts are kept
    #: (what ``tocsin stats`` can look back over).
    history_retention: Duration = Duration(30 * 86400)
    #: PostgreSQL: several tocsin replicas share the database, one leads and notifies
    #: (docs/ha.md). Off: one tocsin per database, a second one stops at once.
    replicas: bool = False
    #: Replicas: how long a leader whose host vanished (no FIN) keeps the lease, about
    #: (the server's TCP keepalives on the lease session give up on it after this).
    lease_timeout: Duration = Duration(10)

    def __post_init__(self) -> None:
        if self.retention <= 0:
            raise field_error("retention", "must be greater than zero")
        if not 3 <= self.lease_timeout <= 3600:
            raise field_error("lease_timeout", "must be between 3s and 1h")
        if self.history_retention <= 0:
            raise field_error("history_retention", "must be greater than zero")
        if self.url is not None:
            try:
                parse_storage(self.url)
            except ValueError as exc:
                raise field_error("url", str(exc)) from None
            if self.path != DEFAULT_PATH:
                raise field_error("url", "set path (a SQLite file) or url, not both")

    @property
    def location(self) -> StorageLocation:
        """Where the state lives: ``url`` when set, else the SQLite file ``path``."""
        return parse_storage(self.url) if self.url is not None else StorageLocation("sqlite", self.path)


class LoggingConfig(ConfigBase):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class PluginsConfig(ConfigBase):
    #: Plugin names (entry-point names) not to load.
    disable: list[str] = []
