"""The ``enrich:`` section: one Struct per enricher, checked as the config loads
(label names, template syntax and filters, band order)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Literal

import msgspec

from tocsin.config.types import ConfigBase, Duration, MatcherList
from tocsin.config.validate import field_error
from tocsin.core.labels import valid_label_name
from tocsin.notify.templates import Template, Templates

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "MAX_TOP", "EnrichConfig", "EnrichRule", "HostConfig", "RecommendationsConfig", "ThresholdBand",
    "ThresholdConfig",
]

#: Most processes the host enricher lists by CPU, and by memory.
MAX_TOP = 50


_template_checker: jinja2.Environment | None = None


def _check_template(source: str) -> None:
    """Compile (not only parse) a template, so an unknown filter is a config error."""
    global _template_checker
    if _template_checker is None:
        _template_checker = Templates().env
    _template_checker.from_string(source)


def _check_names(what: str, names: Iterable[str]) -> None:
    for name in names:
        if not valid_label_name(name):
            raise field_error(f"{what}.{name}", f"invalid {what[:-1]} name {name!r}")


class EnrichRule(ConfigBase):
    """Alerts matching ``matchers`` (all of them; none matches every alert) get
    ``labels`` and ``annotations`` (Jinja2 over ``labels`` and ``annotations``)."""

    matchers: list[MatcherList] = []
    labels: dict[str, str] = {}
    annotations: dict[str, Template] = {}
    #: Replace a value the alert already has (default: keep the sender's).
    overwrite: bool = False

    def __post_init__(self) -> None:
        if not self.labels and not self.annotations:
            # Named after annotations: the check is then dropped when annotations had errors.
            raise field_error("annotations", "a rule must add labels or annotations")
        _check_names("labels", self.labels)
        for name, value in self.labels.items():
            if value == "":
                raise field_error(f"labels.{name}", "must not be empty (an empty label is no label)")
        _check_names("annotations", self.annotations)
        import jinja2  # here: a config without rules never needs it

        for name, source in self.annotations.items():
            try:
                _check_template(source)
            except jinja2.TemplateError as exc:
                raise field_error(f"annotations.{name}", f"template error: {exc}") from None


class ThresholdBand(ConfigBase):
    #: Percent beyond the threshold that must be exceeded for this band.
    over: float
    severity: str
    priority: str | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.over) or self.over < 0:
            raise field_error("over", "must be a number of percent, zero or more")
        if not self.severity.strip():
            raise field_error("severity", "must not be empty")
        if self.priority is not None and not self.priority.strip():
            raise field_error("priority", "must not be empty (leave it out instead)")


class ThresholdConfig(ConfigBase):
    #: Annotation (or, failing that, label) holding the measured value.
    value: str = "value"
    #: Annotation (or label) holding the threshold.
    threshold: str = "threshold"
    #: ``above``: a value over the threshold is bad; ``below``: a value under it is.
    direction: Literal["above", "below"] = "above"
    #: In descending order of ``over``; the first whose ``over`` is exceeded wins.
    bands: list[ThresholdBand] = []

    def __post_init__(self) -> None:
        for key in ("value", "threshold"):
            if not valid_label_name(getattr(self, key)):
                raise field_error(key, f"invalid annotation name {getattr(self, key)!r}")
        for i in range(1, len(self.bands)):
            if self.bands[i].over >= self.bands[i - 1].over:
                raise field_error(f"bands[{i}].over",
                                  "bands must be in descending order of 'over' (the first that fits wins)")


def _check_lines(what: str, table: Mapping[str, list[str]]) -> None:
    for key, lines in table.items():
        for i, line in enumerate(lines):
            if not line.strip():
                raise field_error(f"{what}.{key}[{i}]", "must not be empty")


class RecommendationsConfig(ConfigBase):
    #: By the value of the alert's ``category`` label.
    by_category: dict[str, list[str]] = {}
    #: By the alert's ``alertname``.
    by_alertname: dict[str, list[str]] = {}

    def __post_init__(self) -> None:
        _check_lines("by_category", self.by_category)
        _check_lines("by_alertname", self.by_alertname)


class HostConfig(ConfigBase):
    enabled: bool = False
    #: Extra condition on top of "the alert is about this host".
    matchers: list[MatcherList] = []
    #: Processes listed by CPU and by memory.
    top: int = 5
    timeout: Duration = Duration(1)

    def __post_init__(self) -> None:
        if not 1 <= self.top <= MAX_TOP:
            raise field_error("top", f"must be between 1 and {MAX_TOP}")
        if self.timeout <= 0:
            raise field_error("timeout", "must be greater than zero")


class EnrichConfig(ConfigBase):
    #: Bound of each enricher (but host, which has its own) for one alert.
    timeout: Duration = Duration(2)
    #: Applied in order; a rule's matchers see the labels earlier rules added.
    rules: list[EnrichRule] = []
    threshold: ThresholdConfig | None = None
    recommendations: RecommendationsConfig | None = None
    host: HostConfig = msgspec.field(default_factory=HostConfig)

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise field_error("timeout", "must be greater than zero")

