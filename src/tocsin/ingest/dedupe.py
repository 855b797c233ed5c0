"""Built-in dedupe: Alertmanager's merge of a re-posted alert."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tocsin import hookimpl
from tocsin.core.models import Alert
from tocsin.ingest.pipeline import merge

if TYPE_CHECKING:
    from tocsin.core.facade import Facade


@hookimpl(trylast=True)
def tocsin_dedupe(runtime: Facade, alert: Alert, existing: Alert | None) -> Alert:
    return merge(existing, alert, runtime.clock.now())
