"""The ``severity`` label: the levels tocsin knows, their order, and their spellings.

One ranking serves every place that compares severities: the colour of a
channel's message (the most severe firing alert's), the ``@here`` mention of a
critical one, the ``severity`` of a native event. A value tocsin does not know
(``page``, ``P1``) is no level: each caller says what that means for it.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["SEVERITIES", "highest_severity", "severity_level"]

#: The levels, most severe first.
SEVERITIES = ("critical", "error", "warning", "info")

_RANK = {level: rank for rank, level in enumerate(reversed(SEVERITIES))}
_ALIASES = {"crit": "critical", "err": "error", "warn": "warning",
            "information": "info", "informational": "info"}


def severity_level(value: str | None) -> str | None:
    """``" CRIT "`` -> ``"critical"``: one of :data:`SEVERITIES`, or None if unknown."""
    v = (value or "").strip().lower()
    v = _ALIASES.get(v, v)
    return v if v in _RANK else None


def highest_severity(values: Iterable[str | None]) -> str | None:
    """The most severe level among label values (aliases allowed); None if none is known."""
    known = [level for v in values if (level := severity_level(v)) is not None]
    return max(known, key=_RANK.__getitem__) if known else None
