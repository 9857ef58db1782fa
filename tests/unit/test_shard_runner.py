"""The shard runner with in-memory ports: ordering, batching, recovery from snapshots and the journal."""

from __future__ import annotations

import json

import pytest

from castle.journal import CommandEntry, JournalTrimmed, ShardBatch, StoredSnapshot, stream_id
from castle.codec import command_to_dict
from castle.orders import PlaceOrder, Side
from castle.symbols import default_symbols
from matching_container.shard import ShardRunner
from matching_container.snapshots import DEFAULT_POLICY, SnapshotPolicy


class InMemoryJournal:
    """A CommandSource: per-symbol lists of entries with increasing ids."""

    def __init__(self) -> None:
        self.entries: list[CommandEntry] = []
        self.cursor: dict[str, str] = {}
        self.n = 0
        self.trimmed: dict[str, str] = {}

    def send(self, symbol: str, command, reply_to: str | None = None) -> str:
        self.n += 1
        entry = CommandEntry(symbol, f"{self.n}-0", json.dumps(command_to_dict(command)), reply_to)
        self.entries.append(entry)
        return entry.id

    def read(self) -> list[CommandEntry]:
        out = [e for e in self.entries if stream_id(e.id) > stream_id(self.cursor.get(e.symbol, "0-0"))]
        for e in out:
            self.cursor[e.symbol] = e.id
        return out


    def replay(self, symbol: str, after: str | None = None):
        trimmed = self.trimmed.get(symbol)
        if trimmed and (after is None or stream_id(after) < stream_id(trimmed)):
            raise JournalTrimmed(symbol)
        start = stream_id(after) if after else (0, 0)
        return iter([e for e in self.entries if e.symbol == symbol and stream_id(e.id) > start])

    def seek(self, symbol: str, after_id: str) -> None:
        self.cursor[symbol] = after_id

    def trim(self, symbol: str, keep_from: str) -> None:
        self.trimmed[symbol] = keep_from
        self.entries = [e for e in self.entries if e.symbol != symbol or stream_id(e.id) >= stream_id(keep_from)]


class InMemorySink:
    def __init__(self) -> None:
        self.batches: list[ShardBatch] = []

    def checkpoint(self, symbol: str) -> str | None:
        done = [b.last_command_id for b in self.batches if b.symbol == symbol and b.last_command_id]
        return done[-1] if done else None

    def commit(self, batch: ShardBatch) -> None:
        self.batches.append(batch)

    def events(self, symbol: str) -> list[dict]:
        return [e for b in self.batches if b.symbol == symbol for o in b.outcomes for e in o.events]


SYMBOLS = default_symbols()


class InMemorySnapshots:
    """A SnapshotStore: the snapshots saved, newest last."""

    def __init__(self) -> None:
        self.saved: list[StoredSnapshot] = []

    def save(self, snapshot: StoredSnapshot) -> None:
        self.saved.append(snapshot)

    def latest(self, symbol: str) -> StoredSnapshot | None:
        return next((s for s in reversed(self.saved) if s.symbol == symbol), None)


def runner(journal, sink, snapshots=None, policy=DEFAULT_POLICY) -> ShardRunner:
    return ShardRunner([SYMBOLS["BTCUSDT"], SYMBOLS["ETHUSDT"]], journal, sink, snapshots, policy)


def orders(journal, first: int, last: int) -> None:
    for i in range(first, last + 1):
        journal.send("BTCUSDT", PlaceOrder(i, i % 3, Side.BUY if i % 2 else Side.SELL, price=100 + i % 5, qty=i))


def test_one_batch_per_symbol_with_the_depth_diff_and_checkpoint():
    journal, sink = InMemoryJournal(), InMemorySink()
    shard = runner(journal, sink)
    journal.send("BTCUSDT", PlaceOrder(1, 7, Side.BUY, price=100, qty=5))
    journal.send("ETHUSDT", PlaceOrder(1, 7, Side.SELL, price=200, qty=5))
    last = journal.send("BTCUSDT", PlaceOrder(2, 7, Side.BUY, price=101, qty=5), reply_to="r")

    assert shard.step() == 3

    btc = next(b for b in sink.batches if b.symbol == "BTCUSDT")
    assert (btc.seq, btc.last_command_id) == (2, last)
    assert btc.diff.bids == [(101, 5), (100, 5)] and btc.diff.last_update_id == 2
    assert [o.reply_to for o in btc.outcomes] == [None, "r"]


def test_recovery_publishes_only_commands_after_the_checkpoint():
    journal, sink = InMemoryJournal(), InMemorySink()
    journal.send("BTCUSDT", PlaceOrder(1, 7, Side.SELL, price=100, qty=5))
    first = runner(journal, sink)
    first.recover()
    journal.send("BTCUSDT", PlaceOrder(2, 8, Side.BUY, price=100, qty=2))

    second = runner(journal, InMemorySinkFrom(sink))
    second.recover()

    republished = second.sink.batches[0]
    assert [o.seq for o in republished.outcomes] == [2]
    assert republished.snapshot.asks == [(100, 3)]
    assert second.step() == 0  # the cursor is past everything replayed


def test_replay_rebuilds_the_same_engine_state():
    journal = InMemoryJournal()
    for i in range(1, 30):
        journal.send("BTCUSDT", PlaceOrder(i, i % 3, Side.BUY if i % 2 else Side.SELL, price=100 + i % 5, qty=i))
    live = runner(journal, InMemorySink())
    live.step()

    replayed = runner(journal, InMemorySink())
    replayed.recover()

    assert replayed.engines["BTCUSDT"].state_hash() == live.engines["BTCUSDT"].state_hash()


def test_malformed_entry_is_answered_with_an_error_and_skipped():
    journal, sink = InMemoryJournal(), InMemorySink()
    shard = runner(journal, sink)
    journal.entries.append(CommandEntry("BTCUSDT", "1-0", "{not json", "r"))
    journal.n = 1
    journal.send("BTCUSDT", PlaceOrder(1, 7, Side.BUY, price=100, qty=5))

    shard.step()

    bad, good = sink.batches[0].outcomes
    assert bad.reply() == {"command_id": "1-0", "error": {"code": -1000, "msg": "Malformed command."}}
    assert good.seq == 1


class InMemorySinkFrom(InMemorySink):
    def __init__(self, previous: InMemorySink) -> None:
        super().__init__()
        self.previous = previous

    def checkpoint(self, symbol: str) -> str | None:
        return super().checkpoint(symbol) or self.previous.checkpoint(symbol)


def test_snapshot_is_taken_every_n_commands_and_stored_off_the_matching_thread():
    journal, sink, store = InMemoryJournal(), InMemorySink(), InMemorySnapshots()
    shard = runner(journal, sink, store, SnapshotPolicy(every_commands=10, every_s=3600))
    shard.recover()
    orders(journal, 1, 9)
    shard.step()
    assert shard.snapshotter.stats.taken == 0
    orders(journal, 10, 12)
    shard.step()
    shard.snapshotter.close()

    [snap] = store.saved
    assert (snap.symbol, snap.seq, snap.last_command_id) == ("BTCUSDT", 12, journal.entries[-1].id)
    assert shard.snapshotter.stats.max_pause_ms > 0


def test_recovery_restores_the_snapshot_and_replays_only_the_commands_after_it():
    journal, sink, store = InMemoryJournal(), InMemorySink(), InMemorySnapshots()
    live = runner(journal, sink, store, SnapshotPolicy(every_commands=10, every_s=3600))
    live.recover()
    orders(journal, 1, 10)
    live.step()
    orders(journal, 11, 14)
    live.step()
    live.snapshotter.close()

    restarted = runner(journal, InMemorySinkFrom(sink), store)
    restarted.recover()

    assert restarted.engines["BTCUSDT"].state_hash() == live.engines["BTCUSDT"].state_hash()
    assert (restarted.recoveries["BTCUSDT"].snapshot_seq, restarted.recoveries["BTCUSDT"].replayed) == (10, 4)


def test_recovery_publishes_nothing_the_checkpoint_covers_even_from_a_snapshot():
    journal, sink, store = InMemoryJournal(), InMemorySink(), InMemorySnapshots()
    live = runner(journal, sink, store, SnapshotPolicy(every_commands=5, every_s=3600))
    live.recover()
    orders(journal, 1, 5)
    live.step()
    live.snapshotter.close()
    orders(journal, 6, 8)  # journaled, never processed: the crash came first

    restarted = runner(journal, InMemorySinkFrom(sink), store)
    restarted.recover()

    [batch] = [b for b in restarted.sink.batches if b.symbol == "BTCUSDT"]
    assert [o.seq for o in batch.outcomes] == [6, 7, 8]


def test_journal_is_trimmed_behind_the_oldest_kept_snapshot_only():
    journal, sink, store = InMemoryJournal(), InMemorySink(), InMemorySnapshots()
    shard = runner(journal, sink, store, SnapshotPolicy(every_commands=5, every_s=3600, keep=2))
    shard.recover()
    for first in (1, 6, 11):
        orders(journal, first, first + 4)
        shard.step()
        shard.snapshotter.close()

    assert [s.seq for s in store.saved] == [5, 10, 15]
    assert journal.trimmed["BTCUSDT"] == store.saved[1].last_command_id  # the older of the two kept
    assert stream_id(journal.entries[0].id) == stream_id(store.saved[1].last_command_id)
    # Recovery from the older kept snapshot still finds its journal.
    store.saved.pop()
    restarted = runner(journal, InMemorySinkFrom(sink), store)
    restarted.recover()
    assert restarted.engines["BTCUSDT"].state_hash() == shard.engines["BTCUSDT"].state_hash()


def test_recovery_refuses_a_trimmed_journal_without_a_snapshot_to_start_from():
    journal, sink, store = InMemoryJournal(), InMemorySink(), InMemorySnapshots()
    shard = runner(journal, sink, store, SnapshotPolicy(every_commands=5, every_s=3600, keep=1))
    shard.recover()
    orders(journal, 1, 5)
    shard.step()
    shard.snapshotter.close()

    with pytest.raises(JournalTrimmed):
        runner(journal, InMemorySinkFrom(sink), InMemorySnapshots()).recover()


def test_snapshot_ahead_of_the_checkpoint_is_ignored():
    journal, store = InMemoryJournal(), InMemorySnapshots()
    orders(journal, 1, 3)
    store.save(StoredSnapshot("BTCUSDT", 99, "999-0", {}))

    shard = runner(journal, InMemorySink(), store)
    shard.recover()

    assert shard.engines["BTCUSDT"].seq == 3


def test_a_recovery_that_replayed_commands_snapshots_at_once():
    journal, sink, store = InMemoryJournal(), InMemorySink(), InMemorySnapshots()
    orders(journal, 1, 3)

    shard = runner(journal, sink, store)
    shard.recover()
    shard.snapshotter.close()

    assert [(s.symbol, s.seq) for s in store.saved] == [("BTCUSDT", 3)]


def test_each_command_that_moves_the_top_carries_it_even_when_the_batch_ends_where_it_began():
    journal, sink = InMemoryJournal(), InMemorySink()
    shard = runner(journal, sink)
    journal.send("BTCUSDT", PlaceOrder(1, 7, Side.BUY, price=100, qty=5))  # the first bid
    journal.send("BTCUSDT", PlaceOrder(2, 7, Side.BUY, price=99, qty=5))  # below the top: no change
    journal.send("BTCUSDT", PlaceOrder(3, 7, Side.BUY, price=101, qty=2))  # a better bid
    journal.send("BTCUSDT", PlaceOrder(4, 8, Side.SELL, price=101, qty=2))  # taken: back to 100
    journal.send("BTCUSDT", PlaceOrder(5, 7, Side.BUY, price=100, qty=1))  # more at the top
    shard.step()
    (batch,) = sink.batches
    assert [o.top for o in batch.outcomes] == [((100, 5), None), None, ((101, 2), None), ((100, 5), None),
                                               ((100, 6), None)]
    assert batch.diff.bids == [(101, 0), (100, 6), (99, 5)]  # the diff alone: only where the batch ended
