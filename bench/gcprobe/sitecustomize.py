"""Measurement only (bench/storm.py's ``--gc-log``): each collection of Python's cyclic
collector that takes more than 4 ms is written to the daemon's standard error (its log
in the benchmark), with its generation, its duration and what it freed."""

import os

if os.environ.get("TOCSIN_BENCH_GCPROBE") == "1":
    import gc
    import sys
    import time

    _started = [0.0]

    def _timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            _started[0] = time.perf_counter()
            return
        took = time.perf_counter() - _started[0]
        if took > 0.004:
            sys.stderr.write(f"gc-probe: {time.monotonic():.3f} generation {info['generation']} "
                             f"{took * 1000:.1f} ms, {info['collected']} freed\n")

    gc.callbacks.append(_timed)
