"""A remediation run's states, the errors of deciding one, and how a run reads in one line."""

from __future__ import annotations

from typing import Any

import msgspec

from tocsin.core.models import Alert
from tocsin.core.records import RemediationRun
from tocsin.core.timefmt import format_ts

__all__ = [
    "COUNTED", "FINAL", "INTERRUPTED", "KEEP", "PENDING", "REFUSED", "RUNNING", "RunConflict", "RunNotFound",
    "describe", "replace", "template_data",
]

PENDING = "pending_approval"
RUNNING = "running"
#: A run that was running when tocsin stopped or crashed: its outcome is unknown.
INTERRUPTED = "interrupted"
#: A run a safety rule stopped (an option from a label, a unit outside ``allowed_units``):
#: nothing ran; ``reason`` says which rule.
REFUSED = "refused"
#: States a run ends in.
FINAL = ("succeeded", "failed", "dry_run", "rejected", "cancelled", "skipped", INTERRUPTED, REFUSED)
#: States that count against ``max_per_hour`` (something ran, or will). Not ``refused``: alerts
#: crafted to be refused must not use up the runs a real alert needs.
COUNTED = ("running", "succeeded", "failed", "dry_run", PENDING, INTERRUPTED)
#: How long finished runs stay in memory for the guards (the store keeps them longer).
KEEP = 24 * 3600.0


class RunNotFound(LookupError):
    pass


class RunConflict(ValueError):
    """The run is not waiting for a decision, or its alert is gone."""

    def __init__(self, message: str, run: RemediationRun | None = None) -> None:
        super().__init__(message)
        self.run = run


def template_data(alert: Alert, name: str, alert_id: str) -> dict[str, Any]:
    return {
        "labels": alert.labels, "annotations": alert.annotations, "fingerprint": alert.fingerprint,
        "status": "firing", "startsAt": format_ts(alert.starts_at),
        "alertname": alert.labels.get("alertname", ""), "remediation": name, "alert_id": alert_id,
    }


def describe(run: RemediationRun) -> str:
    """One line for announcements and logs."""
    what = run.rendered.summary if run.rendered else ""
    if run.state == "dry_run":
        return f"{run.remediation} (dry run) would run {what}"
    if run.state == PENDING:
        conf = f", confidence {run.confidence}" if run.confidence else ""
        about = f" ({run.description})" if run.description else ""
        return f"{run.remediation}{about} awaits approval (run {run.id}{conf}): {what}"
    o = run.outcome
    status = ""
    if o is not None:
        parts = [f"exit {o.exit_code}" if o.exit_code is not None else "",
                 f"HTTP {o.http_status}" if o.http_status is not None else "",
                 f"{run.duration:.1f}s" if run.duration >= 0.05 else ""]
        status = ", ".join(p for p in parts if p)
    text = f"{run.remediation} {'ineffective' if run.verdict == 'ineffective' else run.state}"
    if status:
        text += f" ({status})"
    if run.reason:
        text += f": {run.reason}"
    elif o is not None and o.error:
        text += f": {o.error}"
    return f"{text} · {what}" if what else text


def replace(run: RemediationRun, **changes: Any) -> RemediationRun:
    return msgspec.structs.replace(run, **changes)
