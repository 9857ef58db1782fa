"""The USD-M futures shard: one journal (`castle:{UM}:cmd`) in, the futures engine, results out.

As the spot shard (shard.py): the journal is the truth, the engine is
deterministic, and a batch's events, replies, depth mirrors and checkpoint go
out in one MULTI. One journal holds every contract, so the engine sees an
account's orders on all of them in one order (cross margin), live and on
replay. Recovery loads the latest snapshot (castle.futures.snapshot, stored and
trimmed behind as spot's are, when SNAPSHOTS_BUCKET is set), replays the journal
after it, and publishes only what comes after the checkpoint.

`python -m matching_container.futures_market`: REDIS_URL is required.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from castle import errors
from castle.adapters.redis_keys import FUTURES_SHARD
from castle.codec import CodecError
from castle.futures.brackets import default_brackets
from castle.futures.codec import command_from_dict, event_to_dict
from castle.futures.contracts import default_contracts
from castle.futures.engine import FuturesEngine
from castle.futures.snapshot import restore, take_snapshot
from castle.journal import (
    BookUpdate,
    CommandEntry,
    CommandOutcome,
    CommandSource,
    ResultSink,
    ShardBatch,
    SnapshotStore,
    StoredSnapshot,
    stream_id,
)
from matching_container.snapshots import DEFAULT_POLICY, SnapshotPolicy, Snapshotter

log = logging.getLogger("castle.futures")


class FuturesMarketRunner:
    def __init__(self, engine: FuturesEngine, source: CommandSource, sink: ResultSink,
                 snapshots: SnapshotStore | None = None, policy: SnapshotPolicy = DEFAULT_POLICY) -> None:
        self.engine = engine
        self.source = source
        self.sink = sink
        self.snapshots = snapshots
        self.snapshotter = Snapshotter(snapshots, source, sink, policy) if snapshots is not None else None
        self.replayed = 0

    def _usable_snapshot(self, checkpoint: str | None) -> StoredSnapshot | None:
        """The latest snapshot, unless it is ahead of the checkpoint (a journal that was reset)."""
        snapshot = self.snapshots.latest(FUTURES_SHARD) if self.snapshots is not None else None
        if snapshot is None or checkpoint is None or stream_id(snapshot.last_command_id) > stream_id(checkpoint):
            return None
        return snapshot

    def recover(self) -> None:
        t0 = time.perf_counter()
        checkpoint = self.sink.checkpoint(FUTURES_SHARD)
        done = stream_id(checkpoint) if checkpoint else None
        snapshot = self._usable_snapshot(checkpoint)
        if snapshot is not None:
            self.engine = restore(self.engine.contracts, self.engine.brackets, snapshot.state)
        pending: list[CommandOutcome] = []
        last_id = snapshot.last_command_id if snapshot else checkpoint
        for entry in self.source.replay(FUTURES_SHARD, after=snapshot.last_command_id if snapshot else None):
            outcome = self.apply(entry)
            last_id = entry.id
            self.replayed += 1
            if done is None or stream_id(entry.id) > done:
                pending.append(outcome)
        for book in self.engine.books.values():
            book.book.take_diff()  # the snapshots below replace the mirrors
        books = tuple(BookUpdate(name, book.seq, snapshot=book.book.snapshot())
                      for name, book in sorted(self.engine.books.items()))
        self.sink.commit(ShardBatch(FUTURES_SHARD, pending, self.engine.seq, last_id, books=books))
        if last_id is not None:
            self.source.seek(FUTURES_SHARD, last_id)
        if self.snapshotter is not None:
            self.snapshotter.loaded(FUTURES_SHARD, snapshot, self.replayed, last_id)
            if self.replayed:
                self.snapshotter.capture(self.engine, FUTURES_SHARD, take_snapshot)
        log.info("recovered the futures market in %.0f ms: %d command(s) replayed, %d published, seq=%d",
                 (time.perf_counter() - t0) * 1000, self.replayed, len(pending), self.engine.seq)

    def step(self) -> int:
        entries = self.source.read()
        if not entries:
            return 0
        outcomes = [self.apply(entry) for entry in entries]
        books = tuple(BookUpdate(name, book.seq, diff=book.book.take_diff())
                      for name, book in sorted(self.engine.books.items()))
        self.sink.commit(ShardBatch(FUTURES_SHARD, outcomes, self.engine.seq, entries[-1].id, books=books))
        if self.snapshotter is not None:
            self.snapshotter.applied(FUTURES_SHARD, len(entries), entries[-1].id)
            if self.snapshotter.due(FUTURES_SHARD):
                self.snapshotter.capture(self.engine, FUTURES_SHARD, take_snapshot)
        return len(entries)

    def run(self, stop: threading.Event) -> None:
        self.recover()
        log.info("ready: the futures market (%s)", ", ".join(sorted(self.engine.books)))
        while not stop.is_set():
            self.step()
        if self.snapshotter is not None:
            self.snapshotter.close()
        log.info("stopped")

    def apply(self, entry: CommandEntry) -> CommandOutcome:
        try:
            command = command_from_dict(json.loads(entry.payload))
        except (CodecError, ValueError) as e:
            log.error("malformed futures command %s: %s", entry.id, e)
            return CommandOutcome(entry.id, None, [], entry.reply_to, errors.unknown("Malformed command.").to_dict())
        try:
            events = self.engine.submit(command)
        except Exception:
            log.exception("futures engine failed on command %s (seq %d)", entry.id, self.engine.seq)
            return CommandOutcome(entry.id, self.engine.seq, [], entry.reply_to, errors.unknown().to_dict())
        return CommandOutcome(entry.id, self.engine.seq, [event_to_dict(e) for e in events], entry.reply_to)


def new_engine() -> FuturesEngine:
    return FuturesEngine(default_contracts(), default_brackets())


def bootstrap(settings, client=None, snapshots=None) -> FuturesMarketRunner:
    from castle.adapters.redis_streams import RedisBookMirror, RedisCommandStream, RedisEventLog, connect

    client = client or connect(settings.redis_url)
    source = RedisCommandStream(client, [FUTURES_SHARD], block_ms=settings.block_ms, count=settings.batch_size)
    sink = RedisEventLog(client, RedisBookMirror(client), reply_ttl_s=settings.reply_ttl_s)
    if snapshots is None and settings.snapshots_enabled:
        from matching_container.engine import s3_snapshots

        snapshots = s3_snapshots(settings)
    policy = SnapshotPolicy(settings.snapshot_every_commands, settings.snapshot_every_s, keep=settings.snapshot_keep)
    return FuturesMarketRunner(new_engine(), source, sink, snapshots, policy)


def run(settings, stop) -> None:
    bootstrap(settings).run(stop)


def main() -> int:
    from matching_container.process import run_process

    return run_process("futures", run)


if __name__ == "__main__":
    raise SystemExit(main())
