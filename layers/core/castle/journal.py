"""The ports of the order path between the gateway and the matching engine.

The matching engine's runner reads `CommandEntry`s from a `CommandSource` (the
journal: one ordered stream per symbol) and hands each batch's results to a
`ResultSink`, which must store them atomically: events, replies, the depth
mirror and the checkpoint together, so that a restart replays the journal and
publishes exactly what was not yet published. Redis implements both
(`castle.adapters.redis_streams`); tests use in-memory fakes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from castle.book import DepthDiff, DepthSnapshot


@dataclass(frozen=True, slots=True)
class CommandEntry:
    """One journal entry: a command as the gateway wrote it, not yet decoded."""

    symbol: str
    id: str  # the stream entry id ("<ms>-<n>"): the command's place in the journal
    payload: str  # JSON of castle.codec.command_to_dict
    reply_to: str | None = None  # a list key the gateway waits on (BLPOP)


@dataclass(slots=True)
class CommandOutcome:
    """What one command did: the engine's events, or an error if it never reached the engine."""

    command_id: str
    seq: int | None
    events: list[dict] = field(default_factory=list)
    reply_to: str | None = None
    error: dict | None = None  # {"code", "msg"}, Binance's shape
    # The best bid and ask (price, visible qty; None for an empty side) after this command, when it changed them:
    # Binance's bookTicker pushes every change of the top, so it is taken per command, not per batch.
    top: tuple[tuple[int, int] | None, tuple[int, int] | None] | None = None

    def reply(self) -> dict:
        if self.error is not None:
            return {"command_id": self.command_id, "error": self.error}
        return {"command_id": self.command_id, "seq": self.seq, "events": self.events}


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """One book of a shard that holds several (the futures market: one per contract), for its mirror."""

    book: str
    update_id: int  # the book's lastUpdateId
    diff: DepthDiff | None = None
    snapshot: DepthSnapshot | None = None


@dataclass(slots=True)
class ShardBatch:
    """One symbol's results from one read, committed as a unit."""

    symbol: str
    outcomes: list[CommandOutcome]
    seq: int  # the engine's sequence number after the batch (= the book's lastUpdateId)
    last_command_id: str | None  # the checkpoint: every entry up to here is done
    diff: DepthDiff | None = None  # levels changed by this batch
    snapshot: DepthSnapshot | None = None  # the whole book: replaces the mirror (after recovery)
    books: tuple[BookUpdate, ...] = ()  # a multi-book shard's books; then `diff`/`snapshot` stay None


class CommandSource(Protocol):
    def read(self) -> list[CommandEntry]:
        """The next entries, in journal order per symbol; waits briefly, may return []."""
        ...

    def replay(self, symbol: str, after: str | None = None) -> Iterator[CommandEntry]:
        """One symbol's journal after `after` (exclusive; None: from the start), oldest first.

        Raises JournalTrimmed if entries after `after` were trimmed away.
        """
        ...

    def trim(self, symbol: str, keep_from: str) -> None:
        """Drop the entries before `keep_from`: no recovery will replay them again."""
        ...

    def seek(self, symbol: str, after_id: str) -> None:
        """Continue reading `symbol` after `after_id`."""
        ...


class JournalTrimmed(RuntimeError):
    """A replay needs entries that were trimmed: recover from a newer snapshot, or stop."""


class ResultSink(Protocol):
    def checkpoint(self, symbol: str) -> str | None:
        """The id of the last command whose results were committed, if any."""
        ...

    def commit(self, batch: ShardBatch) -> None:
        """Store the events, replies, depth and checkpoint of a batch, all or nothing."""
        ...


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    """An engine snapshot (castle.snapshot's data) and the journal entry it covers, inclusive."""

    symbol: str
    seq: int
    last_command_id: str
    state: dict


class SnapshotStore(Protocol):
    def save(self, snapshot: StoredSnapshot) -> None:
        """Store a snapshot durably and make it the symbol's latest."""
        ...

    def latest(self, symbol: str) -> StoredSnapshot | None:
        """The newest snapshot of `symbol` that can be read back, if any."""
        ...


def stream_id(entry_id: str) -> tuple[int, int]:
    """A stream entry id as a comparable pair ("1700000000000-3" -> (1700000000000, 3))."""
    ms, _, n = entry_id.partition("-")
    return int(ms), int(n or 0)
