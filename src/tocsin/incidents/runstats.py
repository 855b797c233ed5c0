"""How well each remediation works, over the stats window: runs, successes, and whether
its alert resolved afterwards. Part of :class:`tocsin.incidents.stats.Stats`."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence

import msgspec

from tocsin.core.records import Incident, RemediationRun
from tocsin.incidents.plan import RESOLVED

__all__ = ["RemediationStats", "remediation_stats"]

#: States of a run that ran (or was running when tocsin stopped).
RAN = ("succeeded", "failed", "interrupted")


class RemediationStats(msgspec.Struct, kw_only=True):
    """One remediation's runs made in the window."""

    remediation: str
    #: Runs that ran (not skipped, refused, dry runs, rejected or still awaiting approval).
    runs: int
    succeeded: int
    #: Succeeded runs with ``verify`` whose alert resolved within ``verify.within``.
    resolved_in_window: int
    #: Succeeded runs with ``verify`` whose alert still fired at the deadline.
    ineffective: int
    #: Succeeded runs whose alert has resolved since (with or without ``verify``).
    resolved_after: int
    #: Median seconds from the end of a succeeded run to its alert's resolution; None with none.
    median_time_to_resolve: float | None


def remediation_stats(runs: Iterable[RemediationRun], incidents: Iterable[Incident], *,
                      since: float, until: float) -> list[RemediationStats]:
    """Per remediation, by name, the runs created in ``[since, until)``. ``incidents``
    (by id) give when a run's alert resolved; a run whose incident is not among them
    counts for nothing but ``runs`` and ``succeeded``."""
    by_id = {inc.id: inc for inc in incidents}
    grouped: dict[str, list[RemediationRun]] = defaultdict(list)
    for run in runs:
        if since <= run.created_at < until and run.state in RAN:
            grouped[run.remediation].append(run)
    return [_one(name, grouped[name], by_id) for name in sorted(grouped)]


def _one(name: str, runs: Sequence[RemediationRun], incidents: dict[str, Incident]) -> RemediationStats:
    succeeded = [r for r in runs if r.state == "succeeded"]
    times = []
    for run in succeeded:
        inc = incidents.get(run.alert_id)
        if inc is not None and inc.state == RESOLVED and inc.resolved_at >= run.finished_at > 0:
            times.append(inc.resolved_at - run.finished_at)
    return RemediationStats(
        remediation=name, runs=len(runs), succeeded=len(succeeded),
        resolved_in_window=sum(1 for r in succeeded if r.verdict == "resolved"),
        ineffective=sum(1 for r in succeeded if r.verdict == "ineffective"),
        resolved_after=len(times),
        median_time_to_resolve=statistics.median(times) if times else None,
    )
