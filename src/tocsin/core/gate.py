"""Whether this process may act outward now: send a notification, run a remediation.

One tocsin alone always may. A leader among replicas may only while it is sure it still
holds the lease (:meth:`tocsin.store.pglease.Lease.sure`): cut off from the database, it
cannot tell whether the server has ended its session and another replica leads, so it
holds its sends from the moment the server could have, and lets them go once it has
checked the lease again (or stops, deposed). What waits is not lost: the flush that sent
it is still under way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

__all__ = ["Gate"]

log = structlog.get_logger("tocsin.gate")

#: How often a held send looks whether it may go.
POLL = 0.1


def _always() -> bool:
    return True


class Gate:
    """Sends wait at :meth:`wait` while :attr:`sure` says no."""

    def __init__(self, sure: Callable[[], bool] = _always) -> None:
        #: Whether sends may go now: set by the leader lease on replicas.
        self.sure = sure
        #: Sends waiting now.
        self.held = 0

    async def wait(self) -> None:
        """Return once a send may go (at once, but while the lease is in doubt)."""
        if self.sure():
            return
        self.held += 1
        if self.held == 1:
            log.warning("the leader lease is in doubt: sends and remediations are held until "
                        "it is checked again")
        try:
            # Polled: being sure turns with time (the age of the last check), not at an event.
            while not self.sure():  # noqa: ASYNC110
                await asyncio.sleep(POLL)
        finally:
            self.held -= 1
        if self.held == 0:
            log.info("the leader lease is checked: held sends go")
