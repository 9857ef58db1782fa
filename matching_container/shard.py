"""The shard runner: journal in, engine, results out. One thread, one engine per symbol.

The command stream is the journal. On start the runner restores each engine
from its latest snapshot (if a store is wired), replays the journal after the
snapshot's last command (the engine is deterministic: commands carry their
own time and ids) and commits only what comes after the sink's checkpoint,
so a crash at any moment neither loses an accepted command nor publishes an
event twice. While running, the snapshot stage (snapshots.py) copies each
engine's state between batches and stores it off this thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from castle import errors
from castle.journal import (
    CommandEntry,
    CommandOutcome,
    CommandSource,
    ResultSink,
    ShardBatch,
    SnapshotStore,
    StoredSnapshot,
    stream_id,
)
from castle.codec import CodecError, command_from_dict, event_to_dict
from castle.matching import MatchingEngine
from castle.snapshot import restore
from castle.symbols import Symbol
from matching_container.collector import PacedCollector
from matching_container.snapshots import DEFAULT_POLICY, SnapshotPolicy, Snapshotter

log = logging.getLogger("castle.matching")


@dataclass(frozen=True, slots=True)
class Recovery:
    """How one symbol came back: from which snapshot, how much it replayed and published, how long it took."""

    snapshot_seq: int | None
    replayed: int
    published: int
    seq: int
    ms: float


class ShardRunner:
    def __init__(
        self,
        symbols: Iterable[Symbol],
        source: CommandSource,
        sink: ResultSink,
        snapshots: SnapshotStore | None = None,
        policy: SnapshotPolicy = DEFAULT_POLICY,
        collector: PacedCollector | None = None,
    ) -> None:
        self.symbols = {s.name: s for s in symbols}
        self.engines = {name: MatchingEngine(s) for name, s in self.symbols.items()}
        self.source = source
        self.sink = sink
        self.snapshots = snapshots
        self.snapshotter = Snapshotter(snapshots, source, sink, policy) if snapshots is not None else None
        self.recoveries: dict[str, Recovery] = {}
        self.collector = collector  # the process's cyclic GC, paced between batches (collector.py)
        self.tops: dict[str, tuple] = {}  # symbol -> the top of its book after the last command

    def recover(self) -> None:
        """Restore every book (snapshot + journal); publish what the last run did not."""
        for name in self.engines:
            t0 = time.perf_counter()
            checkpoint = self.sink.checkpoint(name)
            done = stream_id(checkpoint) if checkpoint else None
            snapshot = self._usable_snapshot(name, checkpoint)
            engine = restore(self.symbols[name], snapshot.state) if snapshot else MatchingEngine(self.symbols[name])
            self.engines[name] = engine
            pending: list[CommandOutcome] = []
            last_id = snapshot.last_command_id if snapshot else checkpoint
            replayed = 0
            for entry in self.source.replay(name, after=snapshot.last_command_id if snapshot else None):
                outcome = self.mark_top(name, engine, self.apply(engine, entry))
                last_id = entry.id
                replayed += 1
                if done is None or stream_id(entry.id) > done:
                    pending.append(outcome)  # the dedupe: what the checkpoint covers was published before
            engine.book.take_diff()  # the snapshot below replaces the mirror
            self.sink.commit(ShardBatch(name, pending, engine.seq, last_id, snapshot=engine.book.snapshot()))
            if last_id is not None:
                self.source.seek(name, last_id)
            if self.snapshotter is not None:
                self.snapshotter.loaded(name, snapshot, replayed, last_id)
                if replayed:  # a fresh snapshot now: the next crash replays none of this again
                    self.snapshotter.capture(engine)
            done_in = Recovery(snapshot.seq if snapshot else None, replayed, len(pending), engine.seq,
                               (time.perf_counter() - t0) * 1000)
            self.recoveries[name] = done_in
            log.info("recovered %s in %.0f ms: snapshot seq=%s, %d command(s) replayed, %d published, seq=%d",
                     name, done_in.ms, done_in.snapshot_seq, replayed, len(pending), engine.seq)

    def _usable_snapshot(self, name: str, checkpoint: str | None) -> StoredSnapshot | None:
        """The latest snapshot, unless it is ahead of the checkpoint (a journal that was reset)."""
        if self.snapshots is None:
            return None
        snapshot = self.snapshots.latest(name)
        if snapshot is None:
            return None
        if checkpoint is None or stream_id(snapshot.last_command_id) > stream_id(checkpoint):
            log.warning("ignoring %s's snapshot at %s: ahead of the checkpoint %s", name,
                        snapshot.last_command_id, checkpoint)
            return None
        return snapshot

    def step(self) -> int:
        """Process one read from the journal; returns how many commands it handled."""
        entries = self.source.read()
        by_symbol: dict[str, list[CommandEntry]] = {}
        for entry in entries:
            by_symbol.setdefault(entry.symbol, []).append(entry)
        for name, group in by_symbol.items():
            engine = self.engines[name]
            outcomes = [self.mark_top(name, engine, self.apply(engine, entry)) for entry in group]
            self.sink.commit(ShardBatch(name, outcomes, engine.seq, group[-1].id, diff=engine.book.take_diff()))
            if self.snapshotter is not None:
                self.snapshotter.applied(name, len(group), group[-1].id)
        if self.snapshotter is not None:
            self.snapshotter.maybe_capture(self.engines)  # between batches: after the commit, before the next read
        return len(entries)

    def run(self, stop: threading.Event) -> None:
        self.recover()
        collector = self.collector
        if collector is not None:
            collector.start()
        log.info("ready: %s", ", ".join(self.engines))
        try:
            while not stop.is_set():
                self.step()
                if collector is not None:
                    collector.maybe_collect()  # between batches, as the snapshot copy
        finally:
            if collector is not None:
                collector.stop()
        if self.snapshotter is not None:
            self.snapshotter.close()
        log.info("stopped")

    def mark_top(self, name: str, engine: MatchingEngine, outcome: CommandOutcome) -> CommandOutcome:
        """Give the outcome the book's top when this command changed it (price or visible quantity, either side)."""
        book = engine.book
        bid, ask = book.bids.best_level(), book.asks.best_level()
        top = (None if bid is None else (bid.price, bid.qty), None if ask is None else (ask.price, ask.qty))
        if top != self.tops.get(name) and outcome.events:
            self.tops[name] = outcome.top = top
        return outcome

    @staticmethod
    def apply(engine: MatchingEngine, entry: CommandEntry) -> CommandOutcome:
        """Decode and submit one command. Deterministic, so a replay gives the same outcome."""
        try:
            command = command_from_dict(json.loads(entry.payload))
        except (CodecError, ValueError) as e:
            log.error("malformed command %s on %s: %s", entry.id, entry.symbol, e)
            return CommandOutcome(entry.id, None, [], entry.reply_to, errors.unknown("Malformed command.").to_dict())
        try:
            events = engine.submit(command)
        except Exception:
            # A bug, not a rejection; the same command fails the same way on replay, so skip it, loudly.
            log.exception("engine failed on command %s (%s seq %d)", entry.id, entry.symbol, engine.seq)
            return CommandOutcome(entry.id, engine.seq, [], entry.reply_to, errors.unknown().to_dict())
        return CommandOutcome(entry.id, engine.seq, [event_to_dict(e) for e in events], entry.reply_to)
