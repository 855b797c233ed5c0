"""The fidelity check: a replay under the configs that were in force, against the
notifications the daemon recorded in the same window.

Both sides are reduced to the same facts: each alert notified to each integration of each
receiver, firing or resolved, and when (the alerts notified together form a group
notification). A recorded notification matches a replayed one of the same facts within
the group's ``group_interval``. What is left over on either side is a difference.
Alerts that fired before the window are left out: what the daemon had told about them
before the window is not replayed.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from typing import Any

from tocsin.core.records import Incident
from tocsin.replay.history import Recorded
from tocsin.replay.sim import Recording

__all__ = ["fidelity"]

#: Differences listed at most, per kind.
SHOWN = 50

Key = tuple[str, str, str, str]  # incident, receiver, integration, status
Batch = tuple[str, str]  # receiver, integration


def _match(recorded: list[float], replayed: list[float], tol: float) -> tuple[list[float], list[float]]:
    """Times left unmatched on each side, pairing in order within ``tol``."""
    recorded.sort()
    replayed.sort()
    i = j = 0
    left_a: list[float] = []
    left_b: list[float] = []
    while i < len(recorded) and j < len(replayed):
        a, b = recorded[i], replayed[j]
        if abs(a - b) <= tol:
            i += 1
            j += 1
        elif a < b:
            left_a.append(a)
            i += 1
        else:
            left_b.append(b)
            j += 1
    return left_a + recorded[i:], left_b + replayed[j:]


def _describe(inc: Incident | None, key: Key, at: float, side: str) -> dict[str, Any]:
    return {"alert": key[0], "alertname": inc.alertname if inc else "", "receiver": key[1],
            "integration": key[2], "status": key[3], "at": at, "only": side}


async def fidelity(recorded: AsyncIterable[Recorded], replay: Recording, incidents: Mapping[str, Incident],
                   since: float) -> dict[str, Any]:
    """``differences`` (one alert's notification on one side only), ``groups`` (a group
    notification whose alerts differ), and the counts on each side."""
    in_window = {i for i, inc in incidents.items() if inc.fired_at >= since}
    mine: dict[Key, list[float]] = {}
    theirs: dict[Key, list[float]] = {}
    tol: dict[Batch, float] = {}
    rec_batches: dict[tuple[Batch, float], set[tuple[str, str]]] = {}
    rep_batches: dict[tuple[Batch, float], set[tuple[str, str]]] = {}
    for s in replay.sent:
        b = (s.receiver, s.integration)
        tol[b] = max(tol.get(b, 0.0), s.group_interval)
        for status, ids in (("firing", s.firing), ("resolved", s.resolved)):
            for i in ids:
                if i in in_window:
                    mine.setdefault((i, *b, status), []).append(s.at)
                    rep_batches.setdefault((b, s.at), set()).add((i, status))
    async for r in recorded:
        if r.incident_id in incidents and incidents[r.incident_id].fired_at >= since:
            theirs.setdefault((r.incident_id, r.receiver, r.integration, r.status), []).append(r.at)
            rec_batches.setdefault(((r.receiver, r.integration), r.at), set()).add((r.incident_id, r.status))
    diffs: list[dict[str, Any]] = []
    for key in sorted(mine.keys() | theirs.keys()):
        only_rec, only_rep = _match(theirs.get(key, []), mine.get(key, []), tol.get(key[1:3], 300.0))
        diffs += [_describe(incidents.get(key[0]), key, t, "recorded") for t in only_rec]
        diffs += [_describe(incidents.get(key[0]), key, t, "replayed") for t in only_rep]
    groups = _group_differences(rec_batches, rep_batches, tol)
    return {
        "recorded": sum(len(v) for v in theirs.values()),
        "replayed": sum(len(v) for v in mine.values()),
        "differs": bool(diffs or groups),
        "differences": sorted(diffs, key=lambda d: (d["at"], d["receiver"], d["alert"]))[:SHOWN],
        "difference_count": len(diffs),
        "groups": groups[:SHOWN],
        "group_count": len(groups),
    }


def _group_differences(rec: dict[tuple[Batch, float], set[tuple[str, str]]],
                       rep: dict[tuple[Batch, float], set[tuple[str, str]]],
                       tol: Mapping[Batch, float]) -> list[dict[str, Any]]:
    """Group notifications of one side with no twin (same alerts, same statuses) on the
    other within the group interval."""
    by_content: dict[tuple[Batch, frozenset[tuple[str, str]]], tuple[list[float], list[float]]] = {}
    for (b, at), found in rec.items():
        by_content.setdefault((b, frozenset(found)), ([], []))[0].append(at)
    for (b, at), found in rep.items():
        by_content.setdefault((b, frozenset(found)), ([], []))[1].append(at)
    out: list[dict[str, Any]] = []
    for (b, content), (a, r) in by_content.items():
        only_rec, only_rep = _match(a, r, tol.get(b, 300.0))
        alerts = sorted(f"{i}:{s}" for i, s in content)
        out += [{"receiver": b[0], "integration": b[1], "at": t, "alerts": alerts, "only": "recorded"}
                for t in only_rec]
        out += [{"receiver": b[0], "integration": b[1], "at": t, "alerts": alerts, "only": "replayed"}
                for t in only_rep]
    out.sort(key=lambda d: (d["at"], d["receiver"]))
    return out
