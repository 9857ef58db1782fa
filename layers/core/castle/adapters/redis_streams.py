"""Redis adapters for the order path: the command journal, the event log, the depth mirror.

Keys (spelled in castle.adapters.redis_keys), one family per symbol, all with
the symbol as a hash tag so that one MULTI can touch them together on Redis
Cluster (ElastiCache cluster mode):

    castle:{BTCUSDT}:cmd            stream  commands (the journal), field `cmd` (+ `reply_to`)
    castle:{BTCUSDT}:cmd:trimmed    string  the journal was trimmed before this entry id
    castle:{BTCUSDT}:events         stream  engine events: `seq`, `command_id`, `type`, `event` (JSON),
                                            and `top` ([bid, ask], JSON) on a command's last event when it
                                            changed the best bid or ask
    castle:{BTCUSDT}:engine         hash    checkpoint: `last_command_id`, `seq`
    castle:{BTCUSDT}:depth:bids     zset    member "<ticks>:<lots>", score ticks
    castle:{BTCUSDT}:depth:asks     zset    (same)
    castle:{BTCUSDT}:depth:lastUpdateId     string
    castle:{BTCUSDT}:reply:<id>     list    one reply per request, for a BLPOP; expires

Prices and quantities stay in the engine's integer ticks and lots; the edge
formats them with the `Symbol`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import redis

from castle.journal import CommandEntry, JournalTrimmed, ShardBatch, stream_id
from castle.adapters.redis_keys import (
    checkpoint_key,
    command_key,
    depth_keys,
    events_key,
    order_id_key,
    reply_key,
    trimmed_key,
)
from castle.book import DepthDiff, DepthSnapshot

COMPACT = (",", ":")


def connect(url: str) -> redis.Redis:
    """A client for these adapters (they expect str replies)."""
    return redis.Redis.from_url(url, decode_responses=True)


class RedisCommandStream:
    """The command journal: one stream per symbol, read with one XREAD BLOCK over all of them."""

    def __init__(self, client: redis.Redis, symbols: Iterable[str] = (), block_ms: int = 1000, count: int = 1000):
        self.client = client
        self.block_ms = block_ms
        self.count = count
        self._cursor = {command_key(s): "0-0" for s in symbols}
        self._symbol_of = {command_key(s): s for s in symbols}

    # -- the engine's side
    def read(self) -> list[CommandEntry]:
        if not self._cursor:
            return []
        reply = self.client.xread(self._cursor, count=self.count, block=self.block_ms)
        out: list[CommandEntry] = []
        for key, entries in reply or ():
            symbol = self._symbol_of[key]
            out.extend(_entry(symbol, entry_id, fields) for entry_id, fields in entries)
            if entries:
                self._cursor[key] = entries[-1][0]
        return out

    def replay(self, symbol: str, after: str | None = None) -> Iterator[CommandEntry]:
        trimmed = self.client.get(trimmed_key(symbol))
        if trimmed and (after is None or stream_id(after) < stream_id(trimmed)):
            raise JournalTrimmed(f"{symbol}: the journal before {trimmed} is gone; replaying after {after} needs it")
        key, start = command_key(symbol), "-" if after is None else "(" + after
        while True:
            entries = self.client.xrange(key, min=start, max="+", count=self.count)
            for entry_id, fields in entries:
                yield _entry(symbol, entry_id, fields)
            if len(entries) < self.count:
                return
            start = "(" + entries[-1][0]

    def seek(self, symbol: str, after_id: str) -> None:
        self._cursor[command_key(symbol)] = after_id

    def trim(self, symbol: str, keep_from: str) -> None:
        """XTRIM MINID (exact), and the mark that lets a later replay know what is gone, in one MULTI."""
        pipe = self.client.pipeline(transaction=True)
        pipe.xtrim(command_key(symbol), minid=keep_from, approximate=False)
        pipe.set(trimmed_key(symbol), keep_from)
        pipe.execute()

    # -- the gateway's side
    def send(self, symbol: str, command: dict, reply_to: str | None = None) -> str:
        """Append a command (castle.codec's dict) to the journal; returns its entry id."""
        fields = {"cmd": json.dumps(command, separators=COMPACT)}
        if reply_to is not None:
            fields["reply_to"] = reply_to
        return self.client.xadd(command_key(symbol), fields)

    def call(self, symbol: str, command: dict, timeout_s: float = 5.0) -> dict | None:
        """Send a command and wait for the engine's reply; None when it did not come in time."""
        key = reply_key(symbol)
        self.send(symbol, command, reply_to=key)
        popped = self.client.blpop([key], timeout=timeout_s)
        return None if popped is None else json.loads(popped[1])


def _entry(symbol: str, entry_id: str, fields: dict) -> CommandEntry:
    return CommandEntry(symbol, entry_id, fields.get("cmd", ""), fields.get("reply_to"))


class RedisBookMirror:
    """The engine's depth, copied to Redis after each batch, for sub-millisecond /depth reads."""

    def __init__(self, client: redis.Redis):
        self.client = client

    def stage(
        self,
        pipe,
        symbol: str,
        last_update_id: int,
        diff: DepthDiff | None = None,
        snapshot: DepthSnapshot | None = None,
        book: str | None = None,
    ) -> None:
        """Queue the mirror's update on `pipe` (the caller's MULTI); `book` names one of a shard's books."""
        bids, asks, last = depth_keys(symbol, book)
        if snapshot is not None:
            pipe.delete(bids, asks)
            for key, levels in ((bids, snapshot.bids), (asks, snapshot.asks)):
                if levels:
                    pipe.zadd(key, {f"{p}:{q}": p for p, q in levels})
        if diff is not None:
            for key, levels in ((bids, diff.bids), (asks, diff.asks)):
                for price, qty in levels:
                    pipe.zremrangebyscore(key, price, price)
                    if qty:
                        pipe.zadd(key, {f"{price}:{qty}": price})
        pipe.set(last, last_update_id)

    def depth(self, symbol: str, limit: int = 100, book: str | None = None) -> DepthSnapshot:
        """Best `limit` levels per side and their lastUpdateId, read in one MULTI (consistent)."""
        bids, asks, last = depth_keys(symbol, book)
        pipe = self.client.pipeline(transaction=True)
        pipe.get(last)
        pipe.zrevrange(bids, 0, limit - 1)
        pipe.zrange(asks, 0, limit - 1)
        last_id, bid_members, ask_members = pipe.execute()
        return DepthSnapshot(int(last_id or 0), _levels(bid_members), _levels(ask_members))


def _levels(members: list[str]) -> list[tuple[int, int]]:
    out = []
    for member in members:
        price, _, qty = member.partition(":")
        out.append((int(price), int(qty)))
    return out


class RedisEventLog:
    """The engine's output: events stream, replies, depth mirror and checkpoint, in one MULTI per batch."""

    def __init__(self, client: redis.Redis, mirror: RedisBookMirror | None = None, reply_ttl_s: int = 60):
        self.client = client
        self.mirror = mirror or RedisBookMirror(client)
        self.reply_ttl_s = reply_ttl_s

    def checkpoint(self, symbol: str) -> str | None:
        return self.client.hget(checkpoint_key(symbol), "last_command_id")

    def commit(self, batch: ShardBatch) -> None:
        symbol = batch.symbol
        pipe = self.client.pipeline(transaction=True)
        stream = events_key(symbol)
        for outcome in batch.outcomes:
            last = len(outcome.events) - 1
            for i, event in enumerate(outcome.events):
                fields = {
                    "seq": outcome.seq,
                    "command_id": outcome.command_id,
                    "type": event["type"],
                    "event": json.dumps(event, separators=COMPACT),
                }
                if i == last and outcome.top is not None:
                    fields["top"] = json.dumps(outcome.top, separators=COMPACT)  # the command's new book top
                pipe.xadd(stream, fields)
            if outcome.reply_to:
                pipe.lpush(outcome.reply_to, json.dumps(outcome.reply(), separators=COMPACT))
                pipe.expire(outcome.reply_to, self.reply_ttl_s)
        if batch.books:
            for update in batch.books:
                self.mirror.stage(pipe, symbol, update.update_id, update.diff, update.snapshot, book=update.book)
        else:
            self.mirror.stage(pipe, symbol, batch.seq, diff=batch.diff, snapshot=batch.snapshot)
        if batch.last_command_id is not None:
            pipe.hset(checkpoint_key(symbol), mapping={"last_command_id": batch.last_command_id, "seq": batch.seq})
        pipe.execute()

    def read(self, symbol: str, after: str = "-", count: int = 1000) -> list[tuple[str, dict]]:
        """Events after an entry id (exclusive; "-" for all), as (entry id, event dict)."""
        start = after if after == "-" else "(" + after
        return [
            (entry_id, json.loads(fields["event"]))
            for entry_id, fields in self.client.xrange(events_key(symbol), min=start, max="+", count=count)
        ]


class RedisEngine:
    """The gateway's view of the matching engine: order ids, the mirrored book, and request/reply.

    Order ids come from one counter per symbol in the same Redis as the
    journal: whatever keeps the journal keeps the ids.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.commands = RedisCommandStream(client)
        self.mirror = RedisBookMirror(client)
        self.client = client

    def next_order_id(self, symbol: str) -> int:
        return int(self.client.incr(order_id_key(symbol)))

    def depth(self, symbol: str, limit: int) -> DepthSnapshot:
        return self.mirror.depth(symbol, limit)

    def call(self, symbol: str, command: dict, timeout_s: float) -> dict | None:
        return self.commands.call(symbol, command, timeout_s)
