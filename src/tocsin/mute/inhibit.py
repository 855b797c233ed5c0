"""Inhibition rules, with Alertmanager's semantics.

An alert matching a rule's target matchers is muted while some other alert
that matches its source matchers is firing and has the same values for the
rule's ``equal`` labels (a label missing on both sides counts as equal).
When the target also matches the source matchers, source alerts that match
the target matchers too are not counted: an alert never inhibits itself, nor
is inhibited by its own kind.

Each rule keeps an index of its source alerts by their ``equal`` values, so
a check is a dict lookup, not a scan of every alert.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tocsin import hookimpl
from tocsin.core.facade import Key
from tocsin.core.mute import MuteReason
from tocsin.dispatch.route import Route

if TYPE_CHECKING:
    from tocsin.core.facade import Facade

from collections.abc import Iterable
from dataclasses import dataclass, field

from tocsin.config.types import ConfigBase, MatcherList, Regex
from tocsin.config.validate import field_error
from tocsin.core.labels import valid_label_name
from tocsin.core.matchers import Matcher, MatchType, matches_all
from tocsin.core.models import Alert

__all__ = ["InhibitRule", "InhibitRuleConfig", "Inhibitor"]


class AlertLookup(Protocol):
    """Where the inhibitor finds alerts by fingerprint (the alert state, or a dict)."""

    def get(self, fingerprint: str, /) -> Alert | None: ...


class InhibitRuleConfig(ConfigBase, kw_only=True):
    source_matchers: list[MatcherList] = []
    target_matchers: list[MatcherList] = []
    equal: list[str] = []
    # Deprecated in Alertmanager, still accepted.
    source_match: dict[str, str] = {}
    source_match_re: dict[str, Regex] = {}
    target_match: dict[str, str] = {}
    target_match_re: dict[str, Regex] = {}

    def __post_init__(self) -> None:
        for key in ("source_match", "source_match_re", "target_match", "target_match_re"):
            for name in getattr(self, key):
                if not valid_label_name(name):
                    raise field_error(f"{key}.{name}", f"invalid label name {name!r}")
        for i, name in enumerate(self.equal):
            if not valid_label_name(name):
                raise field_error(f"equal[{i}]", f"invalid label name {name!r}")


def _matchers(eq: dict[str, str], regex: dict[str, Regex], lists: list[MatcherList]) -> tuple[Matcher, ...]:
    out = [Matcher.create(k, MatchType.EQUAL, v) for k, v in eq.items()]
    out += [Matcher.legacy_regex(k, v) for k, v in regex.items()]
    for line in lists:
        out.extend(line)
    return tuple(out)


@dataclass
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]
    #: equal-label values -> fingerprints of source alerts having them
    index: dict[tuple[str, ...], set[str]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, c: InhibitRuleConfig) -> InhibitRule:
        return cls(
            source=_matchers(c.source_match, c.source_match_re, c.source_matchers),
            target=_matchers(c.target_match, c.target_match_re, c.target_matchers),
            equal=tuple(sorted(set(c.equal))),
        )

    def key(self, labels: dict[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(n, "") for n in self.equal)


class Inhibitor:
    def __init__(self, configs: Iterable[InhibitRuleConfig]) -> None:
        self.rules = [InhibitRule.from_config(c) for c in configs]
        #: Counts the changes of the rules' indexes: what a cache of mute verdicts compares.
        self.version = 0

    def observe(self, alert: Alert) -> None:
        """Note an alert that arrived (its labels decide once which rules it may source)."""
        for rule in self.rules:
            if matches_all(rule.source, alert.labels):
                rule.index.setdefault(rule.key(alert.labels), set()).add(alert.fingerprint)
                self.version += 1

    def observe_all(self, alerts: Iterable[Alert]) -> None:
        """:meth:`observe` each of ``alerts`` (those loaded at start; none looked at without rules)."""
        if self.rules:
            for alert in alerts:
                self.observe(alert)

    def forget(self, fingerprint: str, labels: dict[str, str]) -> None:
        for rule in self.rules:
            fps = rule.index.get(rule.key(labels))
            if fps is not None:
                fps.discard(fingerprint)
                self.version += 1
                if not fps:
                    del rule.index[rule.key(labels)]

    def inhibited_by(self, alert: Alert, alerts: AlertLookup, now: float) -> str | None:
        """The fingerprint of a firing alert that inhibits ``alert``, or None."""
        labels = alert.labels
        for rule in self.rules:
            if not matches_all(rule.target, labels):
                continue
            candidates = rule.index.get(rule.key(labels))
            if not candidates:
                continue
            two_sided = matches_all(rule.source, labels)
            for fp in sorted(candidates):
                src = alerts.get(fp)
                if src is None or src.resolved(now):
                    continue
                if two_sided and matches_all(rule.target, src.labels):
                    continue
                return fp
        return None

#: The inhibitor of the current config, as the runtime shares it with plugins.
INHIBITOR: Key[Inhibitor] = Key("inhibitor")


@hookimpl
def tocsin_mute(runtime: Facade, alert: Alert, route: Route | None, now: float) -> MuteReason | None:
    by = runtime[INHIBITOR].inhibited_by(alert, runtime.alerts, now)
    return MuteReason("inhibition", (by,)) if by is not None else None
