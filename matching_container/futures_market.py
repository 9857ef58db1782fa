"""The USD-M futures shard: one journal (`castle:{UM}:cmd`) in, the futures engine, results out.

As the spot shard (shard.py): the journal is the truth, the engine is
deterministic, and a batch's events, replies, depth mirrors and checkpoint go
out in one MULTI. One journal holds every contract, so the engine sees an
account's orders on all of them in one order (cross margin), live and on
replay. Recovery replays the journal from its start (futures snapshots are
not built yet; the futures journal is therefore never trimmed), and publishes
only what comes after the checkpoint.

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
from castle.journal import BookUpdate, CommandEntry, CommandOutcome, CommandSource, ResultSink, ShardBatch, stream_id

log = logging.getLogger("castle.futures")


class FuturesMarketRunner:
    def __init__(self, engine: FuturesEngine, source: CommandSource, sink: ResultSink) -> None:
        self.engine = engine
        self.source = source
        self.sink = sink
        self.replayed = 0

    def recover(self) -> None:
        t0 = time.perf_counter()
        checkpoint = self.sink.checkpoint(FUTURES_SHARD)
        done = stream_id(checkpoint) if checkpoint else None
        pending: list[CommandOutcome] = []
        last_id = checkpoint
        for entry in self.source.replay(FUTURES_SHARD):
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
        return len(entries)

    def run(self, stop: threading.Event) -> None:
        self.recover()
        log.info("ready: the futures market (%s)", ", ".join(sorted(self.engine.books)))
        while not stop.is_set():
            self.step()
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


def bootstrap(settings, client=None) -> FuturesMarketRunner:
    from castle.adapters.redis_streams import RedisBookMirror, RedisCommandStream, RedisEventLog, connect

    client = client or connect(settings.redis_url)
    source = RedisCommandStream(client, [FUTURES_SHARD], block_ms=settings.block_ms, count=settings.batch_size)
    sink = RedisEventLog(client, RedisBookMirror(client), reply_ttl_s=settings.reply_ttl_s)
    return FuturesMarketRunner(new_engine(), source, sink)


def run(settings, stop) -> None:
    bootstrap(settings).run(stop)


def main() -> int:
    from matching_container.process import run_process

    return run_process("futures", run)


if __name__ == "__main__":
    raise SystemExit(main())
