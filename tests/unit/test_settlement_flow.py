"""Hold -> match -> settle, through the real DynamoDB adapters (moto): money is exact and conserved."""

from __future__ import annotations

import boto3
import pytest
from castle.adapters.dynamo_ledger import DynamoLedger
from castle.adapters.dynamo_orders import DynamoOrders
from castle.errors import CastleError
from castle.ledger import EXTERNAL, FEES, audit, fund
from castle.matching import MatchingEngine
from castle.order_records import OrderRecord
from castle.orders import CancelOrder, OrderStatus, OrderType, PlaceOrder, Side, TimeInForce
from castle.holds import hold_for
from castle.settlement import Commission, fee
from castle.symbols import default_symbols
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from matching_container.settlement import SymbolSettlement
from tests.tables import create_table_from_template, moto_tables

SYMBOL = default_symbols()["BTCUSDT"]
UNIT = 10**8
P = 3_000_000  # 30,000.00 USDT in ticks
ALICE, BOB = 1, 2
TABLES = {"OrdersTable": "orders", "TradesTable": "trades", "BalancesTable": "balances"}


class Exchange:
    """The order path without the network: gateway hold, engine, settlement (each event applied twice)."""

    def __init__(self, client) -> None:
        self.ledger = DynamoLedger(client, "balances")
        self.orders = DynamoOrders(client, "orders", "trades", self.ledger)
        self.engine = MatchingEngine(SYMBOL)
        self.settlement = SymbolSettlement(SYMBOL, self.orders, lambda account: Commission())
        self.next_id = 1
        self.ts = 1_700_000_000_000

    def fund(self, account: int, asset: str, amount: int) -> None:
        self.ledger.apply(fund(f"fund:{account}:{asset}:{amount}:{self.ts}", str(account), asset, amount, self.ts))

    def place(self, account: int, side: Side, **fields) -> int:
        self.ts += 1
        oid, self.next_id = self.next_id, self.next_id + 1
        cmd = PlaceOrder(oid, account, side, ts=self.ts, **fields)
        best = self.engine.book.opposite(side).best_price()
        hold = hold_for(SYMBOL, cmd, best)
        if hold.engine_budget is not None:
            cmd.quote_qty = hold.engine_budget
        record = OrderRecord.pending(cmd, SYMBOL.name, f"c{oid}", hold.asset, hold.amount)
        from castle.ledger import hold as hold_entry

        entry = hold_entry(f"hold:{SYMBOL.name}:{oid}", str(account), hold.asset, hold.amount, self.ts) if hold.amount else None
        self.orders.create_pending(record, entry)
        self.run(cmd)
        return oid

    def cancel(self, account: int, order_id: int) -> None:
        self.ts += 1
        self.run(CancelOrder(order_id, account, self.ts))

    def run(self, cmd) -> None:
        events = self.engine.submit(cmd)
        for _ in range(2):  # a redelivery changes nothing
            for event in events:
                self.settlement.apply(event, self.ts)

    def balance(self, account, asset: str) -> tuple[int, int]:
        return self.ledger.balances(str(account)).get(asset, (0, 0))

    def order(self, account: int, order_id: int) -> OrderRecord:
        return self.orders.get(account, SYMBOL.name, order_id)


@pytest.fixture
def client(monkeypatch):
    with moto_tables(monkeypatch, TABLES) as c:
        yield c


@pytest.fixture
def ex(client) -> Exchange:
    ex = Exchange(client)
    ex.fund(ALICE, "USDT", 100_000 * UNIT)
    ex.fund(BOB, "BTC", 5 * UNIT)
    return ex


def test_a_resting_buy_locks_its_cost(ex):
    ex.place(ALICE, Side.BUY, price=P, qty=1000)  # 0.01 BTC at 30,000
    assert ex.balance(ALICE, "USDT") == (99_700 * UNIT, 300 * UNIT)


def test_an_unaffordable_order_is_rejected_and_writes_nothing(ex):
    with pytest.raises(CastleError) as info:
        ex.place(ALICE, Side.BUY, price=P, qty=1_000_000)  # 10 BTC = 300,000 USDT
    assert info.value.code == -2010
    assert ex.balance(ALICE, "USDT") == (100_000 * UNIT, 0)
    assert ex.order(ALICE, 1) is None


def test_a_trade_moves_funds_and_charges_each_side_in_what_it_receives(ex):
    sell = ex.place(BOB, Side.SELL, price=P, qty=1000)
    buy = ex.place(ALICE, Side.BUY, price=P, qty=1000)
    qty, notional = UNIT // 100, 300 * UNIT
    assert ex.balance(ALICE, "BTC") == (qty - fee(qty, 100_000), 0)
    assert ex.balance(ALICE, "USDT") == (99_700 * UNIT, 0)
    assert ex.balance(BOB, "USDT") == (notional - fee(notional, 100_000), 0)
    assert ex.balance(BOB, "BTC") == (5 * UNIT - qty, 0)
    assert ex.balance(FEES, "BTC") == (fee(qty, 100_000), 0)
    assert ex.order(ALICE, buy).status is OrderStatus.FILLED
    assert ex.order(BOB, sell).status is OrderStatus.FILLED


def test_price_improvement_is_released_to_the_buyer(ex):
    ex.place(BOB, Side.SELL, price=P - 100_000, qty=1000)  # offered at 29,000
    ex.place(ALICE, Side.BUY, price=P, qty=1000)  # bids 30,000, pays 29,000
    assert ex.balance(ALICE, "USDT") == (100_000 * UNIT - 290 * UNIT, 0)


def test_cancel_releases_the_hold(ex):
    oid = ex.place(ALICE, Side.BUY, price=P, qty=1000)
    ex.cancel(ALICE, oid)
    assert ex.balance(ALICE, "USDT") == (100_000 * UNIT, 0)
    assert ex.order(ALICE, oid).status is OrderStatus.CANCELED


def test_partial_fill_then_cancel_releases_exactly_the_rest(ex):
    ex.place(BOB, Side.SELL, price=P, qty=400)
    oid = ex.place(ALICE, Side.BUY, price=P, qty=1000)
    ex.cancel(ALICE, oid)
    assert ex.balance(ALICE, "USDT") == (100_000 * UNIT - 120 * UNIT, 0)
    record = ex.order(ALICE, oid)
    assert (record.status, record.executed) == (OrderStatus.CANCELED, 400)


def test_market_buy_by_quote_amount_releases_its_dust(ex):
    ex.place(BOB, Side.SELL, price=P, qty=10_000)
    oid = ex.place(ALICE, Side.BUY, type=OrderType.MARKET, quote_qty=SYMBOL.quote_to_engine(100 * UNIT + 7))
    record = ex.order(ALICE, oid)
    assert record.status is OrderStatus.FILLED
    assert ex.balance(ALICE, "USDT")[1] == 0
    assert ex.balance(ALICE, "USDT")[0] == 100_000 * UNIT - SYMBOL.quote_units(record.cum_quote)


def test_market_buy_by_quantity_spends_no_more_than_it_held(ex):
    ex.place(BOB, Side.SELL, price=P, qty=500)
    oid = ex.place(ALICE, Side.BUY, type=OrderType.MARKET, qty=500)
    assert ex.order(ALICE, oid).status is OrderStatus.FILLED
    assert ex.balance(ALICE, "USDT") == (100_000 * UNIT - 150 * UNIT, 0)


def test_ioc_remainder_expires_and_is_released(ex):
    oid = ex.place(ALICE, Side.BUY, price=P, qty=1000, tif=TimeInForce.IOC)
    assert ex.order(ALICE, oid).status is OrderStatus.EXPIRED
    assert ex.balance(ALICE, "USDT") == (100_000 * UNIT, 0)


def conserved(ex: Exchange) -> bool:
    return all(a.held + a.external == 0 for a in audit(ex.ledger.all_balances(), {}))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from([ALICE, BOB]),
            st.sampled_from([Side.BUY, Side.SELL]),
            st.integers(-5, 5),
            st.integers(1, 900),
            st.sampled_from(["GTC", "IOC", "MARKET"]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_any_flow_conserves_money_and_leaves_nothing_locked(client, flow):
    for table in ("orders", "trades", "balances"):
        client.delete_table(TableName=table)
    for logical, table in TABLES.items():
        create_table_from_template(client, logical, table)
    ex = Exchange(client)
    for account in (ALICE, BOB):
        ex.fund(account, "USDT", 1_000_000 * UNIT)
        ex.fund(account, "BTC", 50 * UNIT)
    placed = []
    for account, side, offset, qty, kind in flow:
        fields = {"type": OrderType.MARKET, "qty": qty} if kind == "MARKET" else {
            "price": P + offset * 100, "qty": qty, "tif": TimeInForce(kind)}
        try:
            placed.append((account, ex.place(account, side, **fields)))
        except CastleError:
            pass
        assert conserved(ex)
    for account, oid in placed:
        if ex.order(account, oid).is_open:
            ex.cancel(account, oid)
    assert conserved(ex)
    for account in (ALICE, BOB):
        assert all(locked == 0 for _, locked in ex.ledger.balances(str(account)).values())
    assert ex.balance(EXTERNAL, "USDT")[0] == -2_000_000 * UNIT


def test_settlement_charges_each_account_its_own_rates(monkeypatch):
    from castle.accounts import Commission as Rates
    from castle.adapters.dynamo_accounts import DynamoAccounts

    from matching_container.settlement import AccountCommissions

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        create_table_from_template(boto3.client("dynamodb"), "AccountsTable", "accounts")
        vip = DynamoAccounts("accounts", envelope=None).create_account(1, Rates(maker=0, taker=50_000))
        rates = AccountCommissions(DynamoAccounts("accounts", envelope=None))
        assert (rates(vip.account_id).maker, rates(vip.account_id).taker) == (0, 50_000)
        assert rates(999_999).taker == Rates().taker  # an unknown account pays the default
