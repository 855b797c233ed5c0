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
"""

from __future__ import annotations

import gc

__all__ = ["freeze", "refreeze"]


def freeze() -> int:
    """Collect, then exempt every object alive now from later collections; how many."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def refreeze() -> int:
    """Thaw what :func:`freeze` froze, collect what died since (an old config), freeze again."""
    gc.unfreeze()
    return freeze()
