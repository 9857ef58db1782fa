"""One consumer of a Redis consumer group: at-least-once reading of the engine's output, written once.

Every reader of a shard's stream (settlement, the market-data projector, the
publisher; risk, mark price and funding to come) does the same things, and
this does them the one way:

- **groups**: XGROUP CREATE with MKSTREAM, per stream from where it starts
  (`0`: the stream's history, a projection rebuilt from it; `$`: from now), and
  a group that already exists (BUSYGROUP) is fine: every start creates them;
- **pending first**: on start, `reclaim` takes over every entry of the group
  still pending (a consumer that died, kill -9 included), and `read(pending=True)`
  re-reads this consumer's pending entries, oldest first, before new ones;
- **retries**: `failed` counts the attempts at one entry (a hash per shard and
  group); after `max_attempts` it copies the entry to the group's dead-letter
  stream and tells the caller to acknowledge it, so one poison entry never
  stops a shard;
- **ack with the outputs**: `commit` (or `ack` on the caller's pipeline) puts
  the XACK in the caller's MULTI with what the entries produced. The keys
  share the shard's hash tag, so it is one slot: the outputs and the ack land
  together, or neither does and the entries come again.

Keys: castle.adapters.redis_keys (`attempts_key`, `dead_letter_key`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import redis

from castle.adapters.redis_keys import attempts_key, dead_letter_key, shard_of

Fields = dict | None  # None: the entry was trimmed from the stream while it was pending
MAX_ATTEMPTS = 5


@dataclass(slots=True)
class Batch:
    """One stream's entries from one read, oldest first."""

    stream: str
    entries: list[tuple[str, Fields]]

    @property
    def shard(self) -> str:
        return shard_of(self.stream)

    @property
    def ids(self) -> list[str]:
        return [entry_id for entry_id, _ in self.entries]


class Attempts(NamedTuple):
    count: int  # failed attempts at the entry so far, this one included
    dead: bool  # given up: copied to the dead-letter stream; acknowledge it


class RedisConsumer:
    """`consumer` of `group` over `streams` (stream key -> where the group starts: "0" or "$")."""

    def __init__(self, client: redis.Redis, group: str, consumer: str, streams: Mapping[str, str] | Iterable[str],
                 count: int = 1000, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.client = client
        self.group = group
        self.consumer = consumer
        self.starts = dict(streams) if isinstance(streams, Mapping) else dict.fromkeys(streams, "0")
        self.count = count
        self.max_attempts = max_attempts

    @property
    def streams(self) -> list[str]:
        return list(self.starts)

    def create_groups(self) -> None:
        for stream, start in self.starts.items():
            try:
                self.client.xgroup_create(stream, self.group, id=start, mkstream=True)
            except redis.ResponseError as e:
                if "BUSYGROUP" not in str(e):
                    raise

    def reclaim(self) -> None:
        """Take over every pending entry of the group (whichever consumer read it), to read it again."""
        for stream in self.starts:
            start = "0-0"
            while True:
                start, claimed, *_ = self.client.xautoclaim(stream, self.group, self.consumer, 0, start,
                                                            count=self.count)
                if start in ("0-0", b"0-0") or not claimed:
                    break

    def read(self, pending: bool = False, block_ms: int | None = None) -> list[Batch]:
        """This consumer's pending entries (`pending`), or new ones, waiting up to `block_ms` (None: not at all)."""
        position = "0" if pending else ">"
        reply = self.client.xreadgroup(self.group, self.consumer, dict.fromkeys(self.starts, position),
                                       count=self.count, block=None if pending else block_ms)
        return [Batch(stream, entries) for stream, entries in reply or () if entries]

    def ack(self, pipe, stream: str, ids: list[str]) -> None:
        """Queue the XACK on the caller's pipeline (its MULTI, with the outputs)."""
        if ids:
            pipe.xack(stream, self.group, *ids)

    def commit(self, stream: str, ids: list[str], stage: Callable[[object], None] | None = None) -> None:
        """One MULTI: what `stage` queues (the entries' outputs), then their XACK."""
        pipe = self.client.pipeline(transaction=True)
        if stage is not None:
            stage(pipe)
        self.ack(pipe, stream, ids)
        pipe.execute()

    def failed(self, stream: str, entry_id: str, fields: Fields) -> Attempts:
        """Count a failed attempt at an entry; after `max_attempts`, dead-letter it (then the caller acks it)."""
        shard = shard_of(stream)
        count = int(self.client.hincrby(attempts_key(shard, self.group), entry_id, 1))
        if count < self.max_attempts:
            return Attempts(count, False)
        self.client.xadd(dead_letter_key(shard, self.group), {"entry_id": entry_id, **(fields or {})})
        return Attempts(count, True)
