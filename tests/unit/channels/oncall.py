"""What the OpsGenie, VictorOps and Pushover channel tests share: a config with one receiver
of one integration, and the alerts they post."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from tocsin.core.timefmt import format_ts
from tocsin.runtime import Runtime
from tocsin.testing import RecordingServer, advance, post

EXTERNAL = "http://tocsin.example:9095"


def config(kind: str, entry: str = "", *, global_: str = "", extra: str = "") -> str:
    """A config whose receiver ``oncall`` has one ``<kind>_configs`` entry of ``entry``'s
    lines (YAML, one key a line), grouping by alertname."""
    items = [line for line in entry.strip("\n").splitlines() if line.strip()]
    lines = f"    {kind}_configs:\n      - " + "\n        ".join(items or ["{}"]) + "\n"
    return f"""
global:
  resolve_timeout: 1h
{global_}
route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
server:
  external_url: {EXTERNAL}
receivers:
  - name: oncall
{lines}{extra}"""


def disk_alerts(rt: Runtime, *, ends: float | None = None) -> list[dict[str, Any]]:
    """Two alerts of group Disk, both critical, on two instances."""
    start = rt.clock.now() - 600
    out = []
    for instance in ("a", "b"):
        alert: dict[str, Any] = {
            "labels": {"alertname": "Disk", "instance": instance, "job": "node", "severity": "critical"},
            "annotations": {"summary": "disk full"}, "startsAt": format_ts(start),
            "generatorURL": f"http://prom:9090/graph?{instance}",
        }
        if ends is not None:
            alert["endsAt"] = format_ts(ends)
        out.append(alert)
    return out


async def fire(rt: Runtime) -> None:
    """Post the Disk alerts and let group_wait pass."""
    await post(rt, *disk_alerts(rt))
    await advance(rt, 30)


async def resolve(rt: Runtime) -> None:
    """Resolve the Disk alerts and let group_interval pass."""
    await post(rt, *disk_alerts(rt, ends=rt.clock.now()))
    await advance(rt, 300)


#: Alertmanager's alert list for the two Disk alerts, firing.
FIRING_LIST = (
    "Labels:\n - alertname = Disk\n - instance = a\n - job = node\n - severity = critical\n"
    "Annotations:\n - summary = disk full\nSource: http://prom:9090/graph?a\n"
    "Labels:\n - alertname = Disk\n - instance = b\n - job = node\n - severity = critical\n"
    "Annotations:\n - summary = disk full\nSource: http://prom:9090/graph?b\n"
)


@asynccontextmanager
async def checked_service(body: bytes, problems: Callable[[RecordingServer.Request], list[str]],
                          status: int = 200) -> AsyncIterator[RecordingServer]:
    """A fake service on 127.0.0.1 answering ``status`` and ``body``; when the block ends,
    every request it got is checked with ``problems`` (the provider's documented API)."""
    server = RecordingServer()
    server.status, server.body = status, body
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    bad = [(r, p) for r in server.requests if (p := problems(r))]
    assert not bad, bad
