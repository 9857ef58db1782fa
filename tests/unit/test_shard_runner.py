"""The shard runner with in-memory ports: ordering, batching, and recovery from the journal."""

from __future__ import annotations

import json

from castle.adapters.ports import CommandEntry, ShardBatch, stream_id
from castle.codec import command_to_dict
from castle.orders import PlaceOrder, Side
from castle.symbols import default_symbols
from matching_container.shard import ShardRunner


class InMemoryJournal:
    """A CommandSource: per-symbol lists of entries with increasing ids."""

    def __init__(self) -> None:
        self.entries: list[CommandEntry] = []
        self.cursor: dict[str, str] = {}
        self.n = 0

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

    def replay(self, symbol: str):
        return iter([e for e in self.entries if e.symbol == symbol])

    def seek(self, symbol: str, after_id: str) -> None:
        self.cursor[symbol] = after_id


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


def runner(journal, sink) -> ShardRunner:
    return ShardRunner([SYMBOLS["BTCUSDT"], SYMBOLS["ETHUSDT"]], journal, sink)


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
