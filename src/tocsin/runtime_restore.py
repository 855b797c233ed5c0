"""Resuming what the store held at start: the held alerts routed into their groups
and the open incidents' timers armed.

At 100,000 held alerts this is half a second of the event loop's time, so it is
done :data:`CHUNK` alerts (or incidents) at a time. The runtime does the first
chunk before its ready answer and the rest after, in the task that then runs
the scheduler: requests are served between two chunks, and no timer runs (no
group flushes, no alert expires) until every held alert is back in its group,
so a group's first notification after a restart holds all its alerts, as it
did when the whole of it was done before the ready answer.

Each chunk reads the alerts and incidents as they are then, not as they were
loaded: an alert re-posted, resolved or collected meanwhile is routed (or
left) as it now is. Routing an alert again, or arming an incident's timers
again, changes nothing, so what ingest or a reload did first is not undone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator

from tocsin.core.alerts import AlertState
from tocsin.dispatch.dispatcher import Dispatcher
from tocsin.incidents.lifecycle import Lifecycle

__all__ = ["CHUNK", "pause", "restore"]

#: Alerts routed, or incidents armed, between two chances for the rest of the daemon to run.
CHUNK = 1000


def restore(alerts: AlertState, lifecycle: Lifecycle, dispatcher: Dispatcher) -> Iterator[int]:
    """Resume the held alerts and incidents, a chunk at a time: yields after each
    chunk how many alerts and incidents are done."""
    done = 0
    for part in _parts(list(alerts.fingerprints())):
        for fp in part:
            alert = alerts.get(fp)
            if alert is not None:  # else collected meanwhile
                dispatcher.process(alert)
        done += len(part)
        yield done
    for part in _parts(list(lifecycle.current)):
        lifecycle.start(part)
        done += len(part)
        yield done


async def pause() -> None:
    """Between two chunks: the rest of the daemon runs (requests are served)."""
    await asyncio.sleep(0)


def _parts(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]
