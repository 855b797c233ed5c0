"""Naming an incident by a short reference, as git names a commit by a prefix.

An incident is named by its id, by its fingerprint (its latest incident), or by a
short reference: at least :data:`MIN_REF` hex digits that start or end its id, or start
its fingerprint. Ids start with their creation time, so alerts raised together share
every short prefix and their ends tell them apart: the reference tocsin shows is the
shortest end of an id, :data:`REF_LENGTH` digits or more, that names it alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tocsin.incidents.plan import ID_LENGTH, Incident, IncidentAmbiguous, IncidentNotFound
from tocsin.store import Store

__all__ = ["CANDIDATES", "MIN_REF", "REF_LENGTH", "find", "short_refs"]

#: The fewest characters a short reference to an incident may have.
MIN_REF = 4
#: The fewest characters of its id's end an incident's short reference shows.
REF_LENGTH = 8
#: How many of the incidents an ambiguous reference names are given back.
CANDIDATES = 10
_HEX = "0123456789abcdef"


async def find(current: Mapping[str, Incident], store: Store, ref: str) -> Incident:
    """The incident ``ref`` names: open ones (``current``, by fingerprint) first, then the
    store's. :class:`IncidentAmbiguous` when a short reference names several."""
    inc = current.get(ref)
    if inc is not None:
        return inc
    for inc in current.values():
        if inc.id == ref:
            return inc
    found = await store.get_incident(ref) or await store.latest_incident(ref)
    if found is not None:
        return found
    short = ref.lower()
    if MIN_REF <= len(short) < ID_LENGTH and not short.strip(_HEX):
        count, named = await store.incidents_named(short, CANDIDATES)
        if count == 1:
            return named[0]
        if count > 1:
            raise IncidentAmbiguous(ref, count, named)
    raise IncidentNotFound(ref)


async def short_refs(store: Store, ids: Iterable[str]) -> dict[str, str]:
    """Each id's shortest end, :data:`REF_LENGTH` hex digits or more, that :func:`find`
    reads as that incident alone (when asked: a later incident may share it; :func:`find`
    then says so)."""
    out: dict[str, str] = {}
    pending = set(ids)
    length = REF_LENGTH
    while pending and length < ID_LENGTH:
        shared = await store.shared_refs(sorted({i[-length:] for i in pending}), length)
        for i in [i for i in pending if i[-length:] not in shared]:
            out[i] = i[-length:]
            pending.discard(i)
        length += 4
    out.update((i, i) for i in pending)
    return out
