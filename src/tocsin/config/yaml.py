"""The config file as YAML: parsed keeping its nodes, so that a problem found
while decoding names the line it is on, with the scalars of the time interval
sections kept as text.

(This module is ``tocsin.config.yaml``; ``import yaml`` in it, as anywhere,
is PyYAML.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

import yaml

from tocsin.config.masking import SecretMask
from tocsin.config.validate import ConfigError, Problem, Scalar

__all__ = ["TextScalarLoader", "parse", "with_line", "yaml_error"]


class TextScalarLoader(yaml.SafeLoader):
    """Scalars as their text, null aside: what yaml.v2 gives a Go string field.

    Time intervals are all text in Alertmanager, and YAML 1.1 would otherwise
    read the documented ``end_time: 17:00`` as the base-60 integer 1020.
    """


for _tag in ("bool", "int", "float", "timestamp"):
    TextScalarLoader.add_constructor(
        f"tag:yaml.org,2002:{_tag}", TextScalarLoader.construct_yaml_str)  # type: ignore[type-var]


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with booleans and numbers as :class:`Scalar`."""


def _keeping_text(construct: Callable[[yaml.SafeLoader, yaml.ScalarNode], Any]) -> Any:
    def build(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Scalar:
        return Scalar(construct(loader, node), node.value)
    return build


for _tag, _construct in (("bool", yaml.SafeLoader.construct_yaml_bool),
                         ("int", yaml.SafeLoader.construct_yaml_int),
                         ("float", yaml.SafeLoader.construct_yaml_float)):
    _ConfigLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _keeping_text(_construct))


def _time_interval_sections_as_text(node: yaml.Node, data: dict[str, Any]) -> None:
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value in ("time_intervals", "mute_time_intervals"):
            data[key.value] = TextScalarLoader("").construct_document(value)


def _mark(mark: Any, mask: SecretMask) -> str:
    return f"  at line {mark.line + 1}, column {mark.column + 1}:\n{mask.snippet(mark.line, mark.column)}"


def _marked_message(exc: yaml.MarkedYAMLError, mask: SecretMask) -> str:
    """PyYAML's message (context, problem, note, each mark with its line), built again
    from its parts: the secret values masked in the lines and the words."""
    parts: list[str] = []
    if exc.context is not None:
        parts.append(mask.scrub(exc.context))
    cm, pm = exc.context_mark, exc.problem_mark
    if cm is not None and (exc.problem is None or pm is None or (cm.line, cm.column) != (pm.line, pm.column)):
        parts.append(_mark(cm, mask))
    if exc.problem is not None:
        parts.append(mask.scrub(exc.problem))
    if pm is not None:
        parts.append(_mark(pm, mask))
    if exc.note is not None:
        parts.append(mask.scrub(exc.note))
    return "\n".join(parts)


def yaml_error(exc: Exception, path: str, what: str, source: str | None,
               mask: SecretMask | None = None) -> ConfigError:
    """A YAML error as a config error, at the line PyYAML points to (if it does), with
    the values of secret keys masked (``mask``) wherever the message shows them."""
    mask = mask or SecretMask([])
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    message = (_marked_message(exc, mask) if isinstance(exc, yaml.MarkedYAMLError)
               else mask.scrub(str(exc)))
    return ConfigError([Problem(path, f"{what}: {message}", mark.line + 1 if mark is not None else None)],
                       source)


def _build(build: Callable[[], Any], node: yaml.Node, path: str, mask: Callable[[], SecretMask],
           source: str | None) -> Any:
    """``build()``, building the data of ``node``; a ConfigError for a node PyYAML parsed
    but cannot build: ``name: =``, ``!!int x``, an unknown ``!tag``."""
    try:
        return build()
    except yaml.YAMLError as exc:
        raise yaml_error(exc, path, "invalid YAML value", source, mask()) from None
    except Exception as exc:
        # int(), float() or a dict lookup failed on a tagged scalar (`!!bool x`); its
        # message quotes the value: say which node it is instead.
        raise _unbuildable_scalar(node, exc, mask(), source) from None


_STD_TAG = "tag:yaml.org,2002:"


def _unbuildable_scalar(root: yaml.Node, exc: Exception, mask: SecretMask, source: str | None) -> ConfigError:
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            try:
                yaml.SafeLoader("").construct_object(node)
            except Exception:
                # One of YAML's own types (an unknown tag fails earlier, with a marked error).
                std = node.tag.startswith(_STD_TAG)
                what = f"a valid !!{node.tag[len(_STD_TAG):]} value" if std else "a value of its tag"
                m = node.start_mark
                return ConfigError([Problem("", f"invalid YAML value: not {what}\n{_mark(m, mask)}",
                                            m.line + 1)], source)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            todo.extend(n for pair in reversed(node.value) for n in reversed(pair))
    return ConfigError([Problem("", f"invalid YAML value ({type(exc).__name__})")], source)


def parse(text: str, source: str | None = None,
          secret_keys: Collection[str] = ()) -> tuple[yaml.Node, dict[str, Any]]:
    """The document's root node and its data (booleans and numbers as
    :class:`~tocsin.config.validate.Scalar`); a ConfigError when it is not YAML, or not a
    mapping. Errors never show the values of ``secret_keys`` (nor of keys that look
    secret, :mod:`tocsin.config.masking`)."""

    def mask() -> SecretMask:
        return SecretMask.of(text, secret_keys)

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, "", "invalid YAML", source, mask()) from None
    except RecursionError:
        raise ConfigError([Problem("", "invalid YAML: nested too deeply")], source) from None
    data = None
    if node is not None:
        data = _build(lambda: _ConfigLoader("").construct_document(node), node, "", mask, source)
    if node is None or not isinstance(data, dict):
        raise ConfigError([Problem("", "the config must be a YAML mapping with a 'route'")], source)
    _build(lambda: _time_interval_sections_as_text(node, data), node, "time_intervals", mask, source)
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
