"""The snapshot stage of the shard runner: when to snapshot, and storing it off the matching thread.

The matching thread only copies the engine's state (castle.snapshot's data
is a fresh, consistent copy of plain values). A background thread encodes,
encrypts and uploads it, then trims the journal behind the oldest snapshot
still kept, never past the sink's checkpoint. At most one upload per symbol
is in flight: a snapshot that comes due meanwhile waits for the next batch.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from castle.journal import CommandSource, ResultSink, SnapshotStore, StoredSnapshot, stream_id
from castle.matching import MatchingEngine
from castle.snapshot import take_snapshot

log = logging.getLogger("castle.snapshots")


@dataclass(frozen=True, slots=True)
class SnapshotPolicy:
    every_commands: int = 10_000  # commands since the last snapshot
    every_s: float = 60.0  # ... or this long, if anything happened at all
    refresh_s: float = 86_400.0  # an idle book is still snapshotted once a day (the bucket expires old ones)
    keep: int = 2  # snapshots whose journal is kept: recovery can fall back to the older one


DEFAULT_POLICY = SnapshotPolicy()


@dataclass(slots=True)
class SymbolState:
    commands: int = 0  # since the last snapshot
    last_at: float = 0.0
    last_command_id: str | None = None
    saved: deque = field(default_factory=deque)  # StoredSnapshot heads (no state), oldest first


@dataclass(slots=True)
class SnapshotStats:
    taken: int = 0
    saved: int = 0
    failed: int = 0
    last_pause_ms: float = 0.0  # the matching thread's copy
    max_pause_ms: float = 0.0
    last_upload_ms: float = 0.0  # encode + encrypt + upload, off the matching thread


class Snapshotter:
    def __init__(
        self,
        store: SnapshotStore,
        source: CommandSource,
        sink: ResultSink,
        policy: SnapshotPolicy = DEFAULT_POLICY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.source = source
        self.sink = sink
        self.policy = policy
        self.clock = clock
        self.stats = SnapshotStats()
        self._symbols: dict[str, SymbolState] = {}
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._jobs: queue.Queue[StoredSnapshot | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    # -- the matching thread
    def loaded(self, symbol: str, snapshot: StoredSnapshot | None, replayed: int, last_command_id: str | None) -> None:
        """After recovery: what the engine started from, and how much it replayed on top."""
        state = self._symbols.setdefault(symbol, SymbolState())
        state.commands, state.last_at, state.last_command_id = replayed, self.clock(), last_command_id
        if snapshot is not None:
            state.saved.append(_head(snapshot))

    def applied(self, symbol: str, commands: int, last_command_id: str) -> None:
        state = self._symbols.setdefault(symbol, SymbolState(last_at=self.clock()))
        state.commands += commands
        state.last_command_id = last_command_id

    def due(self, symbol: str) -> bool:
        state = self._symbols.get(symbol)
        if state is None or state.last_command_id is None or symbol in self._busy:
            return False
        age = self.clock() - state.last_at
        p = self.policy
        return state.commands >= p.every_commands or (state.commands > 0 and age >= p.every_s) or age >= p.refresh_s

    def capture(self, engine: MatchingEngine, symbol: str | None = None,
                take: Callable[[object], dict] = take_snapshot) -> None:
        """Copy the engine's state now (the pause), store it in the background.

        `symbol` and `take` name a shard and its snapshot function when the engine is not one
        symbol's book (the futures market: castle.futures.snapshot).
        """
        symbol = symbol or engine.symbol.name
        state = self._symbols[symbol]
        # The copy allocates one list per resting order; the cyclic GC waits (halves the pause at 100k orders).
        gc_was_on = gc.isenabled()
        gc.disable()
        t0 = time.perf_counter()
        try:
            snapshot = StoredSnapshot(symbol, engine.seq, state.last_command_id, take(engine))
        finally:
            if gc_was_on:
                gc.enable()
        pause_ms = (time.perf_counter() - t0) * 1000
        self.stats.taken += 1
        self.stats.last_pause_ms = pause_ms
        self.stats.max_pause_ms = max(self.stats.max_pause_ms, pause_ms)
        state.commands, state.last_at = 0, self.clock()
        with self._lock:
            self._busy.add(symbol)
        self._ensure_thread()
        self._jobs.put(snapshot)

    def maybe_capture(self, engines: dict[str, MatchingEngine]) -> None:
        for symbol, engine in engines.items():
            if self.due(symbol):
                self.capture(engine)

    def close(self, timeout_s: float = 10.0) -> None:
        """Let the uploads in flight finish (a clean stop), then stop the thread."""
        if self._thread is None:
            return
        self._jobs.put(None)
        self._thread.join(timeout_s)

    # -- the background thread
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="snapshots", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while (snapshot := self._jobs.get()) is not None:
            try:
                self._store(snapshot)
            except Exception:
                self.stats.failed += 1
                log.exception("snapshot of %s at seq %d failed; the next one retries", snapshot.symbol, snapshot.seq)
            finally:
                with self._lock:
                    self._busy.discard(snapshot.symbol)

    def _store(self, snapshot: StoredSnapshot) -> None:
        t0 = time.perf_counter()
        self.store.save(snapshot)
        self.stats.last_upload_ms = (time.perf_counter() - t0) * 1000
        self.stats.saved += 1
        saved = self._symbols[snapshot.symbol].saved
        saved.append(_head(snapshot))
        while len(saved) > self.policy.keep:
            saved.popleft()
        trimmed = self._trim(snapshot.symbol, saved[0].last_command_id) if len(saved) == self.policy.keep else None
        log.info(
            "snapshot %s seq=%d saved: pause %.2f ms, upload %.0f ms, journal kept from %s",
            snapshot.symbol, snapshot.seq, self.stats.last_pause_ms, self.stats.last_upload_ms, trimmed or "the start",
        )

    def _trim(self, symbol: str, keep_from: str) -> str | None:
        checkpoint = self.sink.checkpoint(symbol)
        if checkpoint is None:
            return None
        if stream_id(checkpoint) < stream_id(keep_from):
            keep_from = checkpoint  # never past what was published (cannot happen: snapshots follow commits)
        self.source.trim(symbol, keep_from)
        return keep_from


def _head(snapshot: StoredSnapshot) -> StoredSnapshot:
    return StoredSnapshot(snapshot.symbol, snapshot.seq, snapshot.last_command_id, {})
