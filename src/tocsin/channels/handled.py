"""The callbacks handled already, so that a signed request sent again changes nothing.

Slack and PagerDuty sign what they send, but a signature does not expire: a request
captured on its way (a proxy's log, a debugging dump) verifies again later. So each
callback that may act is *claimed* before its action is applied: its identity
(PagerDuty's event id, the SHA-256 of what Slack signed) is recorded in the store,
and a request with an identity recorded already is a replay, or PagerDuty's
redelivery, and changes nothing. The records are in the database, so a restart does
not forget them; the retention sweep prunes them once they are older than
:func:`kept_for` says. A callback is also refused outside its time window (Slack's
request timestamp, PagerDuty's ``occurred_at``), so an identity needs to be
remembered only as long as its request could be accepted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from tocsin.store import StorageError

if TYPE_CHECKING:
    from tocsin.store import Store

__all__ = ["MAX_SKEW", "HandledCallbacks", "kept_for"]

log = structlog.get_logger("tocsin.integrations")

#: How far ahead of tocsin's clock a callback's own time may be (clocks differ): Slack's
#: request timestamp and PagerDuty's ``occurred_at`` alike. Slack's timestamp may also be
#: as far behind.
MAX_SKEW = 300.0


def kept_for(retention: float, max_age: float) -> float:
    """How long a handled callback is remembered: ``retention`` (``storage.retention``),
    but never less than a request may be accepted again. A callback whose own time may be
    ``max_age`` behind tocsin's clock, and :data:`MAX_SKEW` ahead of it, may come again
    up to ``max_age + MAX_SKEW`` after it first came."""
    return max(retention, max_age + MAX_SKEW)


class HandledCallbacks:
    """Which callbacks were handled, by ``(source, id)``, kept in ``store``."""

    def __init__(self, store: Store) -> None:
        self._store = store
        #: Claims on their way to the store: the same request twice at once is caught here.
        self._claiming: set[tuple[str, str]] = set()

    async def claim(self, source: str, callback_id: str, now: float) -> bool:
        """Record ``callback_id`` of ``source`` as handled at ``now``, before its action is
        applied. False when it was handled (or is being claimed) already: a replay, to be
        answered as a duplicate, with nothing done. Raises :class:`StorageError` when the
        record could not be made durable: then do nothing either (the sender may retry)."""
        key = (source, callback_id)
        if key in self._claiming:
            return False
        self._claiming.add(key)
        try:
            if await self._store.callback_seen(source, callback_id) is not None:
                return False
            await self._store.save_callback_id(source, callback_id, now)
            return True
        finally:
            self._claiming.discard(key)

    async def release(self, source: str, callback_id: str) -> None:
        """Forget a claim whose action could not be stored, so the sender's retry is taken.
        If even that fails, the retry is answered as a duplicate (logged)."""
        try:
            await self._store.forget_callback_id(source, callback_id)
        except StorageError as exc:
            log.error("handled callback not forgotten; a retry of it will be refused", source=source,
                      callback_id=callback_id, error=str(exc))

    async def expire(self, before: float) -> None:
        """Forget the callbacks handled before ``before``."""
        await self._store.expire_callback_ids(before)
