"""Measurement only (bench/storm.py's ``--ungated``): tocsin with its ingest gate
(``tocsin.dispatch.backpressure``) never closing, so that a storm's alerts are all taken
at once, whatever the loop owes: the bound of what the gate can trade for on-time
notifications."""

import os

if os.environ.get("TOCSIN_BENCH_UNGATED") == "1":
    from tocsin.dispatch import backpressure as _backpressure

    def _look(self: _backpressure.Backpressure) -> None:
        return None  # the gate stays open

    _backpressure.Backpressure._look = _look  # type: ignore[method-assign]
