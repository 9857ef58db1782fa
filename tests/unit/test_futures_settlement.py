"""Futures settlement: engine events -> records and balanced ledger entries, the same on moto's DynamoDB and in memory."""

from __future__ import annotations

import pytest

from castle.adapters.dynamo_futures import DynamoFuturesRecords
from castle.adapters.dynamo_ledger import DynamoLedger
from castle.futures.codec import event_from_dict, event_to_dict
from castle.futures.commands import SetLeverage, SetMarginType, SetPositionMode, SettleFunding, TransferIn
from castle.futures.margin import MarginType
from castle.futures.records import CLEARING, FUNDING, TRANSIT, wallet_account
from castle.futures.settle import settle_command, transfer_in_entry
from castle.ledger import FEES
from tests.fakes_futures import MemoryFuturesRecords
from tests.futures_world import World, u
from tests.tables import moto_tables

A, B, C = 1, 2, 3


def trading_day() -> World:
    """Transfers in, leverage and margin type, a round trip with PnL and fees, an open order, funding."""
    w = World()
    for account in (A, B, C):
        w.fund(account, "10000")
    w.mark("BTCUSDT", "50000")
    w.submit(SetLeverage(C, "BTCUSDT", 10))
    w.submit(SetMarginType(C, "BTCUSDT", MarginType.ISOLATED))
    w.submit(SetPositionMode(B, True))
    w.order(A, "SELL", "0.1", "50000")
    w.order(B, "BUY", "0.1", type="MARKET", position_side="LONG")
    w.order(C, "BUY", "0.2", "49000")
    w.submit(SettleFunding("BTCUSDT", 10_000, 1_700_006_400_000))
    w.order(A, "BUY", "0.05", "50500")
    w.order(B, "SELL", "0.05", type="MARKET", position_side="LONG")
    return w


def settle_all(world: World, store, twice: bool = False) -> None:
    for _, events in world.log:
        wire = [event_from_dict(event_to_dict(e)) for e in events]  # as the events stream carries them
        seq = events[0].seq if events else 0
        for _ in range(2 if twice else 1):
            store.write(settle_command(seq, wire))


def snapshot(store, accounts=(A, B, C)) -> dict:
    out = {}
    for account in accounts:
        view = store.account(account)
        out[account] = {
            "wallet": view.wallet, "dual": view.dual,
            "configs": sorted((s, c.leverage, str(c.margin_type)) for s, c in view.configs.items()),
            "positions": sorted((p.symbol, p.position_side, p.amount, p.cost, p.isolated_wallet)
                                for p in view.positions),
            "open": [(r.order.order_id, r.order.status, r.order.executed) for r in view.open_orders],
            "orders": [(r.order.order_id, r.order.status) for r in store.all_orders(account, "BTCUSDT")],
            "trades": [(t.trade_id, t.maker, t.qty, t.realized_pnl, t.commission)
                       for t in store.trades(account, "BTCUSDT")],
            "income": [(i.income_type, i.amount) for i in store.income(account)],
        }
    return out


@pytest.fixture
def dynamo(monkeypatch):
    with moto_tables(monkeypatch, {"FuturesTable": "futures", "BalancesTable": "balances"}) as client:
        yield DynamoFuturesRecords(client, "futures", DynamoLedger(client, "balances"))


def test_the_settled_wallets_equal_the_engines():
    world = trading_day()
    store = MemoryFuturesRecords()
    settle_all(world, store)
    for account in (A, B, C):
        assert store.account(account).wallet == world.wallet(account)


def test_every_settled_entry_balances_and_the_system_accounts_hold_what_they_should():
    world = trading_day()
    store = MemoryFuturesRecords()
    settle_all(world, store)
    balances = store.balances
    fees = sum(-e.amount for _, evs in world.log for e in evs if type(e).__name__ == "WalletPosting"
               and e.kind == "COMMISSION")
    assert balances[(FEES, "USDT")] == fees
    assert balances.get((FUNDING, "USDT"), 0) == 0  # a funding event nets to zero
    open_cost = sum(leg.position.signed_cost() for a in world.engine.accounts.values() for leg in a.legs.values())
    assert balances[(CLEARING, "USDT")] == -open_cost
    assert balances[(TRANSIT, "USDT")] == -u("30000")  # the API's spot debits would bring it back to zero
    assert sum(balances.values()) == 0


def test_settling_every_event_twice_changes_nothing():
    world = trading_day()
    once, twice = MemoryFuturesRecords(), MemoryFuturesRecords()
    settle_all(world, once)
    settle_all(world, twice, twice=True)
    assert snapshot(once) == snapshot(twice)
    assert once.balances == twice.balances


def test_dynamodb_settles_to_the_same_records_as_the_fake(dynamo):
    world = trading_day()
    fake = MemoryFuturesRecords()
    settle_all(world, fake)
    settle_all(world, dynamo, twice=True)
    assert snapshot(dynamo) == snapshot(fake)
    assert snapshot(fake)[C]["positions"] == []  # C's order rests: no position, isolated or not
    assert snapshot(fake)[B]["positions"] == [("BTCUSDT", "LONG", u("0.05"), u("2500"), 0)]


def test_a_transfer_in_passes_through_transit_and_leaves_it_empty():
    store = MemoryFuturesRecords()
    store.balances[("7", "USDT")] = u("100")
    store.post(transfer_in_entry(7, 1, u("40"), 0))
    events = World().submit(TransferIn(7, 1, u("40"), 0))
    store.write(settle_command(1, events))
    assert store.balances[("7", "USDT")] == u("60")
    assert store.balances[(wallet_account(7), "USDT")] == u("40")
    assert store.balances[(TRANSIT, "USDT")] == 0
