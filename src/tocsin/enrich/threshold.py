"""``enrich.threshold``: severity (and priority) from how far a value is beyond
its threshold, and a ``threshold_message`` saying so."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import structlog

from tocsin import hookimpl
from tocsin.core.models import Alert
from tocsin.enrich.bounds import guard, who
from tocsin.enrich.config import ThresholdConfig

if TYPE_CHECKING:
    from tocsin.core.facade import Facade

__all__ = ["ThresholdEnricher", "apply_threshold", "threshold"]

log = structlog.get_logger("tocsin.enrich")


def _lookup(alert: Alert, name: str) -> str | None:
    value = alert.annotations.get(name)
    if value is None or value.strip() == "":
        value = alert.labels.get(name)
    return None if value is None or value.strip() == "" else value.strip()


def _number(text: str) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _plain(x: float) -> str:
    """``5.0`` -> ``5``, ``0.30000000000000004`` -> ``0.3``."""
    return f"{x:.6f}".rstrip("0").rstrip(".") or "0"


def apply_threshold(cfg: ThresholdConfig, alert: Alert) -> None:
    """Set ``severity`` / ``priority`` labels from the band and the ``threshold_message``
    annotation (and ``summary`` when the alert has none)."""
    raw_value, raw_threshold = _lookup(alert, cfg.value), _lookup(alert, cfg.threshold)
    if raw_value is None or raw_threshold is None:
        return  # not an alert about a threshold
    value, limit = _number(raw_value), _number(raw_threshold)
    if value is None or limit is None:
        bad, text = (cfg.value, raw_value) if value is None else (cfg.threshold, raw_threshold)
        log.warning("threshold enricher: not a number; skipped", field=bad, text=text[:100], **who(alert))
        return
    beyond = value - limit if cfg.direction == "above" else limit - value
    verb = "exceeded by" if cfg.direction == "above" else "below by"
    band = None
    if beyond <= 0:
        message = f"{raw_value} (threshold {raw_threshold}, within threshold)"
    elif limit == 0:  # no percentage of zero: the absolute difference, and the lowest band
        message = f"{raw_value} (threshold {raw_threshold}, {verb} {_plain(beyond)})"
        band = cfg.bands[-1] if cfg.bands else None
    else:
        percent = beyond / abs(limit) * 100
        message = f"{raw_value} (threshold {raw_threshold}, {verb} {percent:.1f}%)"
        band = next((b for b in cfg.bands if percent > b.over), None)
    if band is not None:
        alert.labels["severity"] = band.severity
        if band.priority:
            alert.labels["priority"] = band.priority
    alert.annotations["threshold_message"] = message
    if not alert.annotations.get("summary"):
        alert.annotations["summary"] = message


class ThresholdEnricher:
    """``enrich.threshold``: severity from how far a value is beyond its threshold."""

    name = "threshold"

    def wanted(self, runtime: Facade) -> bool:
        return runtime.config.document.enrich.threshold is not None

    @hookimpl
    def tocsin_enrich(self, runtime: Facade, alert: Alert) -> Any:
        cfg = runtime.config.document.enrich
        if cfg.threshold is None:
            return None
        return guard(self.name, float(cfg.timeout), alert, lambda: apply_threshold(cfg.threshold, alert))



#: The plugin object the entry point ``enrich-threshold`` names.
threshold = ThresholdEnricher()
