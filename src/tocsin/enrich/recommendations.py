"""``enrich.recommendations``: what to do, by the alert's category and alertname,
merged into its ``recommendations`` annotation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tocsin import hookimpl
from tocsin.core.models import Alert
from tocsin.enrich.bounds import guard
from tocsin.enrich.config import RecommendationsConfig

if TYPE_CHECKING:
    from tocsin.core.facade import Facade

__all__ = ["RecommendationsEnricher", "apply_recommendations", "recommendations"]


def apply_recommendations(cfg: RecommendationsConfig, alert: Alert) -> None:
    """The sender's lines, then the alertname's, then the category's; each line once."""
    extra: list[str] = []
    alertname = alert.labels.get("alertname", "")
    if alertname:
        extra.extend(cfg.by_alertname.get(alertname, ()))
    category = alert.labels.get("category", "")
    if category:
        extra.extend(cfg.by_category.get(category) or cfg.by_category.get(category.lower()) or ())
    if not extra:
        return
    lines: list[str] = []
    seen: set[str] = set()
    for line in (*alert.annotations.get("recommendations", "").splitlines(), *extra):
        line = line.strip()
        if line and line not in seen:
            seen.add(line)
            lines.append(line)
    alert.annotations["recommendations"] = "\n".join(lines)


class RecommendationsEnricher:
    """``enrich.recommendations``: what to do, by category and alertname."""

    name = "recommendations"

    def wanted(self, runtime: Facade) -> bool:
        rec = runtime.config.document.enrich.recommendations
        return rec is not None and bool(rec.by_category or rec.by_alertname)

    @hookimpl
    def tocsin_enrich(self, runtime: Facade, alert: Alert) -> Any:
        cfg = runtime.config.document.enrich
        rec = cfg.recommendations
        if rec is None or not (rec.by_category or rec.by_alertname):
            return None
        return guard(self.name, float(cfg.timeout), alert, lambda: apply_recommendations(rec, alert))



#: The plugin object the entry point ``enrich-recommendations`` names.
recommendations = RecommendationsEnricher()
