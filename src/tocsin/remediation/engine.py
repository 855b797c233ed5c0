"""The remediation engine: guards, approval, runs, records, announcements.

A route names remediations (``remediations: [restart-app]``). When one of
its groups flushes with firing, unmuted alerts, each named remediation is
considered for each such alert, and runs only if every guard lets it:

- the alert is still firing and not muted when it would start;
- it has fired for at least ``for`` (if not yet, it is looked at again
  exactly when it will have);
- no run of this remediation for this alert is pending, running, or
  started within ``cooldown``;
- fewer than ``max_per_hour`` runs of this remediation started in the last
  hour (across all alerts); when the limit stops one, a ``skipped`` record
  says so;
- ``dry_run`` records and announces what would run, and runs nothing;
- ``require_approval`` records a ``pending_approval`` run that someone
  approves or rejects (API, CLI); an approval that comes after the alert
  resolved runs nothing.

What a kind renders may break one of its safety rules (an argument from a
label that would be taken as an option, a unit outside ``allowed_units``):
that run is recorded and announced as ``refused`` with the rule in its
reason, and nothing runs. Refused runs count for the alert's cooldown, not
for ``max_per_hour``.

Every run is a :class:`RemediationRun` record: what triggered it, what was
rendered (argv, request), the outcome (exit or HTTP status, output), the
duration. It is written before and after it runs, added to the alert's
history, and announced to the route's receiver (PagerDuty integrations send
it as a change event).

A remediation with ``verify: {within}`` is judged that long after a run
succeeds (the deadline, ``verify_by``, is on the record, so a restart keeps it):
its alert resolved, or the run is ``ineffective``, which is recorded and
announced. Then the remediation its ``then:`` names is considered for the alert
with every guard above (a step the guards hold back does not run); when there is
none, or the step ends without having run successfully (failed, refused,
skipped, rejected, dry run), the alert's escalation moves to its next level at
once. A step that succeeds is judged by its own ``verify``, and so on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

import structlog

from tocsin import hookimpl
from tocsin.core.alerts import AlertState
from tocsin.core.clock import Clock
from tocsin.core.facade import Facade, Key
from tocsin.core.gate import Gate
from tocsin.core.metrics import Metrics
from tocsin.core.models import Alert, Notification
from tocsin.core.mute import MuteReason
from tocsin.core.records import Incident, RemediationRun
from tocsin.core.scheduler import Scheduler, Timer
from tocsin.dispatch.route import Route
from tocsin.incidents.plan import HistoryEvent, new_id
from tocsin.notify.redact import RedactConfig, Redactor
from tocsin.remediation import ExecContext, Outcome, RemediationError, RemediationRefused, RemediationSpec
from tocsin.remediation.runs import (
    COUNTED,
    FINAL,
    INTERRUPTED,
    KEEP,
    PENDING,
    REFUSED,
    RUNNING,
    RunConflict,
    RunNotFound,
    describe,
    replace,
    template_data,
)
from tocsin.store import StorageError, Store

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "FINAL", "KEEP", "PENDING", "REFUSED", "RUNNING", "RemediationRun", "Remediator", "RunConflict",
    "RunNotFound",
]

log = structlog.get_logger("tocsin.remediation.engine")

#: States a step of a ``then:`` chain ends in without having fixed anything: the chain
#: stops there, and escalation moves on at once.
CHAIN_ENDS = ("failed", "dry_run", "rejected", "cancelled", "skipped", REFUSED)


class Incidents(Protocol):
    """What the engine asks of the incidents (:class:`tocsin.incidents.lifecycle.Lifecycle`)."""

    def get(self, fingerprint: str) -> Incident | None: ...


class Remediator:
    """Runs the remediations a flushed group's route names, when every guard allows:
    firing and unmuted, ``for``, cooldown, ``max_per_hour``, approval, ``dry_run``.

    ``muted`` answers as the dispatcher's does; ``announce`` sends a notice
    through delivery; ``spawn`` runs background work the runtime waits for at
    stop. :meth:`configure` takes the config's remediations and routing tree,
    the redactor and the HTTP session (again at each reload).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        scheduler: Scheduler,
        store: Store,
        alerts: AlertState,
        incidents: Incidents,
        metrics: Metrics,
        spawn: Callable[..., object],
        muted: Callable[[Alert, Route | None, float], list[MuteReason]],
        announce: Callable[[Notification], Awaitable[bool]],
        escalate: Callable[[str], None] | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.clock = clock
        #: Runs wait here while a leader among replicas is unsure of its lease.
        self.gate = gate or Gate()
        self.scheduler = scheduler
        self.store = store
        self.alerts = alerts
        self.incidents = incidents
        self.metrics = metrics
        self.spawn = spawn
        self.muted = muted
        self.announce = announce
        #: Moves an alert's escalation to its next level at once (an ineffective run).
        self.escalate = escalate
        self.remediations: Mapping[str, RemediationSpec] = {}
        self.route: Route | None = None
        self.redactor = Redactor(RedactConfig())
        self.session: aiohttp.ClientSession | None = None
        #: Recent and undecided runs by id (the guards look at these).
        self.runs: dict[str, RemediationRun] = {}
        self._busy: set[tuple[str, str]] = set()
        self._waiting: dict[tuple[str, str], Timer] = {}
        #: The verification timers of succeeded runs with ``verify``, by run id.
        self._verifying: dict[str, Timer] = {}

    def configure(self, remediations: Mapping[str, RemediationSpec], route: Route, redactor: Redactor,
                  session: aiohttp.ClientSession | None) -> None:
        """What the config in force says: remediations by name, the routing tree; and
        the redactor and HTTP session delivery uses."""
        self.remediations = remediations
        self.route = route
        self.redactor = redactor
        self.session = session

    def load(self, runs: Iterable[RemediationRun]) -> None:
        for run in runs:
            self.runs[run.id] = run

    async def recover(self) -> None:
        """At start-up: a run still ``running`` in the store was cut off by a stop or a
        crash. It is recorded ``interrupted`` (it may have acted, so it still counts for
        cooldown and ``max_per_hour``), and no longer blocks new runs for its alert.
        A succeeded run still to be verified is judged at its deadline, as if tocsin had
        not stopped (at once when the deadline passed while it was down)."""
        now = self.clock.now()
        for run in [r for r in self.runs.values() if r.state == RUNNING]:
            await self._record(replace(run, state=INTERRUPTED, finished_at=now,
                                       reason="tocsin stopped while it ran; its outcome is unknown"),
                               announce=False)
        for run in list(self.runs.values()):
            if run.state == "succeeded" and run.verify_by and not run.verdict:
                self._arm(run)

    def stop(self) -> None:
        for timer in [*self._waiting.values(), *self._verifying.values()]:
            timer.cancel()
        self._waiting.clear()
        self._verifying.clear()

    # -- considering ---------------------------------------------------------------------

    async def on_flush(self, n: Notification) -> None:
        route = self._route(n.route_id)
        if route is None or not route.opts.remediations:
            return
        for alert in n.firing():
            for name in route.opts.remediations:
                await self.consider(name, alert.fingerprint, route)

    def _route(self, route_id: str) -> Route | None:
        return next((r for r in self.route.walk() if r.id == route_id), None) if self.route else None

    async def consider(self, name: str, fp: str, route: Route,
                       after: RemediationRun | None = None) -> RemediationRun | None:
        """Run ``name`` for alert ``fp`` if every guard allows; return the record made, if any.
        ``after``: the ineffective run whose ``then:`` this is."""
        key = (name, fp)
        if key in self._busy:
            return None
        self._busy.add(key)
        try:
            return await self._consider(name, fp, route, after)
        finally:
            self._busy.discard(key)

    async def _consider(self, name: str, fp: str, route: Route,
                        after: RemediationRun | None) -> RemediationRun | None:
        spec = self.remediations.get(name)
        alert = self.alerts.get(fp)
        now = self.clock.now()
        if spec is None or alert is None or alert.resolved(now) or self.muted(alert, route, now):
            return None
        cfg = spec.config
        mine = [r for r in self.runs.values() if r.remediation == name and r.fingerprint == fp]
        if any(r.state in (PENDING, RUNNING) for r in mine):
            return None
        cooldown = float(cfg.cooldown)
        if any(r.created_at > now - cooldown for r in mine if r.state not in ("rejected", "cancelled")):
            return None
        ready_at = alert.starts_at + float(cfg.for_)
        if now < ready_at:
            if after is None:  # a chain step is not put off: escalation moves on instead
                self._wait(name, fp, route, ready_at - now)
            return None
        # What leaves the host is redacted. First, since it may hand the loop back: the
        # counts below must be taken after any pause.
        clean = await self.redactor.alert_paced(alert)
        inc = self.incidents.get(fp)
        run = RemediationRun(
            id=new_id(now), remediation=name, kind=spec.kind, fingerprint=fp,
            alert_id=inc.id if inc is not None else "", labels=alert.labels, route_id=route.id,
            receiver=route.receiver, state=RUNNING, confidence=cfg.confidence, description=cfg.description,
            dry_run=bool(cfg.dry_run), created_at=now, after=after.id if after is not None else "",
            trigger=(f"then: of {after.remediation} (run {after.id}, ineffective)" if after is not None
                     else f"route {route.id or '/'}"),
        )
        hour = [r for r in self.runs.values()
                if r.remediation == name and r.state in COUNTED and r.created_at > now - 3600]
        if len(hour) >= cfg.max_per_hour:
            run.state, run.reason = "skipped", f"max_per_hour ({cfg.max_per_hour}) reached"
            await self._record(run, announce=True)
            return run
        if not self._render(run, spec, clean):
            await self._record(run, announce=True)
            return run
        if cfg.dry_run:
            run.state = "dry_run"
            run.finished_at = now
            await self._record(run, announce=True)
            return run
        if cfg.require_approval:
            run.state = PENDING
            await self._record(run, announce=True)
            return run
        run.started_at = now
        await self._record(run, announce=False)
        self.spawn(self._execute(run, spec), name=f"remediation {name}")
        return run

    def _render(self, run: RemediationRun, spec: RemediationSpec, clean: Alert) -> bool:
        """Render ``run`` for ``clean``, the alert redacted; when it cannot be, or a safety rule
        refuses it, record why on it (``failed`` or ``refused``, finished) and answer False."""
        try:
            run.rendered = spec.remediation.render(template_data(clean, run.remediation, run.alert_id))
            return True
        except RemediationRefused as exc:
            run.state, run.reason, run.rendered = REFUSED, str(exc), exc.rendered
        except RemediationError as exc:
            run.state, run.reason = "failed", f"cannot render: {exc}"
        run.finished_at = self.clock.now()
        return False

    def _wait(self, name: str, fp: str, route: Route, delay: float) -> None:
        key = (name, fp)
        if key in self._waiting:
            return

        def due() -> None:
            self._waiting.pop(key, None)
            self.spawn(self.consider(name, fp, route), name=f"remediation {name}")

        self._waiting[key] = self.scheduler.call_later(delay, due)

    # -- running ---------------------------------------------------------------------------

    async def _execute(self, run: RemediationRun, spec: RemediationSpec) -> None:
        assert self.session is not None
        assert run.rendered is not None
        await self.gate.wait()
        timeout = float(spec.config.timeout)
        ctx = ExecContext(session=self.session, timeout=timeout, remediation=run.remediation,
                          fingerprint=run.fingerprint)
        log.info("remediation started", remediation=run.remediation, run=run.id,
                 fingerprint=run.fingerprint, what=run.rendered.summary)
        t0 = time.monotonic()
        try:
            # The kind honours the timeout itself; this bound only catches a kind that does not.
            async with asyncio.timeout(timeout + 10):
                outcome = await spec.remediation.execute(run.rendered, ctx)
        except asyncio.CancelledError:  # shutdown past its deadline: say so before going
            cut = replace(run, state=INTERRUPTED, finished_at=self.clock.now(),
                          duration=round(time.monotonic() - t0, 3),
                          reason="tocsin stopped while it ran; it was cancelled")
            await asyncio.shield(self._record(cut, announce=False))
            raise
        except RemediationRefused as exc:  # a safety rule stopped it before anything ran
            refused = replace(run, state=REFUSED, reason=str(exc), finished_at=self.clock.now(),
                              duration=round(time.monotonic() - t0, 3))
            await self._record(refused, announce=True)
            return
        except TimeoutError:
            outcome = Outcome(ok=False, error=f"did not finish within {timeout:g}s")
        except Exception as exc:  # a kind's bug must not lose the record
            log.exception("remediation kind raised", remediation=run.remediation, run=run.id)
            outcome = Outcome(ok=False, error=f"{type(exc).__name__}: {exc}")
        now = self.clock.now()
        verify = spec.config.verify if outcome.ok else None
        finished = replace(run, outcome=outcome, state="succeeded" if outcome.ok else "failed",
                           finished_at=now, duration=round(time.monotonic() - t0, 3),
                           verify_by=now + float(verify.within) if verify is not None else 0.0)
        await self._record(finished, announce=True)
        if verify is not None:
            self._arm(finished)

    # -- verification and then: chains -------------------------------------------------

    def _arm(self, run: RemediationRun) -> None:
        """Judge ``run`` at its ``verify_by``."""
        old = self._verifying.pop(run.id, None)
        if old is not None:
            old.cancel()
        delay = max(0.0, run.verify_by - self.clock.now())
        self._verifying[run.id] = self.scheduler.call_later(delay, self._verify, run.id)

    def _verify(self, run_id: str) -> None:
        """``verify.within`` after a successful run: did its alert resolve?"""
        self._verifying.pop(run_id, None)
        run = self.runs.get(run_id)
        if run is None or run.verdict:
            return
        inc = self.incidents.get(run.fingerprint)
        alert = self.alerts.get(run.fingerprint)
        firing = (inc is not None and inc.open and (not run.alert_id or inc.id == run.alert_id)
                  and alert is not None and not alert.resolved(self.clock.now()))
        self.spawn(self._verdict(run, firing), name=f"verify {run.remediation}")

    async def _verdict(self, run: RemediationRun, firing: bool) -> None:
        if not firing:
            await self._record(replace(run, verdict="resolved"), announce=False)
            return
        spec = self.remediations.get(run.remediation)
        verify = spec.config.verify if spec is not None else None
        then = spec.config.then if spec is not None else ""
        why = f"its alert still fired {verify.within if verify is not None else 'long'} after it succeeded"
        why += f"; next: {then}" if then else "; escalation moves on"
        await self._record(replace(run, verdict="ineffective", reason=why), announce=True)
        route = self._route(run.route_id)
        if then and route is not None:
            step = await self.consider(then, run.fingerprint, route, after=run)
            if step is not None:
                return  # its outcome decides (see _record)
            log.info("remediation chain step held back by its guards; escalation moves on",
                     remediation=then, after=run.id, fingerprint=run.fingerprint)
        self._move_on(run)

    def _move_on(self, run: RemediationRun) -> None:
        """The alert's escalation moves to its next level at once: ``run`` did not fix it."""
        if self.escalate is not None:
            self.escalate(run.fingerprint)

    # -- decisions --------------------------------------------------------------------------

    async def get(self, run_id: str) -> RemediationRun:
        run = self.runs.get(run_id) or await self.store.get_run(run_id)
        if run is None:
            raise RunNotFound(run_id)
        return run

    async def approve(self, run_id: str, *, by: str, note: str = "") -> RemediationRun:
        run = await self.get(run_id)
        if run.state != PENDING:
            raise RunConflict(f"run {run_id} is {run.state}, not waiting for approval", run)
        now = self.clock.now()
        alert = self.alerts.get(run.fingerprint)
        inc = self.incidents.get(run.fingerprint)
        spec = self.remediations.get(run.remediation)
        why = ""
        reopened = inc is not None and bool(run.alert_id) and inc.id != run.alert_id
        if alert is None or alert.resolved(now) or reopened:
            why = "the alert resolved before the approval; nothing ran"
        elif spec is None:
            why = f"remediation {run.remediation!r} is no longer configured; nothing ran"
        if why:
            cancelled = replace(run, state="cancelled", reason=why, decided_by=by, decided_at=now,
                                note=note, finished_at=now)
            await self._record(cancelled, announce=False)
            raise RunConflict(why, cancelled)
        assert spec is not None
        started = replace(run, state=RUNNING, trigger=f"approved by {by}", decided_by=by, decided_at=now,
                          note=note, started_at=now)
        await self._record(started, announce=False)
        self.spawn(self._execute(started, spec), name=f"remediation {run.remediation}")
        return started

    async def reject(self, run_id: str, *, by: str, note: str = "") -> RemediationRun:
        run = await self.get(run_id)
        if run.state != PENDING:
            raise RunConflict(f"run {run_id} is {run.state}, not waiting for approval", run)
        now = self.clock.now()
        rejected = replace(run, state="rejected", decided_by=by, decided_at=now, note=note, finished_at=now)
        await self._record(rejected, announce=True)
        return rejected

    # -- records -----------------------------------------------------------------------------

    async def _record(self, run: RemediationRun, *, announce: bool) -> None:
        now = self.clock.now()
        # In memory first, before any await: the guards of a concurrent flush must see it.
        self.runs[run.id] = run
        history = []
        if run.alert_id:
            detail = {"run": run.id, "remediation": run.remediation,
                      "state": "ineffective" if run.verdict == "ineffective" else run.state}
            if run.reason:
                detail["reason"] = run.reason
            history.append(HistoryEvent(at=now, alert_id=run.alert_id, fingerprint=run.fingerprint,
                                        kind="remediation", actor=run.decided_by or "tocsin", detail=detail))
        try:
            await self.store.save(runs=[run], history=history)
        except StorageError as exc:
            log.error("remediation record not stored", run=run.id, error=str(exc))
        self.metrics.remediations.labels(run.remediation, run.state).inc()
        if run.state in FINAL or run.state == PENDING:
            state = run.verdict if run.verdict == "ineffective" else run.state
            log.info("remediation " + state.replace("_", " "), remediation=run.remediation, run=run.id,
                     fingerprint=run.fingerprint, summary=describe(run))
        if announce:
            await self._announce(run)
        if run.after and run.state in CHAIN_ENDS:
            self._move_on(run)
        self._forget_old(now)

    def _forget_old(self, now: float) -> None:
        for rid in [r.id for r in self.runs.values() if r.state in FINAL and r.created_at < now - KEEP
                    and not (r.verify_by and not r.verdict)]:  # not before its verification
            del self.runs[rid]

    async def _announce(self, run: RemediationRun) -> None:
        alert = self.alerts.get(run.fingerprint)
        route = self._route(run.route_id)
        if alert is None or route is None:
            return
        now = self.clock.now()
        snapshot = alert.__copy__()
        if not alert.resolved(now):
            snapshot.ends_at = 0.0
        labels = route.group_labels(alert.labels)
        await self.announce(Notification(
            receiver=route.receiver, group_key=route.group_key(labels), group_labels=labels,
            alerts=[snapshot], now=now, route_id=route.id, event="remediation",
            actor=run.decided_by or "tocsin", note=describe(run),
        ))

    def list(self) -> list[RemediationRun]:
        return sorted(self.runs.values(), key=lambda r: r.id, reverse=True)


#: The remediation engine, as the runtime shares it with plugins.
REMEDIATOR: Key[Remediator] = Key("remediator")


@hookimpl
async def tocsin_remediate(runtime: Facade, notification: Notification) -> None:
    await runtime[REMEDIATOR].on_flush(notification)
