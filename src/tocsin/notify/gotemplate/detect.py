"""Which template language a text is in: Go (Alertmanager's) or Jinja2 (tocsin's).

A text is Go when one of its ``{{ }}`` actions reads as Go and none as Jinja2 can:
it begins (after ``{{`` or ``{{-``) with ``.`` or ``$`` (``{{ .Status }}``,
``{{ $x := 1 }}``), a comment ``/*``, ``template``, ``define`` or ``block`` and a
quoted name (``{{ template "x" . }}``), ``range``, ``if`` or ``with`` and an
argument (``{{ range .Alerts }}``), ``{{ else }}``, ``{{ end }}``, ``{{ break }}``,
``{{ continue }}``, ``and``, ``or`` or ``not`` and a field or variable
(``{{ not .Alerts }}``, where ``{{ not firing }}`` is Jinja2), or another Go
function and an argument (``{{ printf "%s" .X }}``, ``{{ toUpper "x" }}``); or a pipe feeds a Go-only function
(``{{ "x" | toUpper }}``). A text with a Jinja2 statement or comment (``{%``,
``{#``) is Jinja2 regardless. Everything else is Jinja2, so ``{{ receiver }}`` is
Jinja2 and ``{{ .Receiver }}`` is Go.

A ``templates:`` file is Go when it defines a template (``{{ define "x" }}``).
"""

from __future__ import annotations

import re

__all__ = ["is_go", "is_go_file"]

_GO_NAMED = r"(?:template|define|block)\s+[\"`]"
_GO_BRANCH = r"(?:range|if|with|else\s+if)\s+[^\s}]"
_GO_ALONE = r"(?:else|end|break|continue)\s*-?\}\}"
_GO_LOGIC = r"(?:and|or|not)\s+[.$]"
_GO_FUNCTIONS = ("printf|print|println|len|index|slice|eq|ne|lt|le|gt|ge|html|js|urlquery|"
                 "toUpper|toLower|title|join|match|safeHtml|reReplaceAll|stringSlice")
_GO_ONLY_FILTERS = "toUpper|toLower|printf|println|len|reReplaceAll|safeHtml|stringSlice|html|js|match"
_ACTION_START = re.compile(
    r"\{\{-?\s*(?:[.$]|/\*|" + _GO_NAMED + "|" + _GO_BRANCH + "|" + _GO_ALONE + "|" + _GO_LOGIC
    + "|(?:" + _GO_FUNCTIONS + r")\s+[.$\"`(\d'A-Za-z-])"
)
_GO_PIPE = re.compile(r"\{\{[^}]*\|\s*(?:" + _GO_ONLY_FILTERS + r")\b")
_JINJA_BLOCK = re.compile(r"\{[%#]")
_DEFINE = re.compile(r"\{\{-?\s*define\s")


def is_go(text: str) -> bool:
    """Whether a template text is Go's (see the module)."""
    if "{{" not in text or _JINJA_BLOCK.search(text):
        return False
    return bool(_ACTION_START.search(text) or _GO_PIPE.search(text))


def is_go_file(text: str) -> bool:
    """Whether a ``templates:`` file holds Go templates."""
    return bool(_DEFINE.search(text))
