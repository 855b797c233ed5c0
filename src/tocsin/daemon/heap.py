"""The start-up heap, out of the cyclic garbage collector's way.

After start-up the daemon holds a large, long-lived heap (the config, the plugins,
the routing tree, the loaded alerts, incidents and notification log, the imported
modules). Python's cyclic collector walks every tracked object of the oldest
generation at each full collection, and an ingest of fresh alerts allocates enough
to trigger those: each walk over that heap is CPU spent on objects that live until
exit. :func:`freeze` collects once, then moves every object alive into the
permanent generation (:func:`gc.freeze`), which collections skip; what is allocated
afterwards is collected as before. A reload replaces the config and the routing
tree: :func:`refreeze` thaws, collects the old ones, and freezes what is alive now.

Start-up itself runs with the collector paused (:func:`pause`): loading 100,000
alerts and their incidents allocates millions of objects that all live on, and
every full collection meanwhile walks all of those loaded so far (at 100,000
alerts that was about half of the time to ready). :func:`freeze` turns it on again.

The heap allocated after start-up grows fast in an alert storm: a group, an incident,
a timer and a notification-log entry for each new alert. With the interpreter's
thresholds (700, 10, 10) every 7,000 surviving containers set off a collection of
the middle generation, and every ten of those a full one once the old generation
has grown by a quarter: 18 full collections in a storm of 20,000 fresh alerts, up
to 114 ms each (the loop stalled that long), 1.3 s of CPU that found nothing to
free. :data:`THRESHOLDS` lets the youngest generation grow to 10,000 objects
first: most of a request's or a flush's objects are gone by then, so far fewer
survive into the older generations, and the storm saw 3 full collections
(docs/performance.md, "The cyclic collector in a storm"). The per-alert records themselves
(:class:`~tocsin.core.models.Alert`, :class:`~tocsin.core.records.Incident`,
:class:`~tocsin.store.NflogEntry`) are not tracked at all (msgspec's ``gc=False``):
they hold strings, numbers and containers of strings, never a cycle.

Within a storm, the collections that remain still stall the loop: while a storm's
sends are owed (:mod:`tocsin.notify.deferral` holds the records of those sent),
every collection of a 20,000-alert storm found nothing to free, and eight of them
took 4.5 to 26 ms each, between the sends. :class:`StormPause` turns the collector
off while records are held or being written (a few seconds at most), and on again
once they are written: what is cyclic meanwhile (an exception's traceback, say) is
collected then, once the sends are out. Those first collections are the longer for
it (25 to 32 ms and 40 to 45 ms after that storm), but come after its notifications,
not between them.
"""

from __future__ import annotations

import gc

__all__ = ["THRESHOLDS", "StormPause", "freeze", "pause", "refreeze"]

#: The collector's thresholds once start-up is over (:func:`gc.set_threshold`).
THRESHOLDS = (10_000, 5, 10)


def pause() -> None:
    """Collect what start-up left so far (imports), and stop the collector until :func:`freeze`."""
    gc.collect()
    gc.disable()


def freeze() -> int:
    """Collect, then exempt every object alive now from later collections; how many.

    After :func:`pause`, nothing is collected first: :func:`pause` collected what the
    imports left, loading leaves no cycles behind (a collection here found none at
    100,000 alerts, and took 0.4 to 0.8 s, all before the first answer), and the
    collector is turned on again, with :data:`THRESHOLDS`."""
    if gc.isenabled():
        gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    gc.enable()
    return gc.get_freeze_count()


def refreeze() -> int:
    """Thaw what :func:`freeze` froze, collect what died since (an old config), freeze again."""
    gc.unfreeze()
    return freeze()


class StormPause:
    """The collector off while a storm's records are held or written (:meth:`hold`), on
    again once they are written (:meth:`release`); left as it was when something else
    turned it off."""

    def __init__(self) -> None:
        self._paused = False

    def hold(self) -> None:
        if gc.isenabled():
            gc.disable()
            self._paused = True

    def release(self) -> None:
        if self._paused:
            self._paused = False
            gc.enable()
