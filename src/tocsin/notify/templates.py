"""Notification templates: Jinja2 in a sandbox.

Every channel has default templates; a receiver's integration may override
them with its own (config fields of type :class:`Template`, checked for
syntax when the config loads, with the YAML path in the error). Files named
by the top-level ``templates:`` globs are loaded as macro libraries: every
macro they define is callable from any template.

Rendering never drops a notification: :meth:`Templates.render` falls back to
a plain text summary when a template fails, and logs why.

The data a template sees (``data(notification, ...)``): ``status``,
``receiver``, ``groupKey``, ``groupLabels``, ``commonLabels``,
``commonAnnotations``, ``externalURL``, ``alerts`` (each with ``status``,
``labels``, ``annotations``, ``startsAt``, ``endsAt``, ``generatorURL``,
``fingerprint``, and ``starts`` / ``ends`` as Unix seconds), ``firing`` and
``resolved`` (the alerts by status), and ``now``.

A template that renders a JSON body (the webhook channel's and the webhook
remediation's ``body_template``) renders with ``json_body=True``: each
``{{ value }}`` writes the value's text JSON-escaped (``"``, ``\\`` and control
characters escaped, no quotes added), so ``"{{ labels.x }}"`` is always one
JSON string whatever the label holds, and a bare ``{{ alerts | length }}`` is
still a number. ``{{ value | tojson }}`` writes a whole JSON value (quotes
included), not escaped again; so does ``| safe`` (text that is JSON already)
and a macro's output (its own ``{{ }}`` are escaped).

Go templates, Alertmanager's language, work in every templated field and in
``templates:`` files: :func:`language` tells a field's language from its text
(``{{ .Status }}``, ``{{ template "x" . }}``, ``{{ range .Alerts }}`` are Go;
``{{ status }}``, ``{% if %}`` are Jinja2; the rule is in
:mod:`tocsin.notify.gotemplate.detect`), a ``templates:`` file that defines
templates (``{{ define "x" }}``) is Go, and a Go text renders through :mod:`tocsin.notify.gotemplate` on
Alertmanager's template data, with Alertmanager's default templates
(``{{ template "slack.default.title" . }}``) and the files' definitions. HTML
fields escape each action's output as ``html/template`` does in HTML text, JSON
bodies JSON-escape it. A Go template that fails is handled as a Jinja2 one: logged,
and the plain summary sent instead.

A few Alertmanager default values that tocsin deliberately renders its own way
(VictorOps' ``monitoring_tool`` says tocsin, the email's HTML is tocsin's page)
load as the channel's Jinja2 source: each channel lists them with
:func:`alertmanager_defaults`.
"""

from __future__ import annotations

import functools
import glob
import json
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import structlog
from markupsafe import Markup

from tocsin.channels.data import message_data
from tocsin.core.models import Alert, Notification

if TYPE_CHECKING:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from tocsin.notify import gotemplate

# Jinja2 and the Go template engine are imported when a template is first checked or
# rendered (a config of webhooks without templates never needs them): together about
# 4 MiB of a daemon's resident memory.

__all__ = [
    "Template", "TemplateError", "Templates", "alertmanager_defaults", "data", "duration_words", "json_text",
    "language",
]

log = structlog.get_logger("tocsin.notify.templates")


class TemplateError(ValueError):
    pass


def duration_words(seconds: float) -> str:
    """``3725`` -> ``1h 2m``: the two largest units, for people to read."""
    seconds = int(max(0, seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n}{unit}")
    return " ".join(parts[:2]) or "0s"


def _truncate(text: Any, length: int = 255, end: str = "…") -> str:
    s = str(text)
    return s if len(s) <= length else s[: max(0, length - len(end))] + end


def sorted_pairs(mapping: Any) -> list[tuple[str, Any]]:
    """Alertmanager's ``SortedPairs``: the (name, value) pairs sorted by name (by code
    point, as Go sorts), ``alertname`` first."""
    pairs = sorted(dict(mapping).items())
    first = [p for p in pairs if p[0] == "alertname"]
    return first + [p for p in pairs if p[0] != "alertname"]


def json_text(value: Any) -> Any:
    """What ``{{ value }}`` writes in a JSON body: the value's text escaped for the inside
    of a JSON string (no quotes added); left as it is when it is markup already (the
    output of ``tojson``, ``safe`` or a macro)."""
    if hasattr(value, "__html__"):
        return value
    return Markup(json.dumps(str(value), ensure_ascii=False)[1:-1])


def _finalize_json(eval_ctx: jinja2.nodes.EvalContext, value: Any) -> Any:
    # Taking the context (see _environment) keeps Jinja from folding a constant
    # ``{{ "<" }}`` when it compiles, which would HTML-escape it before this could
    # JSON-escape it.
    return json_text(value)


def _environment(autoescape: bool = False, *, json_body: bool = False) -> ImmutableSandboxedEnvironment:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # A JSON body's environment autoescapes so that what json_text returns (Markup) is
    # written as it is, and so that macros return Markup and are not escaped twice.
    env = ImmutableSandboxedEnvironment(
        autoescape=autoescape or json_body, trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.ChainableUndefined,
        finalize=jinja2.pass_eval_context(_finalize_json) if json_body else None,
    )
    env.filters["duration"] = duration_words
    # Go's ``urlquery``, as Alertmanager's templates escape the receiver in a link.
    env.filters["urlquery"] = lambda value: quote_plus(str(value), safe="")
    env.filters["truncate_text"] = _truncate
    env.filters["since"] = lambda ts, now=None: duration_words((now or time.time()) - float(ts))
    env.filters["join_labels"] = lambda labels, sep=", ": sep.join(
        f"{k}={v}" for k, v in sorted(dict(labels).items()))
    # A map's pairs as Alertmanager's SortedPairs orders them (alertname first).
    env.filters["sortedpairs"] = sorted_pairs
    env.globals["duration"] = duration_words
    return env


@functools.cache
def _checker() -> ImmutableSandboxedEnvironment:
    return _environment()

#: Alertmanager's default values (by template name for ``{{ template "NAME" . }}``, else the
#: exact text), each with the Jinja2 source that renders the same.
_ALERTMANAGER_DEFAULTS: dict[str, str] = {}
_TEMPLATE_CALL = re.compile(r'\{\{-?\s*template\s+"([^"]+)"\s+\.\s*-?\}\}')


def alertmanager_defaults(defaults: Mapping[str, str]) -> None:
    """Let these Alertmanager defaults load as the given Jinja2 sources: keys are template
    names (``opsgenie.default.message``) or, for a default that is not a template call,
    its exact text (``{{ if eq .Status "firing" }}2{{ else }}0{{ end }}``)."""
    _ALERTMANAGER_DEFAULTS.update(defaults)


def _alertmanager_default(text: str) -> str | None:
    call = _TEMPLATE_CALL.fullmatch(text.strip())
    return _ALERTMANAGER_DEFAULTS.get(call[1] if call else text.strip())


class Template(str):
    """Template source from the config; its syntax is checked when the config loads."""

    __slots__ = ()

    @classmethod
    def from_config(cls, obj: object) -> Template:
        if not isinstance(obj, str):
            raise TypeError("expected a template string")
        if "{{" in obj and (default := _alertmanager_default(obj)) is not None:
            return cls(default)
        import jinja2

        from tocsin.notify import gotemplate

        try:
            language(obj)
        except gotemplate.GoTemplateSyntaxError as exc:
            raise ValueError(f"Go template syntax error: {exc}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise ValueError(f"template syntax error on its line {exc.lineno}: {exc.message}") from None
        return cls(obj)


@functools.lru_cache(maxsize=4096)
def language(source: str) -> str:
    """``"go"`` or ``"jinja"``: Go when the text reads as Go (see
    :mod:`tocsin.notify.gotemplate.detect`), or when it parses as Go and not as Jinja2;
    Jinja2 otherwise. Raises the syntax error of the language it looks most like."""
    import jinja2

    from tocsin.notify import gotemplate

    if gotemplate.is_go(source):
        gotemplate.check(source)
        return "go"
    try:
        _checker().parse(source)
    except jinja2.TemplateSyntaxError:
        if "{%" in source or "{#" in source:
            raise
        try:
            gotemplate.check(source)
        except gotemplate.GoTemplateSyntaxError:
            pass
        else:
            return "go"
        raise
    return "jinja"


def data(n: Notification, external_url: str, alerts: list[Alert] | None = None) -> dict[str, Any]:
    chosen = n.alerts if alerts is None else alerts
    out = message_data(n, chosen, external_url)
    out["groupKey"] = n.group_key
    out["now"] = n.now
    for item, alert in zip(out["alerts"], chosen, strict=True):
        item["starts"] = alert.starts_at
        item["ends"] = alert.ends_at
    out["firing"] = [a for a in out["alerts"] if a["status"] == "firing"]
    out["resolved"] = [a for a in out["alerts"] if a["status"] == "resolved"]
    return out


def fallback_text(d: Mapping[str, Any]) -> str:
    """What is sent when a template cannot render: still says what fires."""
    names = sorted({a["labels"].get("alertname", "?") for a in d.get("alerts", [])})
    text = (f"[{str(d.get('status', '')).upper()}:{len(d.get('firing', []))}] "
            f"{', '.join(names)} ({d.get('receiver', '')})")
    notice = d.get("notice")
    return f"{notice['text']} · {text}" if notice else text


class Templates:
    """Compiled templates plus the macros of the ``templates:`` files. The environments
    and the Go templates are made when first used."""

    def __init__(self, globs: Iterable[str] = (), base_dir: Path | None = None) -> None:
        self._cache: dict[tuple[bool, bool, str], jinja2.Template] = {}
        for pattern in globs:
            full = str(base_dir / pattern) if base_dir and not Path(pattern).is_absolute() else pattern
            for path in sorted(glob.glob(full)):
                self._load_macros(Path(path))

    @functools.cached_property
    def env(self) -> ImmutableSandboxedEnvironment:
        return _environment()

    @functools.cached_property
    def html_env(self) -> ImmutableSandboxedEnvironment:
        return _environment(autoescape=True)

    @functools.cached_property
    def json_env(self) -> ImmutableSandboxedEnvironment:
        """For templates of JSON bodies: ``{{ }}`` output is JSON-escaped (see the module)."""
        return _environment(json_body=True)

    @functools.cached_property
    def go(self) -> gotemplate.GoTemplates:
        """Alertmanager's default Go templates and those the Go files define."""
        from tocsin.notify import gotemplate

        return gotemplate.GoTemplates()

    def _load_macros(self, path: Path) -> None:
        import jinja2

        from tocsin.notify import gotemplate

        source = path.read_text(encoding="utf-8")
        if gotemplate.is_go_file(source):
            try:
                self.go.add(source, str(path))
            except gotemplate.GoTemplateSyntaxError as exc:
                raise TemplateError(str(exc)) from None
            return
        for env in (self.env, self.html_env, self.json_env):
            try:
                module = env.from_string(source).module
            except jinja2.TemplateError as exc:
                raise TemplateError(f"{path}: {exc}") from None
            for name in dir(module):
                if not name.startswith("_"):
                    env.globals[name] = getattr(module, name)

    def _compiled(self, source: str, html: bool, json_body: bool) -> jinja2.Template:
        key = (html, json_body, source)
        tpl = self._cache.get(key)
        if tpl is None:
            env = self.json_env if json_body else self.html_env if html else self.env
            tpl = env.from_string(source)
            self._cache[key] = tpl
        return tpl

    def render(self, source: str, context: Mapping[str, Any], *, html: bool = False,
               json_body: bool = False, what: str = "template") -> str:
        """``source`` rendered: HTML-escaped with ``html``, JSON-escaped with ``json_body``
        (see the module); a plain summary, logged, when it fails."""
        try:
            if language(source) == "go":
                return self._render_go(source, context, html=html, json_body=json_body)
            return self._compiled(source, html, json_body).render(**context)
        except Exception as exc:  # a broken template must not drop the notification
            log.error("template failed; sending a plain message", template=what,
                      error=f"{type(exc).__name__}: {exc}")
            return fallback_text(context)

    def _render_go(self, source: str, context: Mapping[str, Any], *, html: bool, json_body: bool) -> str:
        from tocsin.notify import gotemplate

        escape = _json_inner if json_body and not html else None
        return self.go.render(source, gotemplate.from_context(context), escape, html=html)


def _json_inner(text: str) -> str:
    """What a Go action writes in a JSON body: its text escaped for the inside of a JSON string."""
    return json.dumps(text, ensure_ascii=False)[1:-1]
