"""Names one section of the config uses and another defines: the receivers, time
intervals, remediations and escalation policies that routes and escalation levels name,
and the remediation a remediation's ``then:`` names (a chain that must not come back
on itself).

Checked on the document as written, not on the decoded Structs, so that a reference to
nothing is reported in the same run as every other problem, even when the section it is
in has problems of its own (a bad regex beside an undefined receiver).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from tocsin.config.validate import Problem, Scalar

__all__ = ["check_references", "defined_names"]


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    return value.text if isinstance(value, Scalar) else None


def defined_names(section: Any) -> set[str]:
    """The ``name`` of each entry of a list section (receivers, time_intervals...)."""
    if not isinstance(section, list):
        return set()
    found = (_text(item.get("name")) for item in section if isinstance(item, dict))
    return {name for name in found if name is not None}


def _named(entry: dict[Any, Any], key: str) -> list[tuple[int, str]]:
    value = entry.get(key)
    if not isinstance(value, list):
        return []
    return [(j, text) for j, item in enumerate(value) if (text := _text(item)) is not None]


def check_references(data: dict[str, Any], receivers: Collection[str], remediations: Collection[str],
                     problems: list[Problem]) -> None:
    """Report each name used that its section does not define."""
    intervals = defined_names(data.get("time_intervals")) | defined_names(data.get("mute_time_intervals"))
    policies = defined_names(data.get("escalation_policies"))

    def visit(route: Any, path: str) -> None:
        if not isinstance(route, dict):
            return
        receiver = _text(route.get("receiver"))
        if receiver and receiver not in receivers:
            problems.append(Problem(f"{path}.receiver", f"undefined receiver {receiver!r}"))
        for key in ("mute_time_intervals", "active_time_intervals"):
            for j, name in _named(route, key):
                if name not in intervals:
                    problems.append(Problem(f"{path}.{key}[{j}]", f"undefined time interval {name!r}"))
        for j, name in _named(route, "remediations"):
            if name not in remediations:
                problems.append(Problem(f"{path}.remediations[{j}]", f"undefined remediation {name!r}"))
        policy = _text(route.get("escalation_policy"))
        if policy is not None and policy not in policies:
            problems.append(Problem(f"{path}.escalation_policy", f"undefined escalation policy {policy!r}"))
        children = route.get("routes")
        for i, child in enumerate(children if isinstance(children, list) else []):
            visit(child, f"{path}.routes[{i}]")

    visit(data.get("route"), "route")
    _check_levels(data.get("escalation_policies"), receivers, problems)
    _check_chains(data.get("remediations"), remediations, problems)


def _check_levels(section: Any, receivers: Collection[str], problems: list[Problem]) -> None:
    for i, policy in enumerate(section if isinstance(section, list) else []):
        levels = policy.get("levels") if isinstance(policy, dict) else None
        for j, level in enumerate(levels if isinstance(levels, list) else []):
            if not isinstance(level, dict):
                continue
            for k, name in _named(level, "receivers"):
                if name not in receivers:
                    problems.append(Problem(f"escalation_policies[{i}].levels[{j}].receivers[{k}]",
                                            f"undefined receiver {name!r}"))


def _check_chains(section: Any, remediations: Collection[str], problems: list[Problem]) -> None:
    """Each ``then:`` names a remediation, and following them never comes back."""
    entries = section if isinstance(section, list) else []
    nxt: dict[str, tuple[int, str]] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        name, then = _text(entry.get("name")), _text(entry.get("then"))
        if not then:
            continue
        if then not in remediations:
            problems.append(Problem(f"remediations[{i}].then", f"undefined remediation {then!r}"))
        elif name is not None:
            nxt.setdefault(name, (i, then))
    reported: set[str] = set()
    for start in nxt:
        chain = [start]
        while (step := nxt.get(chain[-1])) is not None and step[1] not in chain:
            chain.append(step[1])
        if step is None or step[1] != start or start in reported:
            continue
        reported.update(chain)
        problems.append(Problem(f"remediations[{nxt[start][0]}].then",
                                "then: chain comes back on itself: " + " -> ".join([*chain, start])))
