"""``enrich.host``: this machine's load and top processes, for alerts about it.

An alert is about this host when its ``instance`` (port stripped), ``host``
or ``hostname`` label names it. The process scan runs in a worker thread and
is shared: alerts posted within :data:`SCAN_TTL` of a scan reuse it, alerts
posted while one runs wait for it, and once a scan overran someone's timeout
the next alerts skip the enricher instead of queueing behind it. A re-post of
a firing alert keeps the snapshot taken when it started firing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import re
import socket
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from tocsin import hookimpl
from tocsin.core.labels import fingerprint
from tocsin.core.matchers import Matcher, matches_all
from tocsin.core.models import Alert
from tocsin.enrich.bounds import executor, flat_matchers, guard
from tocsin.enrich.config import HostConfig

if TYPE_CHECKING:
    from tocsin.core.facade import Facade

__all__ = ["HOST_ANNOTATIONS", "HostEnricher", "about_this_host", "host", "top_lines"]

#: The annotations the host enricher writes.
HOST_ANNOTATIONS = ("host", "host_load", "host_top_cpu", "host_top_memory")
#: Bounds of the host annotations.
MAX_LINE = 120
MAX_ANNOTATION = 2000
#: A process scan is reused for alerts posted within this many seconds of it.
SCAN_TTL = 5.0


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
            cache = self._matchers = (cfg, flat_matchers(cfg.matchers))
        return cache[1]

    def wanted(self, runtime: Facade) -> bool:
        return runtime.config.document.enrich.host.enabled

    @hookimpl(trylast=True)
    def tocsin_enrich(self, runtime: Facade, alert: Alert) -> Any:
        cfg = runtime.config.document.enrich.host
        if not cfg.enabled:
            return None
        return guard(self.name, float(cfg.timeout), alert, lambda: self._apply(runtime, cfg, alert))

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
            job = self._job = _Job(cfg.top, executor().submit(_scan, cfg.top, interval))
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
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(settle, f)

    future.add_done_callback(wake)
    return waiter



#: The plugin object the entry point ``enrich-host`` names.
host = HostEnricher()
