"""What changed between two replays of one window: per receiver, the notifications, the
alerts that newly reach it or no longer do, those newly muted or unmuted and by what, the
groups split or merged, the time to first notification; and the alerts whose paging
changed, most severe first."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tocsin.core.records import Incident
from tocsin.core.severity import SEVERITIES, severity_level
from tocsin.replay.sim import Recording

__all__ = ["Seen", "compare", "seen"]

#: Seconds by which a first notification must move to count as changed.
MOVED = 0.5


@dataclass
class Seen:
    """One receiver's side of a recording."""

    #: (group key, time) of each group notification.
    notifications: set[tuple[str, float]] = field(default_factory=set)
    #: incident id -> when it first reached the receiver as firing.
    first: dict[str, float] = field(default_factory=dict)
    #: incident id -> the group it first reached the receiver in.
    group: dict[str, str] = field(default_factory=dict)


def seen(rec: Recording) -> dict[str, Seen]:
    out: dict[str, Seen] = {}
    for s in rec.sent:
        r = out.setdefault(s.receiver, Seen())
        r.notifications.add((s.group_key, s.at))
        for inc in s.firing:
            if inc not in r.first:
                r.first[inc] = s.at
                r.group[inc] = s.group_key
    return out


def _muted(rec: Recording, receiver: str) -> dict[str, list[str]]:
    return {inc: sorted(why) for (r, inc), why in rec.muted.items() if r == receiver}


def _regroupings(old: dict[str, str], new: dict[str, str]) -> tuple[list[Any], list[Any]]:
    """Groups split (an old group's alerts in several new ones) and merged (a new group
    holding the alerts of several old ones), over the alerts that reach it either way."""
    into: dict[str, set[str]] = {}
    came: dict[str, set[str]] = {}
    for inc in old.keys() & new.keys():
        into.setdefault(old[inc], set()).add(new[inc])
        came.setdefault(new[inc], set()).add(old[inc])
    split = [{"group": g, "into": sorted(to)} for g, to in sorted(into.items()) if len(to) > 1]
    merged = [{"group": g, "from": sorted(fr)} for g, fr in sorted(came.items()) if len(fr) > 1]
    return split, merged


def _first_times(old: Seen, new: Seen, incidents: Mapping[str, Incident]) -> dict[str, Any]:
    both = [i for i in old.first.keys() & new.first.keys() if i in incidents]
    d_old = [old.first[i] - incidents[i].fired_at for i in both]
    d_new = [new.first[i] - incidents[i].fired_at for i in both]
    moved = sum(1 for a, b in zip(d_old, d_new, strict=True) if abs(a - b) > MOVED)
    return {
        "alerts": len(both),
        "changed": moved,
        "median_old_s": round(statistics.median(d_old), 3) if d_old else None,
        "median_new_s": round(statistics.median(d_new), 3) if d_new else None,
    }


def _receiver(name: str, old_rec: Recording, new_rec: Recording, old: Seen, new: Seen,
              incidents: Mapping[str, Incident]) -> dict[str, Any]:
    m_old, m_new = _muted(old_rec, name), _muted(new_rec, name)
    split, merged = _regroupings(old.group, new.group)
    return {
        "receiver": name,
        "notifications": {"old": len(old.notifications), "new": len(new.notifications)},
        "newly_reaching": sorted(new.first.keys() - old.first.keys()),
        "no_longer_reaching": sorted(old.first.keys() - new.first.keys()),
        "newly_muted": [{"alert": i, "by": m_new[i]} for i in sorted(m_new.keys() - m_old.keys())],
        "unmuted": [{"alert": i, "was": m_old[i]} for i in sorted(m_old.keys() - m_new.keys())],
        "groups_split": split,
        "groups_merged": merged,
        "first_notification": _first_times(old, new, incidents),
    }


def _differs(r: dict[str, Any]) -> bool:
    return bool(r["notifications"]["old"] != r["notifications"]["new"] or r["newly_reaching"]
                or r["no_longer_reaching"] or r["newly_muted"] or r["unmuted"] or r["groups_split"]
                or r["groups_merged"] or r["first_notification"]["changed"])


def _rank(inc: Incident) -> tuple[int, float, str]:
    level = severity_level(inc.severity)
    return (SEVERITIES.index(level) if level in SEVERITIES else len(SEVERITIES), inc.fired_at, inc.id)


def _paging(receivers: list[dict[str, Any]], old: dict[str, Seen], new: dict[str, Seen],
            incidents: Mapping[str, Incident]) -> list[dict[str, Any]]:
    moved: set[str] = set()
    for r in receivers:
        moved.update(r["newly_reaching"], r["no_longer_reaching"])
        moved.update(m["alert"] for m in r["newly_muted"])
        moved.update(m["alert"] for m in r["unmuted"])
    out = []
    for inc in sorted((incidents[i] for i in moved if i in incidents), key=_rank):
        out.append({
            "alert": inc.id, "fingerprint": inc.fingerprint, "alertname": inc.alertname,
            "severity": inc.severity, "labels": inc.labels, "fired_at": inc.fired_at,
            "receivers_old": sorted(r for r, s in old.items() if inc.id in s.first),
            "receivers_new": sorted(r for r, s in new.items() if inc.id in s.first),
        })
    return out


def compare(old_rec: Recording, new_rec: Recording, incidents: Mapping[str, Incident]) -> dict[str, Any]:
    """The report: ``receivers`` (those with a difference), ``paging_changed``, ``differs``."""
    old, new = seen(old_rec), seen(new_rec)
    names = sorted(old.keys() | new.keys() | {r for r, _ in old_rec.muted} | {r for r, _ in new_rec.muted})
    receivers = [r for n in names
                 if _differs(r := _receiver(n, old_rec, new_rec, old.get(n, Seen()), new.get(n, Seen()),
                                            incidents))]
    totals = {"old": sum(len(s.notifications) for s in old.values()),
              "new": sum(len(s.notifications) for s in new.values())}
    paging = _paging(receivers, old, new, incidents)
    return {"differs": bool(receivers or paging), "notifications": totals, "receivers": receivers,
            "paging_changed": paging, "alerts": _named(receivers, incidents)}


def _named(receivers: list[dict[str, Any]], incidents: Mapping[str, Incident]) -> dict[str, Any]:
    """The alerts the receivers' lists name: alertname, severity, labels, when fired."""
    ids: set[str] = set()
    for r in receivers:
        ids.update(r["newly_reaching"], r["no_longer_reaching"])
        ids.update(m["alert"] for m in r["newly_muted"] + r["unmuted"])
    return {i: {"alertname": inc.alertname, "severity": inc.severity, "labels": inc.labels,
                "fired_at": inc.fired_at} for i in sorted(ids) if (inc := incidents.get(i)) is not None}
