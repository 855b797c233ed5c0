"""Escalation policies: who is notified next, and when, while nobody acknowledges.

A route names a policy (``escalation_policy:``); its levels run in order, each
``after`` a delay since the alert fired, until the alert is acknowledged or
resolved; ``repeat`` notifies the last level again at that period.
"""

from __future__ import annotations

from typing import Literal

from tocsin.config.types import ConfigBase, Duration
from tocsin.config.validate import field_error

__all__ = ["EscalationLevel", "EscalationPolicy"]


class EscalationLevel(ConfigBase, kw_only=True):
    #: Delay since the alert fired.
    after: Duration = Duration(0)
    receivers: list[str]

    def __post_init__(self) -> None:
        if self.after < 0:
            raise field_error("after", "must not be negative")
        if not self.receivers:
            raise field_error("receivers", "at least one receiver required")


class EscalationPolicy(ConfigBase, kw_only=True):
    name: str
    levels: list[EscalationLevel]
    #: Notify the last level again every ``repeat`` until acknowledged or resolved.
    repeat: Duration | None = None
    #: How long an acknowledgement of its alerts lasts when the ack sets none; unset: for good.
    ack_timeout: Duration | None = None
    #: Clear an acknowledgement when the alert gets worse: ``severity`` (a higher severity label).
    unack_on: list[Literal["severity"]] = []

    def __post_init__(self) -> None:
        if not self.name:
            raise field_error("name", "must not be empty")
        if not self.levels:
            raise field_error("levels", "at least one level required")
        for i in range(1, len(self.levels)):
            if self.levels[i].after < self.levels[i - 1].after:
                raise field_error(f"levels[{i}].after", "levels must be in order of their delay")
        if self.repeat is not None and self.repeat <= 0:
            raise field_error("repeat", "must be greater than zero")
        if self.ack_timeout is not None and self.ack_timeout <= 0:
            raise field_error("ack_timeout", "must be greater than zero")

    def due(self, fired_at: float, step: int) -> float | None:
        """Wall-clock time of step ``step`` (0-based; steps past the last level are
        repeats of it), or None when there is no such step."""
        if step < len(self.levels):
            return fired_at + float(self.levels[step].after)
        if self.repeat is None:
            return None
        return fired_at + float(self.levels[-1].after) + (step - len(self.levels) + 1) * float(self.repeat)

    def level(self, step: int) -> EscalationLevel:
        return self.levels[min(step, len(self.levels) - 1)]
