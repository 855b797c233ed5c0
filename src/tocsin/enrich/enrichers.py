"""Built-in enrichers, configured under ``enrich:``.

Four :func:`~tocsin.hookspecs.tocsin_enrich` implementations, each its own
plugin (entry points ``enrich-rules``, ``enrich-threshold``,
``enrich-recommendations``, ``enrich-host``, so any one can be turned off with
``plugins.disable``), called in this order for every posted alert:

1. **rules** -- matchers, then labels to add and annotations rendered with Jinja2;
2. **threshold** -- how far a value is beyond its threshold picks ``severity``
   (and ``priority``) from bands, and writes ``threshold_message``;
3. **recommendations** -- lines by category and alertname, merged into the
   ``recommendations`` annotation;
4. **host** -- for alerts about the machine tocsin runs on, its load and top
   processes.

The order is set with pluggy's markers: rules is ``tryfirst``, host is
``trylast``; threshold and recommendations are plain and tocsin registers
entry points sorted by name, so ``enrich-threshold`` (registered after
``enrich-recommendations``) is called before it. ``tests/unit/test_enrich.py``
checks the resulting order.

Each enricher runs under a timeout (``enrich.timeout``; the host enricher
has ``enrich.host.timeout``) and catches its own errors: a timeout or an
exception is logged with the alert's name and fingerprint-to-be, and the
alert goes on without what that enricher had not written yet (for rules:
labels are set at once, rendered annotations only when all rendered in time).
Template rendering and the process scan run in a small thread pool so that
the timeout really bounds them; threshold and recommendations only do a few
string operations on the alert. With nothing configured an enricher returns
at once, without creating a coroutine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import jinja2
import msgspec
import structlog

from tocsin import hookimpl
from tocsin.config.types import Duration, MatcherList
from tocsin.config.validate import field_error
from tocsin.core.labels import fingerprint, valid_label_name
from tocsin.core.matchers import Matcher, matches_all
from tocsin.core.models import Alert
from tocsin.notify.templates import Template, Templates

if TYPE_CHECKING:
    from tocsin.core.facade import Facade

__all__ = [
    "HOST_ANNOTATIONS", "EnrichConfig", "EnrichRule", "HostConfig", "HostEnricher",
    "RecommendationsConfig", "RecommendationsEnricher", "RulesEnricher", "ThresholdBand",
    "ThresholdConfig", "ThresholdEnricher", "about_this_host", "apply_recommendations",
    "apply_threshold", "host", "recommendations", "rules", "threshold",
]

log = structlog.get_logger("tocsin.enrich.enrichers")

#: The annotations the host enricher writes.
HOST_ANNOTATIONS = ("host", "host_load", "host_top_cpu", "host_top_memory")
#: Bounds of the host annotations.
MAX_LINE = 120
MAX_ANNOTATION = 2000
MAX_TOP = 50
#: A process scan is reused for alerts posted within this many seconds of it.
SCAN_TTL = 5.0


# -- configuration ----------------------------------------------------------------------------


class Base(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


_template_checker: jinja2.Environment | None = None


def _check_template(source: str) -> None:
    """Compile (not only parse) a template, so an unknown filter is a config error."""
    global _template_checker
    if _template_checker is None:
        _template_checker = Templates().env
    _template_checker.from_string(source)


def _check_names(what: str, names: Iterable[str]) -> None:
    for name in names:
        if not valid_label_name(name):
            raise field_error(f"{what}.{name}", f"invalid {what[:-1]} name {name!r}")


class EnrichRule(Base):
    """Alerts matching ``matchers`` (all of them; none matches every alert) get
    ``labels`` and ``annotations`` (Jinja2 over ``labels`` and ``annotations``)."""

    matchers: list[MatcherList] = []
    labels: dict[str, str] = {}
    annotations: dict[str, Template] = {}
    #: Replace a value the alert already has (default: keep the sender's).
    overwrite: bool = False

    def __post_init__(self) -> None:
        if not self.labels and not self.annotations:
            # Named after annotations: the check is then dropped when annotations had errors.
            raise field_error("annotations", "a rule must add labels or annotations")
        _check_names("labels", self.labels)
        for name, value in self.labels.items():
            if value == "":
                raise field_error(f"labels.{name}", "must not be empty (an empty label is no label)")
        _check_names("annotations", self.annotations)
        for name, source in self.annotations.items():
            try:
                _check_template(source)
            except jinja2.TemplateError as exc:
                raise field_error(f"annotations.{name}", f"template error: {exc}") from None


class ThresholdBand(Base):
    #: Percent beyond the threshold that must be exceeded for this band.
    over: float
    severity: str
    priority: str | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.over) or self.over < 0:
            raise field_error("over", "must be a number of percent, zero or more")
        if not self.severity.strip():
            raise field_error("severity", "must not be empty")
        if self.priority is not None and not self.priority.strip():
            raise field_error("priority", "must not be empty (leave it out instead)")


class ThresholdConfig(Base):
    #: Annotation (or, failing that, label) holding the measured value.
    value: str = "value"
    #: Annotation (or label) holding the threshold.
    threshold: str = "threshold"
    #: ``above``: a value over the threshold is bad; ``below``: a value under it is.
    direction: Literal["above", "below"] = "above"
    #: In descending order of ``over``; the first whose ``over`` is exceeded wins.
    bands: list[ThresholdBand] = []

    def __post_init__(self) -> None:
        for key in ("value", "threshold"):
            if not valid_label_name(getattr(self, key)):
                raise field_error(key, f"invalid annotation name {getattr(self, key)!r}")
        for i in range(1, len(self.bands)):
            if self.bands[i].over >= self.bands[i - 1].over:
                raise field_error(f"bands[{i}].over",
                                  "bands must be in descending order of 'over' (the first that fits wins)")


def _check_lines(what: str, table: Mapping[str, list[str]]) -> None:
    for key, lines in table.items():
        for i, line in enumerate(lines):
            if not line.strip():
                raise field_error(f"{what}.{key}[{i}]", "must not be empty")


class RecommendationsConfig(Base):
    #: By the value of the alert's ``category`` label.
    by_category: dict[str, list[str]] = {}
    #: By the alert's ``alertname``.
    by_alertname: dict[str, list[str]] = {}

    def __post_init__(self) -> None:
        _check_lines("by_category", self.by_category)
        _check_lines("by_alertname", self.by_alertname)


class HostConfig(Base):
    enabled: bool = False
    #: Extra condition on top of "the alert is about this host".
    matchers: list[MatcherList] = []
    #: Processes listed by CPU and by memory.
    top: int = 5
    timeout: Duration = Duration(1)

    def __post_init__(self) -> None:
        if not 1 <= self.top <= MAX_TOP:
            raise field_error("top", f"must be between 1 and {MAX_TOP}")
        if self.timeout <= 0:
            raise field_error("timeout", "must be greater than zero")


class EnrichConfig(Base):
    #: Bound of each enricher (but host, which has its own) for one alert.
    timeout: Duration = Duration(2)
    #: Applied in order; a rule's matchers see the labels earlier rules added.
    rules: list[EnrichRule] = []
    threshold: ThresholdConfig | None = None
    recommendations: RecommendationsConfig | None = None
    host: HostConfig = msgspec.field(default_factory=HostConfig)

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise field_error("timeout", "must be greater than zero")


# -- running one enricher under its bounds ----------------------------------------------------------

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    """Threads for template rendering and process scans: few, so that runaway work
    cannot take the default executor (DNS lookups) with it."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="tocsin-enrich")
        return _pool


def _who(alert: Alert) -> dict[str, str]:
    return {"alertname": alert.labels.get("alertname", ""), "fingerprint": fingerprint(alert.labels)}


async def _guard(name: str, timeout: float, alert: Alert, work: Callable[[], Any]) -> None:
    """Run ``work()`` (sync, or returning an awaitable) under ``timeout``; log and swallow failure."""
    try:
        async with asyncio.timeout(timeout):
            result = work()
            if asyncio.iscoroutine(result):
                await result
    except TimeoutError as exc:
        log.warning("enricher timed out; skipped", enricher=name, timeout=timeout,
                    reason=str(exc) or "took too long", **_who(alert))
    except Exception as exc:
        log.error("enricher failed; skipped", enricher=name, error=f"{type(exc).__name__}: {exc}",
                  exc_info=exc, **_who(alert))


def _matchers(lists: Iterable[MatcherList]) -> tuple[Matcher, ...]:
    return tuple(m for ml in lists for m in ml)


# -- rules ------------------------------------------------------------------------------------------


class _Rule(NamedTuple):
    index: int
    matchers: tuple[Matcher, ...]
    labels: tuple[tuple[str, str], ...]
    annotations: tuple[tuple[str, jinja2.Template], ...]
    overwrite: bool


def _render(rule: _Rule, name: str, tpl: jinja2.Template, labels: dict[str, str],
            annotations: dict[str, str]) -> str | None:
    try:
        return tpl.render(labels=labels, annotations=annotations).strip()
    except Exception as exc:  # a broken value is skipped, the others still render
        log.error("enrich template failed; value skipped", rule=rule.index, annotation=name,
                  error=f"{type(exc).__name__}: {exc}", alertname=labels.get("alertname", ""))
        return None


def _render_pending(
    pending: list[tuple[_Rule, dict[str, str]]], annotations: dict[str, str]
) -> dict[str, str]:
    """Render the matched rules' annotations in rule order (a template sees what earlier
    rules rendered); return only the values to set. Runs in a worker thread, on copies."""
    current = dict(annotations)
    changed: dict[str, str] = {}
    for rule, labels in pending:
        for name, tpl in rule.annotations:
            if not rule.overwrite and current.get(name):
                continue
            value = _render(rule, name, tpl, labels, current)
            if value:
                current[name] = changed[name] = value
    return changed


class RulesEnricher:
    """``enrich.rules``: labels and templated annotations for matching alerts."""

    name = "rules"

    def __init__(self) -> None:
        self._cache: tuple[list[EnrichRule], tuple[_Rule, ...]] | None = None

    def compiled(self, rules: list[EnrichRule], templates: Templates) -> tuple[_Rule, ...]:
        """``rules`` with matchers flattened and templates compiled, once per config
        (a reload decodes a new list)."""
        cache = self._cache
        if cache is not None and cache[0] is rules:
            return cache[1]
        env = templates.env  # macros of the ``templates:`` files are callable
        out = []
        for i, rule in enumerate(rules):
            annotations = []
            for name, source in rule.annotations.items():
                try:
                    annotations.append((name, env.from_string(source)))
                except jinja2.TemplateError as exc:  # checked at load; kept safe regardless
                    log.error("enrich template does not compile; value skipped", rule=i,
                              annotation=name, error=str(exc))
            out.append(_Rule(i, _matchers(rule.matchers), tuple(rule.labels.items()), tuple(annotations),
                             rule.overwrite))
        compiled = tuple(out)
        self._cache = (rules, compiled)
        return compiled

    def wanted(self, runtime: Facade) -> bool:
        return bool(runtime.config.document.enrich.rules)

    @hookimpl(tryfirst=True)
    def tocsin_enrich(self, runtime: Facade, alert: Alert) -> Any:
        cfg = runtime.config.document.enrich
        if not cfg.rules:
            return None
        templates = runtime.config.templates
        return _guard(self.name, float(cfg.timeout), alert, lambda: self._apply(cfg.rules, templates, alert))

    async def _apply(self, rules: list[EnrichRule], templates: Templates, alert: Alert) -> None:
        labels = alert.labels
        given = alert.annotations
        pending: list[tuple[_Rule, dict[str, str]]] = []
        for rule in self.compiled(rules, templates):
            if not matches_all(rule.matchers, labels):
                continue
            for name, value in rule.labels:
                if rule.overwrite or not labels.get(name):
                    labels[name] = value
            # Templates see the labels as they are after this rule's own.
            if any(rule.overwrite or not given.get(name) for name, _ in rule.annotations):
                pending.append((rule, dict(labels)))
        if not pending:
            return
        loop = asyncio.get_running_loop()
        rendered = await loop.run_in_executor(_executor(), _render_pending, pending, dict(given))
        given.update(rendered)


# -- threshold --------------------------------------------------------------------------------------


def _lookup(alert: Alert, name: str) -> str | None:
    value = alert.annotations.get(name)
    if value is None or value.strip() == "":
        value = alert.labels.get(name)
    return None if value is None or value.strip() == "" else value.strip()


def _number(text: str) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _plain(x: float) -> str:
    """``5.0`` -> ``5``, ``0.30000000000000004`` -> ``0.3``."""
    return f"{x:.6f}".rstrip("0").rstrip(".") or "0"


def apply_threshold(cfg: ThresholdConfig, alert: Alert) -> None:
    """Set ``severity`` / ``priority`` labels from the band and the ``threshold_message``
    annotation (and ``summary`` when the alert has none)."""
    raw_value, raw_threshold = _lookup(alert, cfg.value), _lookup(alert, cfg.threshold)
    if raw_value is None or raw_threshold is None:
        return  # not an alert about a threshold
    value, limit = _number(raw_value), _number(raw_threshold)
    if value is None or limit is None:
        bad, text = (cfg.value, raw_value) if value is None else (cfg.threshold, raw_threshold)
        log.warning("threshold enricher: not a number; skipped", field=bad, text=text[:100], **_who(alert))
        return
    beyond = value - limit if cfg.direction == "above" else limit - value
    verb = "exceeded by" if cfg.direction == "above" else "below by"
    band = None
    if beyond <= 0:
        message = f"{raw_value} (threshold {raw_threshold}, within threshold)"
    elif limit == 0:  # no percentage of zero: the absolute difference, and the lowest band
        message = f"{raw_value} (threshold {raw_threshold}, {verb} {_plain(beyond)})"
        band = cfg.bands[-1] if cfg.bands else None
    else:
        percent = beyond / abs(limit) * 100
        message = f"{raw_value} (threshold {raw_threshold}, {verb} {percent:.1f}%)"
        band = next((b for b in cfg.bands if percent > b.over), None)
    if band is not None:
        alert.labels["severity"] = band.severity
        if band.priority:
            alert.labels["priority"] = band.priority
    alert.annotations["threshold_message"] = message
    if not alert.annotations.get("summary"):
        alert.annotations["summary"] = message


class ThresholdEnricher:
    """``enrich.threshold``: severity from how far a value is beyond its threshold."""

    name = "threshold"

    def wanted(self, runtime: Facade) -> bool:
        return runtime.config.document.enrich.threshold is not None

    @hookimpl
    def tocsin_enrich(self, runtime: Facade, alert: Alert) -> Any:
        cfg = runtime.config.document.enrich
        if cfg.threshold is None:
            return None
        return _guard(self.name, float(cfg.timeout), alert, lambda: apply_threshold(cfg.threshold, alert))


# -- recommendations --------------------------------------------------------------------------------


def apply_recommendations(cfg: RecommendationsConfig, alert: Alert) -> None:
    """The sender's lines, then the alertname's, then the category's; each line once."""
    extra: list[str] = []
    alertname = alert.labels.get("alertname", "")
    if alertname:
        extra.extend(cfg.by_alertname.get(alertname, ()))
    category = alert.labels.get("category", "")
    if category:
        extra.extend(cfg.by_category.get(category) or cfg.by_category.get(category.lower(), ()))
    if not extra:
        return
    lines: list[str] = []
    seen: set[str] = set()
    for line in (*alert.annotations.get("recommendations", "").splitlines(), *extra):
        line = line.strip()
        if line and line not in seen:
            seen.add(line)
            lines.append(line)
    alert.annotations["recommendations"] = "\n".join(lines)


class RecommendationsEnricher:
    """``enrich.recommendations``: what to do, by category and alertname."""

    name = "recommendations"

    def wanted(self, runtime: Facade) -> bool:
        rec = runtime.config.document.enrich.recommendations
        return rec is not None and bool(rec.by_category or rec.by_alertname)

    @hookimpl
    def tocsin_enrich(self, runtime: Facade, alert: Alert) -> Any:
        cfg = runtime.config.document.enrich
        rec = cfg.recommendations
        if rec is None or not (rec.by_category or rec.by_alertname):
            return None
        return _guard(self.name, float(cfg.timeout), alert, lambda: apply_recommendations(rec, alert))


# -- host -------------------------------------------------------------------------------------------

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@functools.cache
def _local_names() -> frozenset[str]:
    name = socket.gethostname().lower().rstrip(".")
    return _LOOPBACK | {name, name.split(".", 1)[0]}


def _host_part(instance: str) -> str:
    """``db1:9100`` -> ``db1``; ``[::1]:9100`` -> ``::1``; a bare IPv6 address stays whole."""
    if instance.startswith("["):
        return instance[1:].partition("]")[0]
    if instance.count(":") == 1:
        return instance.partition(":")[0]
    return instance


def about_this_host(labels: Mapping[str, str]) -> bool:
    """Whether the alert's ``instance`` (port stripped), ``host`` or ``hostname`` label
    names the machine tocsin runs on (short name, full name or loopback)."""
    names = _local_names()
    for key in ("instance", "host", "hostname"):
        value = labels.get(key)
        if value:
            candidate = _host_part(value) if key == "instance" else value
            if candidate.lower().rstrip(".") in names:
                return True
    return False


def _fit(line: str) -> str:
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def top_lines(lines: Iterable[str], top: int) -> str:
    """At most ``top`` lines of at most MAX_LINE characters, MAX_ANNOTATION in all."""
    out: list[str] = []
    size = 0
    for line in lines:
        if len(out) >= top:
            break
        line = _fit(line)
        if size + len(line) + (1 if out else 0) > MAX_ANNOTATION:
            break
        size += len(line) + (1 if out else 0)
        out.append(line)
    return "\n".join(out)


class _Proc(NamedTuple):
    pid: int
    name: str
    cpu: float
    rss: int


def _scan(top: int, interval: float) -> dict[str, str]:
    """Load and top processes; blocking (two CPU samples ``interval`` apart)."""
    import psutil

    procs = []
    for p in psutil.process_iter(["name", "memory_info"]):
        try:
            p.cpu_percent(None)
            procs.append(p)
        except psutil.Error:
            continue
    time.sleep(interval)
    rows: list[_Proc] = []
    for p in procs:
        try:
            cpu = p.cpu_percent(None)
        except psutil.Error:
            continue
        mem = p.info.get("memory_info")
        name = _CONTROL.sub("?", p.info.get("name") or "?")
        rows.append(_Proc(p.pid, name, cpu, mem.rss if mem is not None else 0))
    by_cpu = sorted(rows, key=lambda r: (-r.cpu, r.pid))
    by_mem = sorted(rows, key=lambda r: (-r.rss, r.pid))
    out = {
        "host": socket.gethostname(),
        "host_load": " ".join(f"{x:.2f}" for x in psutil.getloadavg()),
        "host_top_cpu": top_lines((f"{r.pid} {r.name} {r.cpu:.1f}%" for r in by_cpu), top),
        "host_top_memory": top_lines((f"{r.pid} {r.name} {r.rss / 1048576:.1f} MiB" for r in by_mem), top),
    }
    return {k: v for k, v in out.items() if v}


class HostEnricher:
    """``enrich.host``: this machine's load and top processes, for alerts about it."""

    name = "host"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the last scan, and any still running (its result is not kept). Tests."""
        self._generation = getattr(self, "_generation", 0) + 1
        self._matchers: tuple[HostConfig, tuple[Matcher, ...]] | None = None
        #: (monotonic time, top, annotations) of the last finished scan.
        self._last: tuple[float, int, dict[str, str]] | None = None
        #: The scan under way or last started.
        self._job: _Job | None = None
        self.scans = 0

    def _extra(self, cfg: HostConfig) -> tuple[Matcher, ...]:
        cache = self._matchers
        if cache is None or cache[0] is not cfg:
            cache = self._matchers = (cfg, _matchers(cfg.matchers))
        return cache[1]

    def wanted(self, runtime: Facade) -> bool:
        return runtime.config.document.enrich.host.enabled

    @hookimpl(trylast=True)
    def tocsin_enrich(self, runtime: Facade, alert: Alert) -> Any:
        cfg = runtime.config.document.enrich.host
        if not cfg.enabled:
            return None
        return _guard(self.name, float(cfg.timeout), alert, lambda: self._apply(runtime, cfg, alert))

    async def _apply(self, runtime: Facade, cfg: HostConfig, alert: Alert) -> None:
        if not about_this_host(alert.labels) or not matches_all(self._extra(cfg), alert.labels):
            return
        # A re-post (senders repeat every alert every 15-60 s) keeps the snapshot taken
        # when the alert started firing instead of scanning again.
        held = runtime.alerts.get(fingerprint(alert.labels))
        if held is not None and not held.resolved(runtime.clock.now()) and "host_load" in held.annotations:
            found = {k: held.annotations[k] for k in HOST_ANNOTATIONS if k in held.annotations}
        else:
            found = await self._snapshot(cfg)
        for key, value in found.items():
            if not alert.annotations.get(key):
                alert.annotations[key] = value

    async def _snapshot(self, cfg: HostConfig) -> dict[str, str]:
        now = time.monotonic()
        last = self._last
        if last is not None and last[1] == cfg.top and now - last[0] < SCAN_TTL:
            return last[2]
        job = self._job
        if job is None or job.future.done() or job.top != cfg.top:
            interval = min(0.1, float(cfg.timeout) / 4)
            job = self._job = _Job(cfg.top, _executor().submit(_scan, cfg.top, interval))
            self.scans += 1
            top, generation = cfg.top, self._generation

            def done(f: concurrent.futures.Future[dict[str, str]]) -> None:
                if generation == self._generation and not f.cancelled() and f.exception() is None:
                    self._last = (time.monotonic(), top, f.result())

            job.future.add_done_callback(done)
        elif job.overran:
            # Someone already waited its whole timeout for this scan: do not queue
            # behind it alert after alert.
            raise TimeoutError("an earlier process scan is still running")
        try:
            return await _wait(job.future)
        except asyncio.CancelledError:  # our timeout (or shutdown): the scan overran
            job.overran = True
            raise


class _Job:
    __slots__ = ("future", "overran", "top")

    def __init__(self, top: int, future: concurrent.futures.Future[dict[str, str]]) -> None:
        self.top = top
        self.future = future
        self.overran = False


def _wait(future: concurrent.futures.Future[dict[str, str]]) -> asyncio.Future[dict[str, str]]:
    """Await a scan without cancelling it when this waiter gives up (others may share it)."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[dict[str, str]] = loop.create_future()

    def settle(f: concurrent.futures.Future[dict[str, str]]) -> None:
        if waiter.done():
            return
        if f.cancelled():
            waiter.set_exception(RuntimeError("process scan cancelled"))
        elif (exc := f.exception()) is not None:
            waiter.set_exception(exc)
        else:
            waiter.set_result(f.result())

    def wake(f: concurrent.futures.Future[dict[str, str]]) -> None:
        try:
            loop.call_soon_threadsafe(settle, f)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    future.add_done_callback(wake)
    return waiter


#: The plugin objects the entry points name.
rules = RulesEnricher()
threshold = ThresholdEnricher()
recommendations = RecommendationsEnricher()
host = HostEnricher()
