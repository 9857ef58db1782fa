"""Settlement's decisions (castle.settle_events) as exact integer tables, and the writer on the in-memory store.

The money-flow properties run on tests/fakes.py (no moto); one contract test
runs the same flow on DynamoDB's adapter and checks both stores agree.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from castle.accounts import Commission
from castle.events import OrderAmended, OrderCanceled, OrderRejected, TradeExecuted
from castle.holds import hold_for
from castle.ledger import EXTERNAL, FEES, Bucket, Posting, audit, fund
from castle.ledger import hold as hold_entry
from castle.matching import MatchingEngine
from castle.order_records import OrderRecord
from castle.orders import CancelOrder, OrderStatus, OrderType, PlaceOrder, Side, TimeInForce
from castle.settle_events import decide, leftover, parties
from castle.symbols import default_symbols
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching_container.settlement import SymbolSettlement
from tests.fakes import MemoryLedger, MemoryOrders

SYMBOL = default_symbols()["BTCUSDT"]
UNIT = 10**8
P = 3_000_000  # 30,000.00 USDT in ticks
ALICE, BOB = 1, 2
TS = 1_700_000_000_000
FREE, LOCKED = Bucket.FREE, Bucket.LOCKED


def record(order_id: int, account: int, side: Side, price: int, qty: int, **fields) -> OrderRecord:
    cmd = PlaceOrder(order_id, account, side, price=price, qty=qty, ts=TS)
    held = hold_for(SYMBOL, cmd, None)
    return replace(OrderRecord.pending(cmd, SYMBOL.name, f"c{order_id}", held.asset, held.amount),
                   status=OrderStatus.NEW, **fields)


def trade(price: int, qty: int, maker_remaining: int = 0, taker_remaining: int = 0) -> TradeExecuted:
    return TradeExecuted(seq=7, trade_id=11, price=price, qty=qty, maker_order_id=1, maker_account=BOB,
                         taker_order_id=2, taker_account=ALICE, taker_side=Side.BUY, maker_remaining=maker_remaining,
                         taker_remaining=taker_remaining, ts=TS)


def rates(maker: int, taker: int):
    return lambda account: Commission(maker=maker, taker=taker)


@pytest.mark.parametrize(("qty", "maker_rate", "taker_rate", "base_fee", "quote_fee"), [
    # 1,000 lots = 0.01 BTC = 1,000,000 BTC units; at 30,000 that is 300 USDT = 30,000,000,000 USDT units
    (1000, 100_000, 100_000, 1_000, 30_000_000),  # 0.1 % each side
    (1000, 0, 50_000, 500, 0),  # a maker rebate-free book: the seller (maker) pays nothing
    (1, 100_000, 100_000, 1, 30_000),  # 0.000001 BTC: the fee rounds up to one unit
    (3, 100_000, 33_333, 1, 90_000),  # 3,000 units at 0.033333 %: 0.99999 rounds up to 1
])
def test_a_fill_posts_the_exact_amounts_with_each_fee_in_what_its_payer_receives(
        qty, maker_rate, taker_rate, base_fee, quote_fee):
    maker = record(1, BOB, Side.SELL, P, qty)
    taker = record(2, ALICE, Side.BUY, P, qty)
    decision = decide(SYMBOL, trade(P, qty), TS, {(BOB, 1): maker, (ALICE, 2): taker}, rates(maker_rate, taker_rate))
    base_units, quote_units = qty * 1_000, P * qty * 10
    expected = {
        Posting("1", "USDT", LOCKED, -quote_units), Posting("1", "BTC", FREE, base_units - base_fee),
        Posting("2", "BTC", LOCKED, -base_units), Posting("2", "USDT", FREE, quote_units - quote_fee),
    }
    if base_fee:
        expected.add(Posting(FEES, "BTC", FREE, base_fee))
    if quote_fee:
        expected.add(Posting(FEES, "USDT", FREE, quote_fee))
    assert set(decision.step.entry.postings) == expected
    assert [t.commission for t in decision.step.trades] == [base_fee, quote_fee]  # the taker (buyer) first


def test_a_fill_that_completes_both_orders_finishes_them_and_records_the_trade_once_per_side():
    maker, taker = record(1, BOB, Side.SELL, P, 1000), record(2, ALICE, Side.BUY, P, 1000)
    decision = decide(SYMBOL, trade(P, 1000), TS, {(BOB, 1): maker, (ALICE, 2): taker}, rates(0, 0))
    assert [(c.after.status, c.after.executed, c.trade_id) for c in decision.step.changes] == [
        (OrderStatus.FILLED, 1000, 11), (OrderStatus.FILLED, 1000, 11)]
    assert {t.side for t in decision.step.trades} == {"BUY", "SELL"}
    assert [a.order_id for a in decision.finishing] == [1, 2] and not decision.releases


def test_price_improvement_leaves_exactly_the_difference_to_release():
    # Alice bid 30,000 for 0.01 BTC (300 USDT held) and paid 29,000: 10 USDT goes back.
    taker = record(2, ALICE, Side.BUY, P, 1000)
    maker = record(1, BOB, Side.SELL, P - 100_000, 1000)
    decision = decide(SYMBOL, trade(P - 100_000, 1000), TS, {(BOB, 1): maker, (ALICE, 2): taker}, rates(0, 0))
    finished = next(a for a in decision.finishing if a.account == ALICE)
    release = leftover(SYMBOL, finished, TS).entry
    assert set(release.postings) == {Posting("1", "USDT", LOCKED, -10 * UNIT), Posting("1", "USDT", FREE, 10 * UNIT)}


def test_a_partly_filled_order_leaves_nothing_to_release():
    taker = record(2, ALICE, Side.BUY, P, 1000)
    decision = decide(SYMBOL, trade(P, 400, taker_remaining=600), TS,
                      {(BOB, 1): record(1, BOB, Side.SELL, P, 400), (ALICE, 2): taker}, rates(0, 0))
    assert [a.account for a in decision.finishing] == [BOB]
    assert leftover(SYMBOL, decision.step.changes[1].after, TS) is None  # still open


@pytest.mark.parametrize(("used", "released"), [(0, 300 * UNIT), (120 * UNIT, 180 * UNIT), (300 * UNIT, None)])
def test_a_cancel_ends_the_order_and_releases_what_its_fills_did_not_use_in_the_same_step(used, released):
    order = record(2, ALICE, Side.BUY, P, 1000, hold_used=used)
    decision = decide(SYMBOL, OrderCanceled(5, 2, ALICE, 1000, TS), TS, {(ALICE, 2): order}, rates(0, 0))
    (change,) = decision.step.changes
    assert change.after.status is OrderStatus.CANCELED and decision.releases
    if released is None:
        assert decision.step.entry is None
    else:
        assert set(decision.step.entry.postings) == {Posting("1", "USDT", LOCKED, -released),
                                                     Posting("1", "USDT", FREE, released)}


@pytest.mark.parametrize(("side", "freed_asset", "freed"), [
    (Side.BUY, "USDT", 3_000_000 * 400 * 10),  # price x lots in quote units: 120 USDT
    (Side.SELL, "BTC", 400 * 1_000),  # lots in base units: 0.004 BTC
])
def test_an_amend_down_releases_exactly_the_hold_of_the_removed_quantity(side, freed_asset, freed):
    order = record(2, ALICE, side, P, 1000)
    event = OrderAmended(seq=9, order_id=2, account=ALICE, old_qty=1000, new_qty=600, remaining=600, ts=TS)
    decision = decide(SYMBOL, event, TS, {(ALICE, 2): order}, rates(0, 0))
    assert set(decision.step.entry.postings) == {Posting("1", freed_asset, LOCKED, -freed),
                                                 Posting("1", freed_asset, FREE, freed)}
    assert decision.step.changes[0].after.hold_amount == order.hold_amount - freed


def test_events_of_orders_settlement_does_not_know_write_nothing():
    assert decide(SYMBOL, OrderCanceled(5, 2, ALICE, 1000, TS), TS, {(ALICE, 2): None}, rates(0, 0)) == "unknown order"


def test_a_rejected_cancel_leaves_the_order_as_it_was():
    event = OrderRejected(seq=5, order_id=2, account=ALICE, code=-2011, msg="Unknown order sent.")
    assert decide(SYMBOL, event, TS, {(ALICE, 2): record(2, ALICE, Side.BUY, P, 1000)}, rates(0, 0)) == \
        "not a new order"


def test_parties_name_both_orders_of_a_trade_maker_first():
    assert parties(trade(P, 1)) == ((BOB, 1), (ALICE, 2))


class MemoryExchange:
    """Gateway hold -> engine -> settlement on the in-memory store; each event may be delivered again."""

    def __init__(self, orders=None, ledger=None) -> None:
        self.ledger = ledger or MemoryLedger()
        self.orders = orders or MemoryOrders(self.ledger)
        self.engine = MatchingEngine(SYMBOL)
        self.settlement = SymbolSettlement(SYMBOL, self.orders, rates(100_000, 100_000))
        self.next_id, self.ts = 1, TS
        self.delivered: list = []

    def fund(self, account: int, asset: str, amount: int) -> None:
        self.ledger.apply(fund(f"fund:{account}:{asset}", str(account), asset, amount, self.ts))

    def place(self, account: int, side: Side, again: int = 0, **fields) -> int | None:
        self.ts += 1
        oid, self.next_id = self.next_id, self.next_id + 1
        cmd = PlaceOrder(oid, account, side, ts=self.ts, **fields)
        held = hold_for(SYMBOL, cmd, self.engine.book.opposite(side).best_price())
        if held.engine_budget is not None:
            cmd.quote_qty = held.engine_budget
        pending = OrderRecord.pending(cmd, SYMBOL.name, f"c{oid}", held.asset, held.amount)
        entry = hold_entry(f"hold:{oid}", str(account), held.asset, held.amount, self.ts) if held.amount else None
        try:
            self.orders.create_pending(pending, entry)
        except Exception:
            return None
        self.run(cmd, lambda event: again)
        return oid

    def run(self, cmd, redeliver=lambda event: 0) -> None:
        for event in self.engine.submit(cmd):
            for _ in range(1 + redeliver(event)):
                self.settlement.apply(event, self.ts)

    def state(self) -> tuple:
        return dict(self.ledger.all_balances()), dict(self.orders.records)


flows = st.lists(st.tuples(st.sampled_from([ALICE, BOB]), st.sampled_from([Side.BUY, Side.SELL]),
                           st.integers(-5, 5), st.integers(1, 900), st.sampled_from(["GTC", "IOC", "MARKET"]),
                           st.integers(0, 2)), min_size=1, max_size=15)


def play(ex, flow, redeliveries: bool) -> None:
    for account in (ALICE, BOB):
        ex.fund(account, "USDT", 1_000_000 * UNIT)
        ex.fund(account, "BTC", 50 * UNIT)
    placed = []
    for account, side, offset, qty, kind, again in flow:
        fields = {"type": OrderType.MARKET, "qty": qty} if kind == "MARKET" else {
            "price": P + offset * 100, "qty": qty, "tif": TimeInForce(kind)}
        oid = ex.place(account, side, again if redeliveries else 0, **fields)
        if oid is not None:
            placed.append((account, oid, again if redeliveries else 0))
    for account, oid, again in placed:
        if ex.orders.get(account, SYMBOL.name, oid).is_open:
            ex.ts += 1
            ex.run(CancelOrder(oid, account, ex.ts), lambda event, again=again: again)


@settings(max_examples=60, deadline=None)
@given(flows)
def test_settling_any_event_again_changes_nothing(flow):
    once, again = MemoryExchange(), MemoryExchange()
    play(once, flow, redeliveries=False)
    play(again, flow, redeliveries=True)
    assert once.state() == again.state()


@settings(max_examples=60, deadline=None)
@given(flows)
def test_any_flow_conserves_every_asset_and_ends_with_nothing_locked(flow):
    ex = MemoryExchange()
    play(ex, flow, redeliveries=True)
    assert all(a.held + a.external == 0 for a in audit(ex.ledger.all_balances(), {}))
    assert all(locked == 0 for account in ("1", "2") for _, locked in ex.ledger.balances(account).values())
    assert ex.ledger.balances(EXTERNAL)["USDT"][0] == -2_000_000 * UNIT


def nonzero(balances: dict) -> dict:
    return {key: amount for key, amount in balances.items() if amount}


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flows)
def test_the_in_memory_store_ends_where_dynamodb_does(monkeypatch, flow):
    from castle.adapters.dynamo_ledger import DynamoLedger
    from castle.adapters.dynamo_orders import DynamoOrders

    from tests.tables import moto_tables

    tables = {"OrdersTable": "orders", "TradesTable": "trades", "BalancesTable": "balances"}
    with moto_tables(monkeypatch, tables) as client:
        ledger = DynamoLedger(client, "balances")
        dynamo = MemoryExchange(DynamoOrders(client, "orders", "trades", ledger), ledger)
        play(dynamo, flow, redeliveries=True)
        memory = MemoryExchange()
        play(memory, flow, redeliveries=True)
        assert nonzero(dynamo.ledger.all_balances()) == nonzero(memory.ledger.all_balances())
        for (account, symbol, order_id), stored in memory.orders.records.items():
            assert dynamo.orders.get(account, symbol, order_id) == stored
