"""The shard runner: journal in, engine, results out. One thread, one engine per symbol.

The command stream is the journal. On start the runner replays it through
fresh engines (the engine is deterministic: commands carry their own time and
ids) and commits only what comes after the sink's checkpoint, so a crash at
any moment neither loses an accepted command nor publishes an event twice.
(Snapshots will shorten the replay; the contract stays the same.)
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable

from castle import errors
from castle.adapters.ports import CommandEntry, CommandOutcome, CommandSource, ResultSink, ShardBatch, stream_id
from castle.codec import CodecError, command_from_dict, event_to_dict
from castle.matching import MatchingEngine
from castle.symbols import Symbol

log = logging.getLogger("castle.matching")


class ShardRunner:
    def __init__(self, symbols: Iterable[Symbol], source: CommandSource, sink: ResultSink) -> None:
        self.engines = {s.name: MatchingEngine(s) for s in symbols}
        self.source = source
        self.sink = sink

    def recover(self) -> None:
        """Rebuild every book from its journal; publish what the last run did not."""
        for name, engine in self.engines.items():
            checkpoint = self.sink.checkpoint(name)
            done = stream_id(checkpoint) if checkpoint else None
            pending: list[CommandOutcome] = []
            last_id = checkpoint
            for entry in self.source.replay(name):
                outcome = self.apply(engine, entry)
                last_id = entry.id
                if done is None or stream_id(entry.id) > done:
                    pending.append(outcome)
            engine.book.take_diff()  # the snapshot below replaces the mirror
            self.sink.commit(ShardBatch(name, pending, engine.seq, last_id, snapshot=engine.book.snapshot()))
            if last_id is not None:
                self.source.seek(name, last_id)
            log.info("recovered %s: seq=%d, %d command(s) published on recovery", name, engine.seq, len(pending))

    def step(self) -> int:
        """Process one read from the journal; returns how many commands it handled."""
        entries = self.source.read()
        by_symbol: dict[str, list[CommandEntry]] = {}
        for entry in entries:
            by_symbol.setdefault(entry.symbol, []).append(entry)
        for name, group in by_symbol.items():
            engine = self.engines[name]
            outcomes = [self.apply(engine, entry) for entry in group]
            self.sink.commit(ShardBatch(name, outcomes, engine.seq, group[-1].id, diff=engine.book.take_diff()))
        return len(entries)

    def run(self, stop: threading.Event) -> None:
        self.recover()
        log.info("ready: %s", ", ".join(self.engines))
        while not stop.is_set():
            self.step()
        log.info("stopped")

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
