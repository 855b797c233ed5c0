"""``enrich.rules``: labels and templated annotations for the alerts a rule's
matchers select.

Rules apply in order, and a rule's matchers see the labels earlier rules
added. Labels are set at once; the matched rules' annotations are rendered
afterwards in one go, in a worker thread (a template sees what earlier rules
rendered), so that a timeout keeps the labels and drops the rendering.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, NamedTuple

import structlog

from tocsin import hookimpl
from tocsin.core.matchers import Matcher, matches_all
from tocsin.core.models import Alert
from tocsin.enrich.bounds import executor, flat_matchers, guard
from tocsin.enrich.config import EnrichRule
from tocsin.notify.templates import Templates

if TYPE_CHECKING:
    import jinja2

    from tocsin.core.facade import Facade

__all__ = ["RulesEnricher", "rules"]

log = structlog.get_logger("tocsin.enrich")

class _Rule(NamedTuple):
    number: int
    matchers: tuple[Matcher, ...]
    labels: tuple[tuple[str, str], ...]
    annotations: tuple[tuple[str, jinja2.Template], ...]
    overwrite: bool


def _render(rule: _Rule, name: str, tpl: jinja2.Template, labels: dict[str, str],
            annotations: dict[str, str]) -> str | None:
    try:
        return tpl.render(labels=labels, annotations=annotations).strip()
    except Exception as exc:  # a broken value is skipped, the others still render
        log.error("enrich template failed; value skipped", rule=rule.number, annotation=name,
                  error=f"{type(exc).__name__}: {exc}", alertname=labels.get("alertname", ""))
        return None


def _render_pending(
    pending: list[tuple[_Rule, dict[str, str]]], annotations: dict[str, str]
) -> dict[str, str]:
    """Render the matched rules' annotations in rule order (a template sees what earlier
    rules rendered); return only the values to set. Runs in a worker thread, on copies."""
    current = dict(annotations)
    changed: dict[str, str] = {}
    for rule, labels in pending:
        for name, tpl in rule.annotations:
            if not rule.overwrite and current.get(name):
                continue
            value = _render(rule, name, tpl, labels, current)
            if value:
                current[name] = changed[name] = value
    return changed


class RulesEnricher:
    """``enrich.rules``: labels and templated annotations for matching alerts."""

    name = "rules"

    def __init__(self) -> None:
        self._cache: tuple[list[EnrichRule], tuple[_Rule, ...]] | None = None

    def compiled(self, rules: list[EnrichRule], templates: Templates) -> tuple[_Rule, ...]:
        """``rules`` with matchers flattened and templates compiled, once per config
        (a reload decodes a new list)."""
        cache = self._cache
        if cache is not None and cache[0] is rules:
            return cache[1]
        import jinja2  # here: a config without rules never needs it

        env = templates.env  # macros of the ``templates:`` files are callable
        out = []
        for i, rule in enumerate(rules):
            annotations = []
            for name, source in rule.annotations.items():
                try:
                    annotations.append((name, env.from_string(source)))
                except jinja2.TemplateError as exc:  # checked at load; kept safe regardless
                    log.error("enrich template does not compile; value skipped", rule=i,
                              annotation=name, error=str(exc))
            out.append(_Rule(i, flat_matchers(rule.matchers), tuple(rule.labels.items()), tuple(annotations),
                             rule.overwrite))
        compiled = tuple(out)
        self._cache = (rules, compiled)
        return compiled

    def wanted(self, runtime: Facade) -> bool:
        return bool(runtime.config.document.enrich.rules)

    @hookimpl(tryfirst=True)
    def tocsin_enrich(self, runtime: Facade, alert: Alert) -> Any:
        cfg = runtime.config.document.enrich
        if not cfg.rules:
            return None
        templates = runtime.config.templates
        return guard(self.name, float(cfg.timeout), alert, lambda: self._apply(cfg.rules, templates, alert))

    async def _apply(self, rules: list[EnrichRule], templates: Templates, alert: Alert) -> None:
        labels = alert.labels
        given = alert.annotations
        pending: list[tuple[_Rule, dict[str, str]]] = []
        for rule in self.compiled(rules, templates):
            if not matches_all(rule.matchers, labels):
                continue
            for name, value in rule.labels:
                if rule.overwrite or not labels.get(name):
                    labels[name] = value
            # Templates see the labels as they are after this rule's own.
            if any(rule.overwrite or not given.get(name) for name, _ in rule.annotations):
                pending.append((rule, dict(labels)))
        if not pending:
            return
        loop = asyncio.get_running_loop()
        rendered = await loop.run_in_executor(executor(), _render_pending, pending, dict(given))
        given.update(rendered)



#: The plugin object the entry point ``enrich-rules`` names.
rules = RulesEnricher()
