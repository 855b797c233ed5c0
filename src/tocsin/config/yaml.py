"""The config file as YAML: parsed keeping its nodes, so that a problem found
while decoding names the line it is on, with the scalars of the time interval
sections kept as text.

(This module is ``tocsin.config.yaml``; ``import yaml`` in it, as anywhere,
is PyYAML.)
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from tocsin.config.validate import ConfigError, Problem

__all__ = ["TextScalarLoader", "parse", "with_line", "yaml_error"]


class TextScalarLoader(yaml.SafeLoader):
    """Scalars as their text, null aside: what yaml.v2 gives a Go string field.

    Time intervals are all text in Alertmanager, and YAML 1.1 would otherwise
    read the documented ``end_time: 17:00`` as the base-60 integer 1020.
    """


for _tag in ("bool", "int", "float", "timestamp"):
    TextScalarLoader.add_constructor(
        f"tag:yaml.org,2002:{_tag}", TextScalarLoader.construct_yaml_str)  # type: ignore[type-var]


def _time_interval_sections_as_text(node: yaml.Node, data: dict[str, Any]) -> None:
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value in ("time_intervals", "mute_time_intervals"):
            data[key.value] = TextScalarLoader("").construct_document(value)


#: What building a parsed YAML node can raise.
_UNBUILDABLE = (yaml.YAMLError, ValueError, TypeError, AttributeError)


def yaml_error(exc: Exception, path: str, what: str, source: str | None) -> ConfigError:
    """A YAML error as a config error, at the line PyYAML points to (if it does)."""
    mark = getattr(exc, "problem_mark", None)
    return ConfigError([Problem(path, f"{what}: {exc}", mark.line + 1 if mark is not None else None)], source)


def parse(text: str, source: str | None = None) -> tuple[yaml.Node, dict[str, Any]]:
    """The document's root node and its data; a ConfigError when it is not YAML, or
    not a mapping."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, "", "invalid YAML", source) from None
    try:
        data = yaml.SafeLoader("").construct_document(node) if node is not None else None
    except _UNBUILDABLE as exc:
        # A node PyYAML parsed but cannot build: `name: =`, `!!int x`, an unknown `!tag`.
        raise yaml_error(exc, "", "invalid YAML value", source) from None
    if node is None or not isinstance(data, dict):
        raise ConfigError([Problem("", "the config must be a YAML mapping with a 'route'")], source)
    try:
        _time_interval_sections_as_text(node, data)
    except _UNBUILDABLE as exc:
        raise yaml_error(exc, "time_intervals", "invalid YAML value", source) from None
    return node, data


_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def with_line(problem: Problem, node: yaml.Node | None) -> Problem:
    """Attach the YAML line of the deepest node the problem's path reaches."""
    line = None
    current = node
    for name, index in _PATH_TOKEN.findall(problem.path):
        if current is None:
            break
        line = current.start_mark.line + 1
        nxt = None
        if index and isinstance(current, yaml.SequenceNode):
            i = int(index)
            nxt = current.value[i] if i < len(current.value) else None
        elif name and isinstance(current, yaml.MappingNode):
            for k, v in current.value:
                if getattr(k, "value", None) == name:
                    nxt = v
                    line = k.start_mark.line + 1
                    break
        current = nxt
    if current is not None:
        line = current.start_mark.line + 1
    return Problem(problem.path, problem.message, problem.line or line)
