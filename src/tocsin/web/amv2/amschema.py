"""Alertmanager 0.25's config structs, as data: each struct's YAML keys in the order Go
writes them, their types, which are left out when empty (``omitempty``) and the
defaults its loader fills in. From ``config/config.go`` and ``config/notifiers.go`` of
Alertmanager v0.25.0 and ``config/http_config.go`` of prometheus/common v0.38.0.

:mod:`tocsin.web.amv2.config_show` reads a tocsin config through these tables to
answer ``config.original`` as Alertmanager does. The types say how a value is shown:
``SECRET`` and ``SECRET_URL`` (Alertmanager's ``Secret`` and ``SecretURL``) as
``<secret>``, ``URL`` in clear. tests/conformance/test_config_show.py compares the
result with the real Alertmanager's answer, every integration and most fields included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tocsin.core.durations import Duration

__all__ = [
    "AUTHORIZATION", "CONFIG", "GLOBAL", "HTTP_CONFIG", "INHERITED", "KINDS", "RECEIVER", "ROUTE", "SLASHED",
    "TWINS",
    "Field", "Kind", "ListOf", "MapOf", "Ptr", "Struct", "StructOf",
]


class Kind:
    """A Go type of a config field: how its value is read, when it is empty, how it is shown."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


STR = Kind("string")
SECRET = Kind("Secret")                # <secret> when set, null when empty
URL = Kind("*URL")                     # in clear; nil when unset
SECRET_URL = Kind("*SecretURL")        # <secret> when set
PROXY_URL = Kind("commoncfg.URL")      # in clear, a password in it as xxxxx
BOOL = Kind("bool")
INT = Kind("int")
DURATION = Kind("model.Duration")      # Prometheus' format: 1m30s, 1d12h
GO_DURATION = Kind("time.Duration")    # Go's format: 1m0s, 1h0m0s
HOSTPORT = Kind("HostPort")            # host:port
TLS_VERSION = Kind("TLSVersion")       # by name (TLS12): Alertmanager writes the number, which
                                      # its own loader (and so amtool) cannot read back
MATCHERS = Kind("Matchers")            # sorted, each as name="value"
REGEXPS = Kind("MatchRegexps")         # label name -> the regex as written
WEEKDAYS = Kind("[]WeekdayRange")      # the time interval ranges, each as Alertmanager
DAYS_OF_MONTH = Kind("[]DayOfMonthRange")  # writes it back (monday:friday, 1:3, -1)
MONTHS = Kind("[]MonthRange")
YEARS = Kind("[]YearRange")
LOCATION = Kind("*Location")


class Ptr(Kind):
    """A pointer: nil (``null``, or left out) when unset."""

    def __init__(self, elem: Kind | Struct) -> None:
        super().__init__(f"*{elem!r}")
        self.elem = elem


class ListOf(Kind):
    def __init__(self, elem: Kind | Struct, flow: bool = False) -> None:
        super().__init__(f"[]{elem!r}")
        self.elem = elem
        #: Written as a flow sequence (``[a, b]``), yaml.v2's ``,flow``.
        self.flow = flow


class MapOf(Kind):
    """``map[string]string``: written with its keys sorted."""

    def __init__(self) -> None:
        super().__init__("map[string]string")


class StructOf(Kind):
    """A struct held by value: empty (and so left out when ``omitempty``) when all its fields are."""

    def __init__(self, elem: Struct) -> None:
        super().__init__(elem.name)
        self.elem = elem


@dataclass(frozen=True)
class Field:
    key: str
    kind: Kind | Struct
    #: Left out when empty (yaml.v2's ``omitempty``); without it an empty pointer is ``null``.
    omitempty: bool = True


@dataclass(eq=False)
class Struct:
    name: str
    fields: tuple[Field, ...] = ()
    #: What the loader sets before reading the YAML (Alertmanager's ``Default*Config``); a
    #: :class:`Struct` here stands for a new one with its own defaults.
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return self.name

    def field(self, key: str) -> Field | None:
        for f in self.fields:
            if f.key == key:
                return f
        return None


def _struct(name: str, *fields: tuple[Any, ...], defaults: Mapping[str, Any] | None = None) -> Struct:
    return Struct(name, tuple(Field(*f) for f in fields), dict(defaults or {}))


KEEP = False  # a field without omitempty

TLS_CONFIG = _struct(
    "TLSConfig", ("ca_file", STR), ("cert_file", STR), ("key_file", STR), ("server_name", STR),
    ("insecure_skip_verify", BOOL, KEEP), ("min_version", TLS_VERSION), ("max_version", TLS_VERSION))
BASIC_AUTH = _struct("BasicAuth", ("username", STR, KEEP), ("password", SECRET), ("password_file", STR))
AUTHORIZATION = _struct("Authorization", ("type", STR), ("credentials", SECRET), ("credentials_file", STR))
OAUTH2 = _struct(
    "OAuth2", ("client_id", STR, KEEP), ("client_secret", SECRET, KEEP), ("client_secret_file", STR, KEEP),
    ("scopes", ListOf(STR)), ("token_url", STR, KEEP), ("endpoint_params", MapOf()), ("proxy_url", PROXY_URL),
    ("tls_config", StructOf(TLS_CONFIG)))
HTTP_CONFIG = _struct(
    "HTTPClientConfig", ("basic_auth", Ptr(BASIC_AUTH)), ("authorization", Ptr(AUTHORIZATION)),
    ("oauth2", Ptr(OAUTH2)), ("bearer_token", SECRET), ("bearer_token_file", STR), ("proxy_url", PROXY_URL),
    ("tls_config", StructOf(TLS_CONFIG)), ("follow_redirects", BOOL, KEEP), ("enable_http2", BOOL, KEEP),
    defaults={"follow_redirects": True, "enable_http2": True})
SIGV4 = _struct("SigV4Config", ("region", STR), ("access_key", STR), ("secret_key", SECRET), ("profile", STR),
                ("role_arn", STR))

_HTTP = ("http_config", Ptr(HTTP_CONFIG))


def _tmpl(name: str) -> str:
    return '{{ template "' + name + '" . }}'


#: One entry of each ``<kind>_configs`` list, by kind.
KINDS: dict[str, Struct] = {
    "discord": _struct(
        "DiscordConfig", ("send_resolved", BOOL, KEEP), _HTTP, ("webhook_url", SECRET_URL), ("title", STR),
        ("message", STR),
        defaults={"send_resolved": True, "title": _tmpl("discord.default.title"),
                  "message": _tmpl("discord.default.message")}),
    "email": _struct(
        "EmailConfig", ("send_resolved", BOOL, KEEP), ("to", STR), ("from", STR), ("hello", STR),
        ("smarthost", HOSTPORT), ("auth_username", STR), ("auth_password", SECRET),
        ("auth_password_file", STR),
        ("auth_secret", SECRET), ("auth_identity", STR), ("headers", MapOf()), ("html", STR), ("text", STR),
        ("require_tls", Ptr(BOOL)), ("tls_config", StructOf(TLS_CONFIG)),
        defaults={"send_resolved": False, "html": _tmpl("email.default.html")}),
    "pagerduty": _struct(
        "PagerdutyConfig", ("send_resolved", BOOL, KEEP), _HTTP, ("service_key", SECRET),
        ("service_key_file", STR), ("routing_key", SECRET), ("routing_key_file", STR), ("url", URL),
        ("client", STR), ("client_url", STR),
        ("description", STR), ("details", MapOf()),
        ("images", ListOf(_struct("PagerdutyImage", ("src", STR), ("alt", STR), ("href", STR)))),
        ("links", ListOf(_struct("PagerdutyLink", ("href", STR), ("text", STR)))),
        ("source", STR), ("severity", STR), ("class", STR), ("component", STR), ("group", STR),
        defaults={"send_resolved": True, "description": '{{ template "pagerduty.default.description" .}}',
                  "client": _tmpl("pagerduty.default.client"),
                  "client_url": _tmpl("pagerduty.default.clientURL")}),
    "slack": _struct(
        "SlackConfig", ("send_resolved", BOOL, KEEP), _HTTP, ("api_url", SECRET_URL), ("api_url_file", STR),
        ("channel", STR), ("username", STR), ("color", STR), ("title", STR), ("title_link", STR),
        ("pretext", STR), ("text", STR),
        ("fields", ListOf(Ptr(_struct("SlackField", ("title", STR), ("value", STR), ("short", Ptr(BOOL)))))),
        ("short_fields", BOOL, KEEP), ("footer", STR), ("fallback", STR), ("callback_id", STR),
        ("icon_emoji", STR), ("icon_url", STR), ("image_url", STR), ("thumb_url", STR),
        ("link_names", BOOL, KEEP),
        ("mrkdwn_in", ListOf(STR)),
        ("actions", ListOf(Ptr(_struct(
            "SlackAction", ("type", STR), ("text", STR), ("url", STR), ("style", STR), ("name", STR),
            ("value", STR), ("confirm", Ptr(_struct(
                "SlackConfirmationField", ("text", STR), ("title", STR), ("ok_text", STR),
                ("dismiss_text", STR)))))))),
        defaults={"send_resolved": False,
                  "color": '{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}',
                  **{k: _tmpl(f"slack.default.{t}") for k, t in (
                      ("username", "username"), ("title", "title"), ("title_link", "titlelink"),
                      ("icon_emoji", "iconemoji"), ("icon_url", "iconurl"), ("pretext", "pretext"),
                      ("text", "text"), ("fallback", "fallback"), ("callback_id", "callbackid"),
                      ("footer", "footer"))}}),
    "webhook": _struct(
        "WebhookConfig", ("send_resolved", BOOL, KEEP), _HTTP, ("url", URL, KEEP), ("max_alerts", INT, KEEP),
        defaults={"send_resolved": True}),
    "opsgenie": _struct(
        "OpsGenieConfig", ("send_resolved", BOOL, KEEP), _HTTP, ("api_key", SECRET), ("api_key_file", STR),
        ("api_url", URL), ("message", STR), ("description", STR), ("source", STR), ("details", MapOf()),
        ("entity", STR),
        ("responders", ListOf(_struct(
            "OpsGenieConfigResponder", ("id", STR), ("name", STR), ("username", STR), ("type", STR)))),
        ("actions", STR), ("tags", STR), ("note", STR), ("priority", STR), ("update_alerts", BOOL),
        defaults={"send_resolved": True, "message": _tmpl("opsgenie.default.message"),
                  "description": _tmpl("opsgenie.default.description"),
                  "source": _tmpl("opsgenie.default.source")}),
    "wechat": _struct(
        "WechatConfig", ("send_resolved", BOOL, KEEP), _HTTP, ("api_secret", SECRET), ("corp_id", STR),
        ("message", STR), ("api_url", URL), ("to_user", STR), ("to_party", STR), ("to_tag", STR),
        ("agent_id", STR), ("message_type", STR),
        defaults={"send_resolved": False, "message": _tmpl("wechat.default.message"),
                  "to_user": _tmpl("wechat.default.to_user"), "to_party": _tmpl("wechat.default.to_party"),
                  "to_tag": _tmpl("wechat.default.to_tag"), "agent_id": _tmpl("wechat.default.agent_id")}),
    "pushover": _struct(
        "PushoverConfig", ("send_resolved", BOOL, KEEP), _HTTP, ("user_key", SECRET), ("token", SECRET),
        ("title", STR), ("message", STR), ("url", STR), ("url_title", STR), ("sound", STR), ("priority", STR),
        ("retry", GO_DURATION), ("expire", GO_DURATION), ("html", BOOL, KEEP),
        defaults={"send_resolved": True, "title": _tmpl("pushover.default.title"),
                  "message": _tmpl("pushover.default.message"), "url": _tmpl("pushover.default.url"),
                  "priority": '{{ if eq .Status "firing" }}2{{ else }}0{{ end }}', "retry": Duration(60),
                  "expire": Duration(3600)}),
    "victorops": _struct(
        "VictorOpsConfig", ("send_resolved", BOOL, KEEP), _HTTP, ("api_key", SECRET), ("api_key_file", STR),
        ("api_url", URL, KEEP), ("routing_key", STR, KEEP), ("message_type", STR, KEEP),
        ("state_message", STR, KEEP), ("entity_display_name", STR, KEEP), ("monitoring_tool", STR, KEEP),
        ("custom_fields", MapOf()),
        defaults={"send_resolved": True, "message_type": "CRITICAL",
                  "state_message": _tmpl("victorops.default.state_message"),
                  "entity_display_name": _tmpl("victorops.default.entity_display_name"),
                  "monitoring_tool": _tmpl("victorops.default.monitoring_tool")}),
    "sns": _struct(
        "SNSConfig", ("send_resolved", BOOL, KEEP), _HTTP, ("api_url", STR), ("sigv4", StructOf(SIGV4), KEEP),
        ("topic_arn", STR), ("phone_number", STR), ("target_arn", STR), ("subject", STR), ("message", STR),
        ("attributes", MapOf()),
        defaults={"send_resolved": True, "subject": _tmpl("sns.default.subject"),
                  "message": _tmpl("sns.default.message")}),
    "telegram": _struct(
        "TelegramConfig", ("send_resolved", BOOL, KEEP), _HTTP, ("api_url", URL, KEEP), ("bot_token", SECRET),
        ("chat_id", INT), ("message", STR), ("disable_notifications", BOOL), ("parse_mode", STR),
        defaults={"send_resolved": True, "message": _tmpl("telegram.default.message"), "parse_mode": "HTML"}),
    "webex": _struct(
        "WebexConfig", ("send_resolved", BOOL, KEEP), _HTTP, ("api_url", URL), ("message", STR),
        ("room_id", STR, KEEP),
        defaults={"send_resolved": True, "message": _tmpl("webex.default.message")}),
}

#: The order of the ``<kind>_configs`` keys in a receiver.
RECEIVER = _struct("Receiver", ("name", STR, KEEP), *(
    (f"{kind}_configs", ListOf(Ptr(KINDS[kind]))) for kind in (
        "discord", "email", "pagerduty", "slack", "webhook", "opsgenie", "wechat", "pushover", "victorops",
        "sns", "telegram", "webex")))

GLOBAL = _struct(
    "GlobalConfig", ("resolve_timeout", DURATION, KEEP), _HTTP, ("smtp_from", STR), ("smtp_hello", STR),
    ("smtp_smarthost", HOSTPORT), ("smtp_auth_username", STR), ("smtp_auth_password", SECRET),
    ("smtp_auth_password_file", STR), ("smtp_auth_secret", SECRET), ("smtp_auth_identity", STR),
    ("smtp_require_tls", BOOL, KEEP), ("slack_api_url", SECRET_URL), ("slack_api_url_file", STR),
    ("pagerduty_url", URL), ("opsgenie_api_url", URL), ("opsgenie_api_key", SECRET),
    ("opsgenie_api_key_file", STR), ("wechat_api_url", URL), ("wechat_api_secret", SECRET),
    ("wechat_api_corp_id", STR), ("victorops_api_url", URL), ("victorops_api_key", SECRET),
    ("victorops_api_key_file", STR), ("telegram_api_url", URL), ("webex_api_url", URL),
    defaults={
        "resolve_timeout": Duration(300), "http_config": HTTP_CONFIG, "smtp_hello": "localhost",
        "smtp_require_tls": True,
        "pagerduty_url": "https://events.pagerduty.com/v2/enqueue", "opsgenie_api_url": "https://api.opsgenie.com/",
        "wechat_api_url": "https://qyapi.weixin.qq.com/cgi-bin/",
        "victorops_api_url": "https://alert.victorops.com/integrations/generic/20131114/alert/",
        "telegram_api_url": "https://api.telegram.org", "webex_api_url": "https://webexapis.com/v1/messages"})

_TIME_RANGE = _struct("TimeRange", ("start_time", STR, KEEP), ("end_time", STR, KEEP))
TIME_INTERVAL = _struct(
    "TimeInterval", ("times", ListOf(_TIME_RANGE)), ("weekdays", WEEKDAYS), ("days_of_month", DAYS_OF_MONTH),
    ("months", MONTHS), ("years", YEARS), ("location", LOCATION))
NAMED_TIME_INTERVAL = _struct("TimeInterval", ("name", STR, KEEP),
                              ("time_intervals", ListOf(TIME_INTERVAL), KEEP))

ROUTE = Struct("Route")
ROUTE.fields = tuple(Field(*f) for f in (
    ("receiver", STR), ("group_by", ListOf(STR)), ("match", MapOf()), ("match_re", REGEXPS),
    ("matchers", MATCHERS), ("mute_time_intervals", ListOf(STR)), ("active_time_intervals", ListOf(STR)),
    ("continue", BOOL, KEEP), ("routes", ListOf(Ptr(ROUTE))), ("group_wait", Ptr(DURATION)),
    ("group_interval", Ptr(DURATION)), ("repeat_interval", Ptr(DURATION))))

INHIBIT_RULE = _struct(
    "InhibitRule", ("source_match", MapOf()), ("source_match_re", REGEXPS), ("source_matchers", MATCHERS),
    ("target_match", MapOf()), ("target_match_re", REGEXPS), ("target_matchers", MATCHERS),
    ("equal", ListOf(STR)))

CONFIG = _struct(
    "Config", ("global", Ptr(GLOBAL)), ("route", Ptr(ROUTE)), ("inhibit_rules", ListOf(Ptr(INHIBIT_RULE))),
    ("receivers", ListOf(Ptr(RECEIVER))), ("templates", ListOf(STR), KEEP),
    ("mute_time_intervals", ListOf(NAMED_TIME_INTERVAL)), ("time_intervals", ListOf(NAMED_TIME_INTERVAL)))

#: What an integration takes from ``global`` when it leaves it unset, as Alertmanager's
#: loader does: each pair of groups is (the integration's fields, the global ones), taken
#: together when all the integration's are empty (a secret with its ``_file``).
INHERITED: dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]] = {
    "email": (
        (("from",), ("smtp_from",)), (("smarthost",), ("smtp_smarthost",)), (("hello",), ("smtp_hello",)),
        (("auth_username",), ("smtp_auth_username",)),
        (("auth_password", "auth_password_file"), ("smtp_auth_password", "smtp_auth_password_file")),
        (("auth_secret",), ("smtp_auth_secret",)), (("auth_identity",), ("smtp_auth_identity",)),
        (("require_tls",), ("smtp_require_tls",))),
    "slack": ((("api_url", "api_url_file"), ("slack_api_url", "slack_api_url_file")),),
    "pagerduty": ((("url",), ("pagerduty_url",)),),
    "opsgenie": ((("api_url",), ("opsgenie_api_url",)),
                 (("api_key", "api_key_file"), ("opsgenie_api_key", "opsgenie_api_key_file"))),
    "wechat": ((("api_url",), ("wechat_api_url",)), (("api_secret",), ("wechat_api_secret",)),
               (("corp_id",), ("wechat_api_corp_id",))),
    "victorops": ((("api_url",), ("victorops_api_url",)),
                  (("api_key", "api_key_file"), ("victorops_api_key", "victorops_api_key_file"))),
    "telegram": ((("api_url",), ("telegram_api_url",)),),
    "webex": ((("api_url",), ("webex_api_url",)),),
}

#: API URLs the loader gives a trailing slash, with the global one they came from (the
#: two share one URL in Alertmanager, so the global one gets it too).
SLASHED = frozenset({"opsgenie", "wechat", "victorops"})

#: Alertmanager 0.25 fields that tocsin also reads from a file, where 0.25 has no ``_file``
#: key: (struct name, field) -> tocsin's key. A value in the file shows as set.
TWINS: dict[tuple[str, str], str] = {
    ("WebhookConfig", "url"): "url_file",
    ("DiscordConfig", "webhook_url"): "webhook_url_file",
    ("TelegramConfig", "bot_token"): "bot_token_file",
    ("PushoverConfig", "user_key"): "user_key_file",
    ("PushoverConfig", "token"): "token_file",
    ("WechatConfig", "api_secret"): "api_secret_file",
    ("SigV4Config", "secret_key"): "secret_key_file",
    ("GlobalConfig", "wechat_api_secret"): "wechat_api_secret_file",
}
