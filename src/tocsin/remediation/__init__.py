"""Remediations: the contract between a remediation kind and the engine.

A kind (``command``, ``webhook``, ``systemd``, or a plugin's) contributes a
config Struct (a subclass of :class:`RemediationConfig`, which holds the
guards every remediation shares) and a factory. What the factory builds
does two things:

``render(data)``
    turns the alert's template data into exactly what will run (an argv, an
    HTTP request) as a :class:`Rendered`: shown to approvers, kept in the
    audit record, and run as shown. Raises :class:`RemediationError` when a
    template fails, and :class:`RemediationRefused` when what it rendered
    breaks a safety rule (an argument from a label that would be taken as an
    option, a unit outside ``allowed_units``): the run is then ``refused``.
``execute(rendered, ctx)``
    runs it once and answers an :class:`Outcome`. It never raises for a
    failure of the thing it runs; it may raise :class:`RemediationRefused`
    when a safety rule stops it before anything runs, and may raise for a bug.

The engine (:mod:`tocsin.remediation.engine`) owns guards (firing and unmuted only,
``for``, cooldown, ``max_per_hour``, ``dry_run``, approval), timeouts,
records and announcements, verification (``verify``) and ``then:`` chains, so
a kind only renders and runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import msgspec

from tocsin.config.types import ConfigBase, Duration
from tocsin.core.records import Outcome, Rendered

if TYPE_CHECKING:
    import aiohttp

    from tocsin.notify.templates import Templates

__all__ = [
    "ExecContext", "Outcome", "Remediation", "RemediationConfig", "RemediationError", "RemediationKind",
    "RemediationRefused", "RemediationSpec", "Rendered", "VerifyConfig", "truncate_output",
]

#: Output kept per run (the rest is cut, with a note saying how much).
MAX_OUTPUT = 16 * 1024


#: The longest ``verify.within``: runs are kept (and loaded at start) a day.
MAX_VERIFY = 24 * 3600.0


class VerifyConfig(ConfigBase, kw_only=True):
    """``verify``: a successful run must see its alert resolve ``within`` this long."""

    within: Duration

    def __post_init__(self) -> None:
        from tocsin.config.validate import field_error

        if self.within <= 0:
            raise field_error("within", "must be greater than zero")
        if self.within > MAX_VERIFY:
            raise field_error("within", "must be at most 24h")


class RemediationConfig(ConfigBase, kw_only=True):
    """Fields every ``remediations:`` entry has. Kind configs subclass this."""

    name: str
    kind: str
    #: Time allowed for one run.
    timeout: Duration = Duration(30)
    #: Only for alerts firing at least this long.
    for_: Duration = msgspec.field(default=Duration(0), name="for")
    #: After a run for an alert, not again for the same alert this long.
    cooldown: Duration = Duration(15 * 60)
    #: Runs of this remediation per rolling hour, across all alerts.
    max_per_hour: int = 6
    #: Record and announce what would run, run nothing.
    dry_run: bool = False
    #: Wait for someone to approve each run (API, CLI).
    require_approval: bool = False
    #: Shown to approvers: how sure the author is that this fixes the alert.
    confidence: Literal["low", "medium", "high"] | None = None
    description: str = ""
    #: A successful run whose alert still fires ``within`` after it is ``ineffective``.
    verify: VerifyConfig | None = None
    #: The remediation to run next when a run of this one is ``ineffective`` (needs ``verify``).
    then: str = ""

    def __post_init__(self) -> None:
        from tocsin.config.validate import field_error

        if not self.name:
            raise field_error("name", "must not be empty")
        if self.timeout <= 0:
            raise field_error("timeout", "must be greater than zero")
        if self.for_ < 0:
            raise field_error("for", "must not be negative")
        if self.cooldown < 0:
            raise field_error("cooldown", "must not be negative")
        if self.max_per_hour < 1:
            raise field_error("max_per_hour", "must be at least 1")
        if self.then and self.verify is None:
            raise field_error("then", "needs verify: the next remediation runs when a run is ineffective")


class RemediationError(Exception):
    """A remediation that cannot be rendered or run as configured; the message says why."""


class RemediationRefused(RemediationError):
    """A safety rule stops the run: nothing runs, and the run is recorded ``refused`` with the
    message as its reason. ``rendered``, when given, is what was refused (kept in the record)."""

    def __init__(self, message: str, rendered: Rendered | None = None) -> None:
        super().__init__(message)
        self.rendered = rendered


@dataclass(frozen=True)
class ExecContext:
    """What ``execute`` gets besides the rendered request."""

    session: aiohttp.ClientSession
    timeout: float
    remediation: str
    fingerprint: str


class Remediation(Protocol):
    def render(self, data: dict[str, Any]) -> Rendered: ...

    async def execute(self, rendered: Rendered, ctx: ExecContext) -> Outcome: ...


@dataclass(frozen=True)
class RemediationKind:
    """A kind: its name (``kind:`` in config), config Struct and factory.

    ``factory(config, templates)`` returns a :class:`Remediation`; it is called
    when the config is loaded (and reloaded), so it may precompile templates.
    ``check(config)`` may return ``(field, message)`` problems found at load.
    """

    name: str
    config: type[RemediationConfig]
    factory: Callable[[Any, Templates], Remediation]
    check: Callable[[Any], list[tuple[str, str]]] | None = None


def truncate_output(text: str, limit: int = MAX_OUTPUT) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters cut]"


@dataclass(frozen=True, slots=True)
class RemediationSpec:
    """One ``remediations:`` entry: its validated config and what runs it."""

    name: str
    kind: str
    config: Any
    remediation: Remediation
