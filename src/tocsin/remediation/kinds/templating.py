"""Templates in remediation configs: checked at load, rendered strictly.

Templates render with :class:`jinja2.StrictUndefined`: a label the template
names that the alert lacks is an error (:class:`RemediationError`), not an
empty string; write ``{{ labels.x | default("") }}`` to allow it. They use the
config's sandboxed environment, so its macros and filters are there too.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tocsin.notify.templates import Template, Templates
from tocsin.remediation import RemediationError

if TYPE_CHECKING:
    import jinja2

__all__ = ["CompiledTemplate", "TemplateText", "has_markup"]


def has_markup(text: str) -> bool:
    """Whether ``text`` is a template rather than a fixed string."""
    return any(m in text for m in ("{{", "{%", "{#"))


class TemplateText(Template):
    """A template field (syntax checked at load) that also takes a YAML number or boolean
    as its text, so ``argv: [/usr/bin/x, --count, 5]`` needs no quotes."""

    __slots__ = ()

    @classmethod
    def from_config(cls, obj: object) -> TemplateText:
        if isinstance(obj, bool):
            obj = "true" if obj else "false"
        elif isinstance(obj, int | float):
            obj = str(obj)
        return cls(Template.from_config(obj))


#: Per config: the strict environment, and the strict one for JSON bodies (key: json_body).
_strict_envs: weakref.WeakKeyDictionary[Templates, dict[bool, jinja2.Environment]] = (
    weakref.WeakKeyDictionary())


def _strict_env(templates: Templates, json_body: bool = False) -> jinja2.Environment:
    """The config's sandboxed environment (with its macros and filters), but strict about
    undefined names; with ``json_body``, the one that JSON-escapes ``{{ }}`` output."""
    import jinja2  # here: a config without remediations never needs it

    envs = _strict_envs.setdefault(templates, {})
    env = envs.get(json_body)
    if env is None:
        env = (templates.json_env if json_body else templates.env).overlay(undefined=jinja2.StrictUndefined)
        envs[json_body] = env
    return env


class CompiledTemplate:
    """One template of a remediation, compiled at load; ``render`` raises :class:`RemediationError`.
    With ``json_body``, each ``{{ }}`` writes its value JSON-escaped
    (:mod:`tocsin.notify.templates`): for a template that renders JSON."""

    def __init__(self, templates: Templates, source: str, what: str, *, json_body: bool = False) -> None:
        self.source = source
        self.what = what
        import jinja2

        try:
            self._template = _strict_env(templates, json_body).from_string(source)
        except jinja2.TemplateError as exc:
            raise RemediationError(f"{what}: {exc}") from None

    def render(self, data: Mapping[str, Any]) -> str:
        try:
            return self._template.render(**data)
        except Exception as exc:  # undefined names, sandbox refusals, errors in filters and macros
            raise RemediationError(f"{self.what}: {type(exc).__name__}: {exc}") from None
