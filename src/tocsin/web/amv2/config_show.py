"""``config.original`` of ``GET /api/v2/status``: the config as Alertmanager 0.25 answers it.

Alertmanager answers its config loaded and written back: only its own keys, every
default filled in (the globals, each integration's, ``http_config``'s), what an
integration takes from ``global`` copied into it, relative file paths of
``templates`` and ``http_config`` joined to the config file's directory, secret-typed
fields (``Secret``, ``SecretURL``) as ``<secret>`` and every other value in clear (but
for a URL's password and query values, which tocsin masks).
amtool reads that text back with Alertmanager's strict loader (``config show``,
``config routes``, ``config routes test``), so it must be a config Alertmanager loads.

tocsin's document is read through the tables of :mod:`tocsin.web.amv2.amschema` and
written as yaml.v2 writes (:mod:`tocsin.web.amv2.goyaml`), so the text is the one
Alertmanager gives for the same file. What is tocsin's own (its sections, route keys
such as ``escalation_policy``, channel kinds and fields Alertmanager does not have, a
value of a shape Alertmanager's field does not take) is left out. Where tocsin reads
a value Alertmanager 0.25 can only have in the file from elsewhere, it is shown as
set but not revealed: a secret from a ``_file`` key 0.25 lacks is ``<secret>``, a URL
from a file (``url_file``) is ``https://<secret>/``, and a URL built from ``${VAR}``
shows its scheme and host with ``/<secret>`` for the rest.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from tocsin.config.types import expand_env
from tocsin.config.validate import Scalar
from tocsin.config.yaml import parse
from tocsin.core.durations import Duration
from tocsin.core.matchers import parse_matchers
from tocsin.mute.timeintervals import DayOfMonthRange, Location, MonthRange, WeekdayRange, YearRange
from tocsin.web.amv2 import amschema as am
from tocsin.web.amv2.goyaml import Flow, dump, go_map_order

if TYPE_CHECKING:
    from tocsin.config.document import Config

__all__ = ["HIDDEN_URL", "alertmanager_config", "render"]

#: A URL that is set but not in the config (read from a file at each send).
HIDDEN_URL = "https://<secret>/"
SECRET_TOKEN = "<secret>"
_WEEKDAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


class _Unfit(Exception):
    """A value tocsin took that Alertmanager's field would not: the field is left out."""


# -- reading values -------------------------------------------------------------------------


def _text(raw: Any) -> str:
    if isinstance(raw, Scalar):
        return raw.text
    if isinstance(raw, str):
        return raw
    raise _Unfit


def _bool(raw: Any) -> bool:
    value = raw.value if isinstance(raw, Scalar) else raw
    if isinstance(value, bool):
        return value
    raise _Unfit


def _int(raw: Any) -> int:
    value = raw.value if isinstance(raw, Scalar) else raw
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _Unfit


def _duration(raw: Any) -> Duration:
    try:
        return Duration.parse(_text(raw))
    except ValueError:
        raise _Unfit from None


def _url(raw: Any) -> str:
    """The URL as written, but for the credentials a URL may carry: a password as
    ``xxxxx``, the values of its query (``?token=...``) as ``<secret>``; one built from
    the environment as its scheme and host only."""
    text = _text(raw)
    if "${" not in text.replace("$${", ""):
        return _without_credentials(text.replace("$${", "${"))
    try:
        parts = urlsplit(expand_env(text))
    except ValueError:
        return HIDDEN_URL
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}/{SECRET_TOKEN}" if parts.scheme and host else HIDDEN_URL


def _without_credentials(url: str) -> str:
    """``url`` with its password and query values masked. Alertmanager 0.25 shows these
    URLs whole; tocsin does not hand a ``read`` token the credentials a URL carries
    (the scheme, host and path stay, so amtool still reads the config)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return HIDDEN_URL
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:xxxxx@{host}"  # as Alertmanager masks a proxy_url's
    query = parts.query
    if query:
        query = "&".join(f"{pair.partition('=')[0]}={SECRET_TOKEN}" for pair in query.split("&"))
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _hostport(raw: Any) -> str:
    """``host:port`` as Alertmanager's HostPort writes it back (an IPv6 host loses its brackets)."""
    text = _text(raw)
    if text.startswith("[") and "]:" in text:
        host, _, port = text[1:].partition("]:")
        return f"{host}:{port}"
    return text


def _matchers(raw: Any) -> list[Any]:
    if not isinstance(raw, list):
        raise _Unfit
    found = [m for line in raw for m in parse_matchers(_text(line))]
    return sorted(found, key=lambda m: m.sort_key())


def _ranges(cls: Any, show: Callable[[int], str]) -> Callable[[Any], list[str]]:
    def read(raw: Any) -> list[str]:
        if not isinstance(raw, list):
            raise _Unfit
        out = []
        for item in raw:
            r = cls.from_config(_text(item))
            out.append(show(r.begin) if r.begin == r.end else f"{show(r.begin)}:{show(r.end)}")
        return out
    return read


_SCALARS: dict[am.Kind, Callable[[Any], Any]] = {
    am.STR: _text, am.SECRET: _text, am.SECRET_URL: _text, am.PROXY_URL: _text, am.TLS_VERSION: _text,
    am.URL: _url, am.BOOL: _bool, am.INT: _int, am.DURATION: _duration, am.GO_DURATION: _duration,
    am.HOSTPORT: _hostport, am.MATCHERS: _matchers,
    am.WEEKDAYS: _ranges(WeekdayRange, lambda d: _WEEKDAY_NAMES[d]),
    am.DAYS_OF_MONTH: _ranges(DayOfMonthRange, str),
    am.MONTHS: _ranges(MonthRange, str), am.YEARS: _ranges(YearRange, str),
    am.LOCATION: lambda raw: str(Location.from_config(_text(raw))),
}
_EMPTY_TEXT = frozenset({am.STR, am.SECRET, am.HOSTPORT, am.TLS_VERSION})
_EMPTY_LIST = frozenset({am.MATCHERS, am.WEEKDAYS, am.DAYS_OF_MONTH, am.MONTHS, am.YEARS})


def new(struct: am.Struct) -> dict[str, Any]:
    """A struct with its zero values and then its defaults."""
    inst = {f.key: zero(f.kind) for f in struct.fields}
    for key, value in struct.defaults.items():
        inst[key] = new(value) if isinstance(value, am.Struct) else value
    return inst


def zero(kind: am.Kind | am.Struct) -> Any:
    if kind in _EMPTY_TEXT:
        return ""
    if kind is am.BOOL:
        return False
    if kind is am.INT:
        return 0
    if kind in (am.DURATION, am.GO_DURATION):
        return Duration(0)
    if isinstance(kind, am.ListOf) or kind in _EMPTY_LIST:
        return []
    if isinstance(kind, am.MapOf) or kind is am.REGEXPS:
        return {}
    if isinstance(kind, am.StructOf):
        return new(kind.elem)
    return None  # pointers, URLs, locations


def is_zero(kind: am.Kind | am.Struct, value: Any) -> bool:
    if isinstance(kind, am.StructOf):
        return all(is_zero(f.kind, value[f.key]) for f in kind.elem.fields)
    return bool(value == zero(kind))


def decode(kind: am.Kind | am.Struct, raw: Any) -> Any:
    if isinstance(kind, am.Ptr):
        return decode(kind.elem, raw)
    if isinstance(kind, am.StructOf):
        return decode_struct(kind.elem, raw)
    if isinstance(kind, am.Struct):
        return decode_struct(kind, raw)
    if isinstance(kind, am.ListOf):
        if not isinstance(raw, list):
            raise _Unfit
        return [decode(kind.elem, item) for item in raw if item is not None]
    if isinstance(kind, am.MapOf) or kind is am.REGEXPS:
        if not isinstance(raw, dict):
            raise _Unfit
        return {_text(k): _text(v) for k, v in raw.items()}
    try:
        return _SCALARS[kind](raw)
    except ValueError:  # a range or matcher tocsin would have refused already
        raise _Unfit from None


def decode_struct(struct: am.Struct, raw: Any) -> dict[str, Any]:
    """``raw`` (tocsin's YAML data) read as Alertmanager reads the struct: defaults first,
    then each of its keys that is set; other keys are not Alertmanager's and are dropped."""
    if not isinstance(raw, dict):
        raise _Unfit
    inst = new(struct)
    for f in struct.fields:
        value = raw.get(f.key)
        if value is None:
            continue
        try:
            inst[f.key] = decode(f.kind, value)
        except _Unfit:
            continue
    for f in struct.fields:
        twin = am.TWINS.get((struct.name, f.key))
        if twin and is_zero(f.kind, inst[f.key]) and raw.get(twin):
            inst[f.key] = HIDDEN_URL if f.kind is am.URL else SECRET_TOKEN
    fixup = FIXUPS.get(struct.name)
    if fixup is not None:
        fixup(inst)
    return inst


# -- what Alertmanager's loaders change ----------------------------------------------------------


def _http_config(c: dict[str, Any]) -> None:
    """prometheus/common's Validate: a bearer token becomes an authorization."""
    auth = c["authorization"]
    if auth is not None:
        auth["type"] = auth["type"].strip() or "Bearer"
        return
    for key, into in (("bearer_token", "credentials"), ("bearer_token_file", "credentials_file")):
        if c[key]:
            c["authorization"] = {**new(am.AUTHORIZATION), "type": "Bearer", into: c[key]}
            c[key] = ""


_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def canonical_header(name: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey: ``content-type`` -> ``Content-Type``."""
    if not name or any(ch not in _TOKEN_CHARS for ch in name):
        return name
    out, upper = [], True
    for ch in name:
        out.append(ch.upper() if upper else ch.lower())
        upper = ch == "-"
    return "".join(out)


def _email(c: dict[str, Any]) -> None:
    c["headers"] = {canonical_header(k): v for k, v in c["headers"].items()}


_PAGERDUTY_DETAILS = {
    "firing": '{{ template "pagerduty.default.instances" .Alerts.Firing }}',
    "resolved": '{{ template "pagerduty.default.instances" .Alerts.Resolved }}',
    "num_firing": "{{ .Alerts.Firing | len }}",
    "num_resolved": "{{ .Alerts.Resolved | len }}",
}


def _pagerduty(c: dict[str, Any]) -> None:
    c["details"] = {**_PAGERDUTY_DETAILS, **c["details"]}
    c["source"] = c["source"] or c["client"]


def _wechat(c: dict[str, Any]) -> None:
    c["message_type"] = c["message_type"] or "text"


def _slack_action(c: dict[str, Any]) -> None:
    if c["url"]:
        c.update(name="", value="", confirm=None)
    elif c["name"]:
        c["url"] = ""


#: By struct name: what its UnmarshalYAML does after reading. (OpsGenie's lowercases each
#: responder's type in a copy, which changes nothing.)
FIXUPS: dict[str, Callable[[dict[str, Any]], None]] = {
    "HTTPClientConfig": _http_config, "EmailConfig": _email, "PagerdutyConfig": _pagerduty,
    "WechatConfig": _wechat, "SlackAction": _slack_action,
}


def _with_slash(url: str | None) -> str | None:
    """Go's ``u.Path += "/"`` unless the path ends in one."""
    if url is None:
        return None
    parts = urlsplit(url)
    return url if parts.path.endswith("/") else urlunsplit(parts._replace(path=parts.path + "/"))


def _inherit(kind: str, c: dict[str, Any], glob: dict[str, Any]) -> None:
    """What an integration takes from ``global`` (Alertmanager's Config.UnmarshalYAML)."""
    if "http_config" in c and c["http_config"] is None:
        c["http_config"] = glob["http_config"]
    for own, shared in am.INHERITED.get(kind, ()):
        if all(is_zero(am.KINDS[kind].field(k).kind, c[k]) for k in own):  # type: ignore[union-attr]
            for k, g in zip(own, shared, strict=True):
                c[k] = glob[g]
                if kind in am.SLASHED and k == "api_url":  # the one URL both share gets the slash
                    c[k] = glob[g] = _with_slash(glob[g])
        elif kind in am.SLASHED and own == ("api_url",):
            c["api_url"] = _with_slash(c["api_url"])


def _join(base: str, path: str) -> str:
    return os.path.normpath(os.path.join(base, path)) if path and not os.path.isabs(path) else path


def _set_directory(http: dict[str, Any] | None, base: str) -> None:
    """prometheus/common's SetDirectory: the relative file paths of an ``http_config``."""
    if http is None:
        return
    tls_configs = [http["tls_config"]]
    for key, files in (("basic_auth", ("password_file",)), ("authorization", ("credentials_file",)),
                       ("oauth2", ("client_secret_file",))):
        part = http[key]
        if part is not None:
            part.update({f: _join(base, part[f]) for f in files})
            if key == "oauth2":
                tls_configs.append(part["tls_config"])
    http["bearer_token_file"] = _join(base, http["bearer_token_file"])
    for tls in tls_configs:
        tls.update({f: _join(base, tls[f]) for f in ("ca_file", "cert_file", "key_file")})


def _email_headers(c: dict[str, Any]) -> None:
    """What Alertmanager's email notifier adds to its config when it is built."""
    headers = c["headers"]
    headers.setdefault("Subject", '{{ template "email.default.subject" . }}')
    headers.setdefault("To", c["to"])
    headers.setdefault("From", c["from"])


def _active(route: dict[str, Any] | None, parent: str = "") -> set[str]:
    """The receivers of the routing tree (each route's own or the one it inherits)."""
    if route is None:
        return set()
    receiver = route["receiver"] or parent
    return {receiver}.union(*(_active(child, receiver) for child in route["routes"]))


def load(data: dict[str, Any], base: str | None) -> dict[str, Any]:
    """tocsin's YAML data as Alertmanager holds it once loaded from a file in ``base`` (the
    config's directory, None when not from a file) and its receivers built."""
    cfg = decode_struct(am.CONFIG, data)
    active = _active(cfg["route"])
    glob = cfg["global"] = cfg["global"] or new(am.GLOBAL)
    if base is not None:
        _set_directory(glob["http_config"], base)
        cfg["templates"] = [_join(base, t) for t in cfg["templates"]]
    for receiver in cfg["receivers"]:
        for kind in am.KINDS:
            for c in receiver[f"{kind}_configs"]:
                if base is not None and c.get("http_config") is not None:
                    _set_directory(c["http_config"], base)
                _inherit(kind, c, glob)
                if kind == "email" and receiver["name"] in active:
                    _email_headers(c)
    return cfg


# -- writing ------------------------------------------------------------------------------------


def _go_duration(seconds: float) -> str:
    """Go's time.Duration.String(): ``1m0s``, ``1h0m0s``, ``1.5s``, ``500ms``."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)

    def frac(v: int, prec: int) -> tuple[str, int]:
        digits = f"{v % 10**prec:0{prec}d}".rstrip("0") if prec else ""
        return ("." + digits if digits else ""), v // 10**prec

    if u < 10**9:
        unit, prec = ("ns", 0) if u < 10**3 else ("µs", 3) if u < 10**6 else ("ms", 6)
        tail, whole = frac(u, prec)
        return f"{sign}{whole}{tail}{unit}"
    tail, secs = frac(u, 9)
    out = f"{secs % 60}{tail}s"
    if secs >= 60:
        out = f"{secs // 60 % 60}m{out}"
        if secs >= 3600:
            out = f"{secs // 3600}h{out}"
    return sign + out


def _proxy_url(url: str) -> str:
    """prometheus/common's URL.Redacted(): a password in it as ``xxxxx``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:xxxxx@{host}"))


_WRITERS: dict[am.Kind, Callable[[Any], Any]] = {
    am.SECRET: lambda v: SECRET_TOKEN if v else None,
    am.SECRET_URL: lambda v: SECRET_TOKEN,
    am.PROXY_URL: _proxy_url,
    am.DURATION: str,
    am.GO_DURATION: _go_duration,
    am.MATCHERS: lambda v: [str(m) for m in v],
    **dict.fromkeys((am.WEEKDAYS, am.DAYS_OF_MONTH, am.MONTHS, am.YEARS), Flow),
}


def encode(kind: am.Kind | am.Struct, value: Any) -> Any:
    """A Go value as yaml.v2 marshals it (a YAML tree for :func:`goyaml.dump`)."""
    if value is None:
        return None
    if isinstance(kind, am.Ptr):
        return encode(kind.elem, value)
    if isinstance(kind, am.StructOf):
        kind = kind.elem
    if isinstance(kind, am.Struct):
        return {f.key: encode(f.kind, value[f.key]) for f in kind.fields
                if not (f.omitempty and is_zero(f.kind, value[f.key]))}
    if isinstance(kind, am.ListOf):
        items = [encode(kind.elem, v) for v in value]
        return Flow(items) if kind.flow else items
    if isinstance(kind, am.MapOf) or kind is am.REGEXPS:
        return {k: value[k] for k in go_map_order(value)}
    writer = _WRITERS.get(kind)
    return writer(value) if writer is not None else value


def render(text: str, source: str | None = None) -> str:
    """The config document ``text`` (read from the file ``source``) as Alertmanager 0.25
    writes its own back in ``config.original``."""
    _node, data = parse(text)
    return dump(encode(am.CONFIG, load(data, os.path.dirname(source) if source else None)))


_last: list[tuple[Config, str]] = []


def alertmanager_config(config: Config) -> str:
    """:func:`render` of a loaded config (kept for the config in force)."""
    if _last and _last[0][0] is config:
        return _last[0][1]
    text = render(config.original, config.source)
    _last[:] = [(config, text)]
    return text
