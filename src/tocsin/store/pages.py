"""What ``tocsin replay`` reads of a store: a window's history a page at a time (history
rows, notices, the incidents fired and those open at its start) and its delivery
attempts, in the SQL both databases read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tocsin.core.records import HistoryEvent, Incident
from tocsin.store import Attempt, notices, rows

__all__ = ["PageQueries"]


class PageQueries:
    """The paged reads, on a store's ``_fetch`` (a mixin of :class:`~tocsin.store.sql.SQLStore`)."""

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> Iterable[Sequence[Any]]:
        raise NotImplementedError

    async def history_page(
        self, since: float, until: float, kinds: Sequence[str], after_id: int, limit: int
    ) -> list[tuple[HistoryEvent, Incident]]:
        cols = ", ".join(f"h.{c.strip()}" for c in rows.HISTORY_COLUMNS.split(","))
        # Each row's incident: its row, or the one its alert's row implies.
        found = list(await self._fetch(
            f"SELECT {cols}, coalesce(r.id, a.incident), h.fingerprint, coalesce(r.body, a.body),"
            " coalesce(r.fired_at, a.fired_at), CASE WHEN r.id IS NULL THEN a.birth END"
            " FROM history h LEFT JOIN incident_rows r ON r.id = h.alert_id"
            " LEFT JOIN alerts a"
            " ON r.id IS NULL AND a.fingerprint = h.fingerprint AND a.incident = h.alert_id"
            f" WHERE h.id > ? AND h.at >= ? AND h.at < ? AND h.kind IN ({','.join('?' * len(kinds))})"
            " AND (r.id IS NOT NULL OR a.incident IS NOT NULL) ORDER BY h.id LIMIT ?",
            (after_id, since, until, *kinds, limit)))
        events = rows.history_events(r[:7] for r in found)
        return list(zip(events, rows.incidents(r[7:] for r in found), strict=True))

    async def notices_page(
        self, since: float, until: float, after_id: int, limit: int
    ) -> list[notices.Notice]:
        return notices.notices(await self._fetch(
            f"SELECT {notices.NOTICE_COLUMNS} FROM notices WHERE id > ? AND at >= ? AND at < ?"
            " ORDER BY id LIMIT ?", (after_id, since, until, limit)))

    async def fired_page(
        self, since: float, until: float, after: tuple[float, str], limit: int
    ) -> list[Incident]:
        where = "fired_at >= ? AND fired_at < ? AND (fired_at > ? OR (fired_at = ? AND {id} > ?))"
        params = (since, until, after[0], after[0], after[1], limit)
        return rows.incidents(await self._fetch(
            f"SELECT * FROM (SELECT {rows.ROW_COLUMNS} FROM incident_rows WHERE {where.format(id='id')}"
            " ORDER BY fired_at, id LIMIT ?) r UNION ALL"
            f" SELECT * FROM (SELECT {rows.IMPLIED_COLUMNS} FROM alerts WHERE incident IS NOT NULL"
            f" AND {where.format(id='incident')} ORDER BY fired_at, incident LIMIT ?) a"
            " ORDER BY 4, 1 LIMIT ?", (*params, *params, limit)))

    async def incidents_open_at(self, at: float) -> list[Incident]:
        return rows.incidents(await self._fetch(
            f"SELECT {rows.INCIDENT_COLUMNS} FROM incidents"
            " WHERE fired_at < ? AND (state != 'resolved' OR resolved_at >= ?)"
            " ORDER BY fired_at, id", (at, at)))

    async def attempts_page(self, since: float, until: float, after_id: int, limit: int) -> list[Attempt]:
        return rows.attempts(await self._fetch(
            f"SELECT {rows.ATTEMPT_COLUMNS} FROM attempts WHERE id > ? AND at >= ? AND at < ?"
            " ORDER BY id LIMIT ?", (after_id, since, until, limit)))
