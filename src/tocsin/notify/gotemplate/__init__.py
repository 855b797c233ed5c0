"""Go's ``text/template``, as Alertmanager 0.25 runs it, in Python.

:class:`GoTemplates` holds named templates: Alertmanager's default ones
(:mod:`.defaults`) and those the ``templates:`` files define; :meth:`GoTemplates.render`
runs a text on Alertmanager's template data (:mod:`.amdata`). :func:`check` is the
syntax check a config field gets when it loads.

The language: actions ``{{ }}`` with ``{{-``/``-}}`` trimming and ``{{/* */}}``
comments; pipelines; variables (``$``, ``$x := ``, ``$x = ``); fields, map keys
and methods (``.A.B``, ``.Labels.SortedPairs``); ``if``/``else if``/``else``,
``range`` (``else``, ``$i, $v :=``, ``break``, ``continue``; maps by sorted key),
``with``/``else``, ``define``, ``template``, ``block``; the functions of
:mod:`.funcs`. Maps give ``""`` for a missing key (``missingkey=zero``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tocsin.notify.gotemplate.amdata import from_context
from tocsin.notify.gotemplate.defaults import SOURCE
from tocsin.notify.gotemplate.detect import is_go, is_go_file
from tocsin.notify.gotemplate.execute import execute
from tocsin.notify.gotemplate.funcs import FUNCS, html_escape, html_text_escape
from tocsin.notify.gotemplate.lexer import GoTemplateSyntaxError
from tocsin.notify.gotemplate.nodes import ListNode
from tocsin.notify.gotemplate.parser import parse
from tocsin.notify.gotemplate.values import ExecError

__all__ = [
    "ExecError", "GoTemplateSyntaxError", "GoTemplates", "check", "from_context", "html_escape",
    "html_text_escape", "is_go", "is_go_file",
]


@functools.lru_cache(maxsize=1024)
def _parsed(source: str) -> tuple[ListNode, dict[str, ListNode]]:
    return parse(source, FUNCS)


def check(source: str) -> None:
    """Raises :class:`GoTemplateSyntaxError` if the text does not parse."""
    _parsed(source)


def _merge(into: dict[str, ListNode], defines: Mapping[str, ListNode]) -> None:
    # As Go's AddParseTree: a definition replaces an earlier one unless it is empty.
    for name, body in defines.items():
        if name not in into or not body.empty():
            into[name] = body


class GoTemplates:
    """Alertmanager's default templates plus the definitions of the ``templates:`` files."""

    def __init__(self) -> None:
        self.defined: dict[str, ListNode] = dict(_parsed(SOURCE)[1])

    def add(self, source: str, origin: str = "") -> None:
        """Adds what a file defines; :class:`GoTemplateSyntaxError` names the file."""
        try:
            _, defines = parse(source, FUNCS)
        except GoTemplateSyntaxError as exc:
            raise GoTemplateSyntaxError(f"{origin}: {exc}" if origin else str(exc)) from None
        _merge(self.defined, defines)

    def add_file(self, path: Path) -> None:
        self.add(path.read_text(encoding="utf-8"), str(path))

    def render(self, source: str, data: Any, escape: Callable[[str], str] | None = None, *,
               html: bool = False) -> str:
        """The text rendered on ``data`` (``template.Data``); each action's output passed
        through ``escape`` if given; as ``html/template`` writes HTML text with
        ``html``. :class:`ExecError` or :class:`GoTemplateSyntaxError`
        when it fails."""
        if not source:
            return ""
        root, defines = _parsed(source)
        templates = self.defined
        if defines:
            templates = dict(self.defined)
            _merge(templates, defines)
        return execute(templates, root, data, "", escape, html=html)
