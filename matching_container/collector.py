"""The cyclic garbage collector of the matching process: paced between batches, never inside a command.

The engine makes no reference cycles (orders, levels, commands and events are
freed by reference counting; tests/unit/test_engine_gc.py checks it over every
command type), so CPython's automatic collector only costs the matching
thread: a generation-0 pass every 700 container allocations lands inside a
command a few hundred times a second, and the full passes, whose time grows
with the number of live objects, scan the whole book (hundreds of ms at a
million resting orders).

So after recovery the process collects once, freezes what survives (the
recovered book is never scanned again: `gc.freeze`) and turns automatic
collection off. Other code in the process can make cycles (boto3 in the
snapshot thread, exception tracebacks), so every `every_s` the runner collects
between two batches and freezes again: each pass scans only what was allocated
since the last one. Frozen objects are still freed by reference counting; only
a cycle that runs through a frozen object would never be collected.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("castle.gc")


@dataclass(slots=True)
class CollectorStats:
    passes: int = 0
    found: int = 0  # unreachable objects the paced passes freed (cycles someone made)
    last_pause_ms: float = 0.0
    max_pause_ms: float = 0.0


class PacedCollector:
    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self.stats = CollectorStats()
        self._last = clock()

    def start(self) -> None:
        """Collect, freeze what survives and switch automatic collection off (after recovery)."""
        gc.collect()
        gc.freeze()
        gc.disable()
        self._last = self.clock()

    def maybe_collect(self) -> None:
        """Between two batches: one paced pass when `every_s` has gone by."""
        if self.clock() - self._last >= self.every_s:
            self.collect()

    def collect(self) -> int:
        t0 = time.perf_counter()
        found = gc.collect()
        gc.freeze()
        pause_ms = (time.perf_counter() - t0) * 1000
        stats = self.stats
        stats.passes += 1
        stats.found += found
        stats.last_pause_ms = pause_ms
        stats.max_pause_ms = max(stats.max_pause_ms, pause_ms)
        self._last = self.clock()
        (log.warning if found else log.debug)("gc pass: %d unreachable object(s) freed in %.1f ms", found, pause_ms)
        return found

    def stop(self) -> None:
        """Hand the objects back to the collector and switch it on again."""
        gc.unfreeze()
        gc.enable()
