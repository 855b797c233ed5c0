"""The configuration file: an Alertmanager-shaped YAML document.

Loading is three steps: parse YAML (keeping line numbers,
:mod:`tocsin.config.yaml`), decode into Structs collecting every problem with
its path, then check what spans sections (receivers named by routes exist,
names are unique). Receivers are decoded against the channel kinds that
plugins contribute, so ``<kind>_configs`` is known exactly when a plugin
provides ``kind``. The daemon's own sections (server, storage, logging,
plugins) are in :mod:`tocsin.config.server`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from tocsin.channels import ChannelKind
from tocsin.channels.http import HTTPConfig
from tocsin.config.masking import secret_field_names
from tocsin.config.references import check_references, defined_names
from tocsin.config.server import (
    AuthConfig,
    LimitsConfig,
    LoggingConfig,
    PluginsConfig,
    ServerConfig,
    StorageConfig,
    parse_listen,
)
from tocsin.config.types import URL, ConfigBase, Duration, Secret, dec_hook
from tocsin.config.validate import ConfigError, Problem, decode, field_error, join_path
from tocsin.config.yaml import parse, with_line
from tocsin.dispatch.route import Route, RouteConfig
from tocsin.enrich.config import EnrichConfig
from tocsin.incidents.heartbeats import HeartbeatConfig
from tocsin.incidents.policy import EscalationPolicy
from tocsin.mute.inhibit import InhibitRuleConfig
from tocsin.mute.silences import SilencesConfig
from tocsin.mute.timeintervals import NamedTimeInterval
from tocsin.notify.receivers import IntegrationSpec, ReceiverSpec
from tocsin.notify.redact import RedactConfig
from tocsin.notify.templates import TemplateError, Templates
from tocsin.remediation import RemediationError, RemediationKind, RemediationSpec

# AuthConfig, LimitsConfig and parse_listen live in tocsin.config.server; they are
# still importable from here.
__all__ = [
    "AuthConfig", "Config", "ConfigDocument", "ConfigError", "GlobalConfig", "LimitsConfig", "load_config",
    "load_config_file", "parse_listen",
]


class GlobalConfig(ConfigBase):
    resolve_timeout: Duration = Duration(300)
    http_config: HTTPConfig | None = None
    # Defaults channels inherit, with Alertmanager's names.
    slack_api_url: URL | None = None
    slack_api_url_file: str | None = None
    pagerduty_url: URL = URL("https://events.pagerduty.com/v2/enqueue")
    smtp_from: str | None = None
    smtp_hello: str = "localhost"
    smtp_smarthost: str | None = None
    smtp_auth_username: str | None = None
    smtp_auth_password: Secret | None = None
    smtp_auth_password_file: str | None = None
    smtp_auth_identity: str | None = None
    smtp_require_tls: bool = True
    # OpsGenie and VictorOps defaults, as Alertmanager 0.25 names them.
    opsgenie_api_url: URL = URL("https://api.opsgenie.com/")
    opsgenie_api_key: Secret | None = None
    opsgenie_api_key_file: str | None = None
    victorops_api_url: URL = URL("https://alert.victorops.com/integrations/generic/20131114/alert/")
    victorops_api_key: Secret | None = None
    victorops_api_key_file: str | None = None
    # Telegram, Webex and WeChat defaults, as Alertmanager 0.25 names them.
    telegram_api_url: URL = URL("https://api.telegram.org")
    webex_api_url: URL = URL("https://webexapis.com/v1/messages")
    wechat_api_url: URL = URL("https://qyapi.weixin.qq.com/cgi-bin/")
    wechat_api_secret: Secret | None = None
    wechat_api_secret_file: str | None = None
    wechat_api_corp_id: str | None = None

    def __post_init__(self) -> None:
        if self.resolve_timeout <= 0:
            raise field_error("resolve_timeout", "must be greater than zero")
        for name in ("opsgenie_api_key", "victorops_api_key", "wechat_api_secret"):
            if getattr(self, name) and getattr(self, f"{name}_file"):
                raise field_error(f"{name}_file", f"set {name} or {name}_file, not both")


class SlackActionsConfig(ConfigBase):
    """Slack interactivity: the app's signing secret verifies button callbacks."""

    signing_secret: Secret | None = None
    signing_secret_file: str | None = None


class PagerdutyWebhookConfig(ConfigBase):
    """PagerDuty v3 webhook subscriptions' secrets (several while rotating), and how old an
    event may be when it comes."""

    webhook_secrets: list[Secret] = []
    webhook_secret_file: str | None = None
    #: An event whose ``occurred_at`` is further back than this is refused (a replay, or a
    #: delivery so late that acting on it would be wrong); its id is remembered at least as long.
    max_event_age: Duration = Duration(3600)

    def __post_init__(self) -> None:
        if self.max_event_age <= 0:
            raise field_error("max_event_age", "must be greater than zero")


class IntegrationsConfig(ConfigBase):
    slack: SlackActionsConfig = msgspec.field(default_factory=SlackActionsConfig)
    pagerduty: PagerdutyWebhookConfig = msgspec.field(default_factory=PagerdutyWebhookConfig)


class ConfigDocument(ConfigBase, kw_only=True):
    global_: GlobalConfig = msgspec.field(default_factory=GlobalConfig, name="global")
    route: RouteConfig
    receivers: list[dict[str, Any]] = []
    #: Globs of Jinja2 files whose macros every template can call (relative to the config file).
    templates: list[str] = []
    inhibit_rules: list[InhibitRuleConfig] = []
    time_intervals: list[NamedTimeInterval] = []
    #: The older name of ``time_intervals``, still accepted.
    mute_time_intervals: list[NamedTimeInterval] = []
    escalation_policies: list[EscalationPolicy] = []
    #: Dead man's switches: alerts or posts expected at least every so often.
    heartbeats: list[HeartbeatConfig] = []
    #: How silences are checked (``allow_negative_only``).
    silences: SilencesConfig = msgspec.field(default_factory=SilencesConfig)
    #: Patterns removed from annotations before notifications and remediations leave the host.
    redact: RedactConfig = msgspec.field(default_factory=RedactConfig)
    #: Guarded automatic actions, each ``name`` + ``kind`` + the kind's fields; routes name them.
    remediations: list[dict[str, Any]] = []
    #: Two-way integrations: callbacks from Slack and PagerDuty.
    integrations: IntegrationsConfig = msgspec.field(default_factory=IntegrationsConfig)
    #: Built-in enrichers run on every posted alert: rules, threshold, recommendations, host.
    enrich: EnrichConfig = msgspec.field(default_factory=EnrichConfig)
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    plugins: PluginsConfig = msgspec.field(default_factory=PluginsConfig)


@dataclass(frozen=True)
class Config:
    document: ConfigDocument
    route: Route
    receivers: Mapping[str, ReceiverSpec]
    original: str = ""
    source: str | None = None
    kinds: Mapping[str, ChannelKind] = field(default_factory=dict)
    time_intervals: Mapping[str, NamedTimeInterval] = field(default_factory=dict)
    templates: Templates = field(default_factory=Templates)
    remediations: Mapping[str, RemediationSpec] = field(default_factory=dict)

    @property
    def global_(self) -> GlobalConfig:
        return self.document.global_

    @property
    def server(self) -> ServerConfig:
        return self.document.server

    @property
    def storage(self) -> StorageConfig:
        return self.document.storage

    @property
    def escalation_policies(self) -> dict[str, EscalationPolicy]:
        return {p.name: p for p in self.document.escalation_policies}

    def summary(self) -> str:
        routes = sum(1 for _ in self.route.walk())
        integrations = sum(len(r.integrations) for r in self.receivers.values())
        return (
            f"{routes} route(s), {len(self.receivers)} receiver(s), "
            f"{integrations} integration(s), listen {self.server.listen}, "
            f"storage {self.storage.location}"
        )


def _receiver_type(kinds: Mapping[str, ChannelKind]) -> type[msgspec.Struct]:
    return _receiver_struct(tuple((kind, kinds[kind].config) for kind in sorted(kinds)))


@functools.lru_cache(maxsize=8)
def _receiver_struct(configs: tuple[tuple[str, type], ...]) -> type[msgspec.Struct]:
    """The receiver Struct of these kinds' configs: made once per set of kinds, so that a
    reload reuses it (and what is known about it: its type info, for decoding)."""
    fields: list[tuple[str, Any, Any]] = [("name", str, msgspec.NODEFAULT)]
    for kind, entry in configs:
        fields.append((f"{kind}_configs", list[entry], msgspec.field(default_factory=list)))  # type: ignore[valid-type]
    return msgspec.defstruct("Receiver", fields, bases=(ConfigBase,), kw_only=True)


def _unknown(name: Any, kinds: Mapping[str, Any], failed_plugins: Mapping[str, str]) -> str:
    """The end of the message for a kind no plugin provides: what is there, and the
    plugins that failed to load (one of them may be the one that would)."""
    text = f"{name!r} (available: {', '.join(sorted(kinds)) or 'none'})"
    if failed_plugins:
        text += "; plugins that failed to load: " + "; ".join(
            f"{plugin} ({error})" for plugin, error in sorted(failed_plugins.items()))
    return text


def _decode_receivers(
    raw: list[dict[str, Any]], kinds: Mapping[str, ChannelKind], problems: list[Problem],
    failed_plugins: Mapping[str, str],
) -> dict[str, ReceiverSpec]:
    rtype = _receiver_type(kinds)
    out: dict[str, ReceiverSpec] = {}
    for i, item in enumerate(raw):
        path = f"receivers[{i}]"
        if isinstance(item, dict):
            for key in item:
                if isinstance(key, str) and key.endswith("_configs") and key[:-8] not in kinds:
                    problems.append(Problem(join_path(path, key), "no loaded plugin provides channel kind "
                                            + _unknown(key[:-8], kinds, failed_plugins)))
            item = {k: v for k, v in item.items() if not (
                isinstance(k, str) and k.endswith("_configs") and k[:-8] not in kinds)}
        value, found = decode(item, rtype, path=path, dec_hook=dec_hook)
        problems.extend(found)
        if value is None:
            continue
        if value.name in out:
            problems.append(Problem(f"{path}.name", f"receiver name {value.name!r} is not unique"))
            continue
        integrations = []
        for kind in sorted(kinds):
            for j, cfg in enumerate(getattr(value, f"{kind}_configs")):
                integrations.append(IntegrationSpec(kind, j, cfg))
        out[value.name] = ReceiverSpec(value.name, tuple(integrations))
    return out


def _check_integrations(
    receivers: Mapping[str, ReceiverSpec], kinds: Mapping[str, ChannelKind], global_: GlobalConfig,
    raw: Any, problems: list[Problem],
) -> None:
    """Checks a channel kind makes with the global section in sight."""
    index = {str(r.get("name")): i for i, r in enumerate(raw) if isinstance(r, dict)} if isinstance(
        raw, list) else {}
    for spec in receivers.values():
        for integ in spec.integrations:
            base = f"receivers[{index.get(spec.name, '?')}].{integ.kind}_configs[{integ.index}]"
            # Checked here, not in ChannelConfig.__post_init__, which subclasses override.
            if getattr(integ.config, "max_concurrency", 1) < 1:
                problems.append(Problem(f"{base}.max_concurrency", "must be at least 1"))
            if getattr(integ.config, "timeout", 1) <= 0:
                problems.append(Problem(f"{base}.timeout", "must be greater than zero"))
            check = kinds[integ.kind].check
            if check is None:
                continue
            for fld, message in check(integ.config, global_):
                problems.append(Problem(f"{base}.{fld}" if fld else base, message))


def _time_intervals(doc: ConfigDocument, problems: list[Problem]) -> dict[str, NamedTimeInterval]:
    out: dict[str, NamedTimeInterval] = {}
    for key in ("mute_time_intervals", "time_intervals"):
        for i, ti in enumerate(getattr(doc, key)):
            if ti.name in out:
                problems.append(Problem(f"{key}[{i}].name", f"time interval {ti.name!r} is not unique"))
            out[ti.name] = ti
    return out


def _decode_remediations(
    raw: Any, kinds: Mapping[str, RemediationKind], templates: Templates, problems: list[Problem],
    failed_plugins: Mapping[str, str],
) -> dict[str, RemediationSpec]:
    out: dict[str, RemediationSpec] = {}
    if not isinstance(raw, list):
        return out
    for i, item in enumerate(raw):
        path = f"remediations[{i}]"
        if not isinstance(item, dict):
            problems.append(Problem(path, "expected a mapping with name and kind"))
            continue
        kind_name = item.get("kind")
        kind = kinds.get(kind_name) if isinstance(kind_name, str) else None
        if kind is None:
            problems.append(Problem(f"{path}.kind", "unknown remediation kind "
                                    + _unknown(kind_name, kinds, failed_plugins)))
            continue
        value, found = decode(item, kind.config, path=path, dec_hook=dec_hook)
        problems.extend(found)
        if value is None:
            continue
        if value.name in out:
            problems.append(Problem(f"{path}.name", f"remediation name {value.name!r} is not unique"))
            continue
        checked = kind.check(value) if kind.check is not None else []
        for fld, message in checked:
            problems.append(Problem(f"{path}.{fld}" if fld else path, message))
        if checked:
            continue
        try:
            remediation = kind.factory(value, templates)
        except RemediationError as exc:
            problems.append(Problem(path, str(exc)))
            continue
        out[value.name] = RemediationSpec(value.name, kind.name, value, remediation)
    return out


def _check_escalations(doc: ConfigDocument, problems: list[Problem]) -> None:
    seen: set[str] = set()
    for i, policy in enumerate(doc.escalation_policies):
        if policy.name in seen:
            problems.append(Problem(f"escalation_policies[{i}].name",
                                    f"escalation policy {policy.name!r} is not unique"))
        seen.add(policy.name)
    names: set[str] = set()
    for i, heartbeat in enumerate(doc.heartbeats):
        if heartbeat.name in names:
            problems.append(Problem(f"heartbeats[{i}].name", f"heartbeat {heartbeat.name!r} is not unique"))
        names.add(heartbeat.name)


def _templates(doc: ConfigDocument | None, data: dict[str, Any], source: str | None,
               problems: list[Problem]) -> Templates:
    """The templates' macros, from the decoded document or, when it has problems, from
    the ``templates`` globs as written."""
    if doc is not None:
        globs = doc.templates
    else:
        raw = data.get("templates")
        globs = [g for g in raw if isinstance(g, str)] if isinstance(raw, list) else []
    try:
        return Templates(globs, Path(source).parent if source else None)
    except (TemplateError, OSError) as exc:
        problems.append(Problem("templates", str(exc)))
        return Templates()


def _check_root(root: RouteConfig, problems: list[Problem]) -> None:
    """The root route catches everything, always, and names where it goes."""
    if not root.receiver:
        problems.append(Problem("route.receiver", "the root route must name a default receiver"))
    if root.matchers or root.match or root.match_re:
        problems.append(Problem("route", "the root route must not have matchers: it catches everything"))
    if root.continue_:
        problems.append(Problem("route.continue", "the root route cannot have continue"))
    if root.mute_time_intervals or root.active_time_intervals:
        problems.append(Problem("route", "the root route must not have time intervals"))


def secret_keys(
    kinds: Mapping[str, ChannelKind], remediation_kinds: Mapping[str, RemediationKind],
) -> frozenset[str]:
    """The names of the config's Secret- and URL-typed fields, built-in and of these
    plugins' kinds: what a YAML error never shows the value of."""
    return secret_field_names(ConfigDocument, *(k.config for k in kinds.values()),
                              *(k.config for k in remediation_kinds.values()))


def load_config(
    text: str,
    kinds: Mapping[str, ChannelKind],
    *,
    source: str | None = None,
    remediation_kinds: Mapping[str, RemediationKind] | None = None,
    failed_plugins: Mapping[str, str] | None = None,
) -> Config:
    """Parse and validate a config document; raise ``ConfigError`` listing every problem.

    ``failed_plugins`` (name: error) are named where a kind is unknown."""
    failed = failed_plugins or {}
    node, data = parse(text, source, secret_keys(kinds, remediation_kinds or {}))
    doc, problems = decode(data, ConfigDocument, dec_hook=dec_hook)
    receivers: dict[str, ReceiverSpec] = {}
    raw_receivers = data.get("receivers")
    if isinstance(raw_receivers, list):
        receivers = _decode_receivers(raw_receivers, kinds, problems, failed)
    templates = _templates(doc, data, source, problems)
    remediations = _decode_remediations(data.get("remediations"), remediation_kinds or {}, templates,
                                        problems, failed)
    # A receiver or remediation whose entry has problems (already reported) is still defined.
    check_references(data, receivers.keys() | defined_names(raw_receivers),
                     remediations.keys() | defined_names(data.get("remediations")), problems)
    global_ = doc.global_ if doc is not None else decode(data.get("global") or {}, GlobalConfig,
                                                         path="global", dec_hook=dec_hook)[0]
    if global_ is not None:
        _check_integrations(receivers, kinds, global_, raw_receivers, problems)
    intervals: dict[str, NamedTimeInterval] = {}
    if doc is not None:
        intervals = _time_intervals(doc, problems)
        _check_root(doc.route, problems)
        _check_escalations(doc, problems)
    if problems:
        located = [with_line(p, node) for p in problems]
        # In the order of the file; what has no line (a missing section) first.
        raise ConfigError(sorted(located, key=lambda p: p.line or 0), source)
    assert doc is not None
    return Config(
        document=doc,
        route=Route.build(doc.route),
        receivers=receivers,
        original=text,
        source=source,
        kinds=dict(kinds),
        time_intervals=intervals,
        templates=templates,
        remediations=remediations,
    )


def load_config_file(
    path: str | Path, kinds: Mapping[str, ChannelKind],
    remediation_kinds: Mapping[str, RemediationKind] | None = None,
) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read config: {exc.strerror}")], str(p)) from None
    return load_config(text, kinds, source=str(p), remediation_kinds=remediation_kinds)
