"""The futures market end to end on a real redis-server: journal in, engine, events, mirrors, settlement, recovery."""

from __future__ import annotations

import threading

import pytest

from castle.adapters.redis_futures import RedisFuturesJournal
from castle.adapters.redis_keys import FUTURES_SHARD, events_key
from castle.adapters.redis_streams import connect
from castle.futures.codec import command_to_dict
from castle.futures.commands import FuturesOrder, FuturesOrderType, TransferIn, UpdateMarks
from castle.orders import Side
from matching_container.futures_market import bootstrap
from matching_container.futures_settlement import FuturesSettlementWriter
from matching_container.settings import EngineSettings
from tests.fakes_futures import MemoryFuturesRecords
from tests.futures_world import u

pytestmark = pytest.mark.integration
TS = 1_700_000_000_000


@pytest.fixture
def settings(redis_url) -> EngineSettings:
    return EngineSettings(redis_url=redis_url, symbols=(), block_ms=50)


def start(settings, client):
    stop = threading.Event()
    runner = bootstrap(settings, client)
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    return runner, stop, thread


@pytest.fixture
def market(settings, redis_client):
    runner, stop, thread = start(settings, redis_client)
    yield runner
    stop.set()
    thread.join(timeout=5)


def order(journal, account, side, qty, price=None) -> dict:
    cmd = FuturesOrder("BTCUSDT", journal.next_order_id(), account, Side(side),
                       FuturesOrderType.LIMIT if price else FuturesOrderType.MARKET, u(qty),
                       None if price is None else u(price), ts=TS)
    return journal.call(command_to_dict(cmd), 5)


def trade_once(journal) -> None:
    for account in (1, 2):
        journal.call(command_to_dict(TransferIn(account, journal.next_tran_id(), u("10000"), TS)), 5)
    journal.call(command_to_dict(UpdateMarks({"BTCUSDT": (u("50000"), u("50000"))}, TS)), 5)
    order(journal, 1, "SELL", "0.2", "50000")
    order(journal, 2, "BUY", "0.1")


def test_an_order_placed_through_the_journal_gets_the_engines_reply(market, redis_client):
    journal = RedisFuturesJournal(redis_client)
    journal.call(command_to_dict(TransferIn(1, journal.next_tran_id(), u("1000"), TS)), 5)
    reply = order(journal, 1, "BUY", "0.01", "50000")
    assert [e["type"] for e in reply["events"]] == ["OrderUpdated"]
    assert reply["events"][0]["order"]["status"] == "NEW"


def test_each_contract_has_its_own_depth_mirror(market, redis_client):
    journal = RedisFuturesJournal(redis_client)
    trade_once(journal)
    btc = journal.depth("BTCUSDT", 10)
    assert btc.asks == [(500_000, 100)]  # ticks of 0.1, lots of 0.001: 0.1 left at 50,000
    assert journal.depth("ETHUSDT", 10).asks == []


def test_settlement_writes_the_wallets_the_engine_holds(market, redis_client):
    journal = RedisFuturesJournal(redis_client)
    trade_once(journal)
    records = MemoryFuturesRecords()
    writer = FuturesSettlementWriter(redis_client, records, block_ms=50)
    while writer.step():
        pass
    assert records.account(1).wallet == market.engine.account(1).wallet
    assert records.account(2).wallet == u("10000") - u("2.5")
    assert [p.amount for p in records.account(2).positions] == [u("0.1")]


def test_a_restarted_market_replays_to_the_same_state_and_publishes_nothing_twice(settings, redis_client):
    runner, stop, thread = start(settings, redis_client)
    journal = RedisFuturesJournal(redis_client)
    trade_once(journal)
    stop.set()
    thread.join(timeout=5)
    published = redis_client.xlen(events_key(FUTURES_SHARD))
    again = bootstrap(settings, redis_client)
    again.recover()
    assert again.replayed == 5
    assert again.engine.state_hash() == runner.engine.state_hash()
    assert redis_client.xlen(events_key(FUTURES_SHARD)) == published


def test_concurrent_orders_of_one_account_on_two_contracts_never_spend_its_margin_twice(market, redis_client,
                                                                                        redis_url):
    """The margin for one order only, two orders racing on BTCUSDT and ETHUSDT: the journal orders them, one wins."""
    journal = RedisFuturesJournal(redis_client)
    journal.call(command_to_dict(TransferIn(9, journal.next_tran_id(), u("250"), TS)), 5)
    journal.call(command_to_dict(UpdateMarks({"BTCUSDT": (u("50000"), u("50000")),
                                              "ETHUSDT": (u("2500"), u("2500"))}, TS)), 5)
    btc = FuturesOrder("BTCUSDT", journal.next_order_id(), 9, Side.BUY, FuturesOrderType.LIMIT, u("0.1"), u("50000"),
                       ts=TS)  # 5,000 / 20 = 250
    eth = FuturesOrder("ETHUSDT", journal.next_order_id(), 9, Side.BUY, FuturesOrderType.LIMIT, u("2"), u("2500"),
                       ts=TS)  # 5,000 / 20 = 250
    replies: dict[str, dict] = {}
    barrier = threading.Barrier(2)

    def send(cmd) -> None:
        client = connect(redis_url)  # each sender its own connection, as two Lambdas would have
        barrier.wait()
        replies[cmd.symbol] = RedisFuturesJournal(client).call(command_to_dict(cmd), 5)

    threads = [threading.Thread(target=send, args=(cmd,)) for cmd in (btc, eth)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    outcomes = sorted(reply["events"][0]["type"] for reply in replies.values())
    assert outcomes == ["OrderRejected", "OrderUpdated"]
    rejected = next(r["events"][0] for r in replies.values() if r["events"][0]["type"] == "OrderRejected")
    assert rejected["code"] == -2019
    assert market.engine.valuation(market.engine.account(9)).available == 0


class SavedSnapshots:
    """A SnapshotStore in memory: what the futures market saved, newest last."""

    def __init__(self) -> None:
        self.saved = []

    def save(self, snapshot) -> None:
        self.saved.append(snapshot)

    def latest(self, symbol):
        return next((s for s in reversed(self.saved) if s.symbol == symbol), None)


def test_a_restart_loads_the_latest_snapshot_and_replays_only_what_came_after(settings, redis_client):
    from matching_container.snapshots import SnapshotPolicy

    store = SavedSnapshots()
    policy = SnapshotPolicy(every_commands=3, every_s=3600)
    runner = bootstrap(settings, redis_client, snapshots=store)
    runner.snapshotter.policy = policy
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    journal = RedisFuturesJournal(redis_client)
    trade_once(journal)
    order(journal, 1, "SELL", "0.05", "50100")
    stop.set()
    thread.join(timeout=5)
    assert store.saved and store.saved[-1].symbol == FUTURES_SHARD
    again = bootstrap(settings, redis_client, snapshots=store)
    again.recover()
    assert again.replayed < 6
    assert again.engine.state_hash() == runner.engine.state_hash()
