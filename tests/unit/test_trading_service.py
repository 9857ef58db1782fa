"""The trading service: Binance's order endpoints over hold -> engine -> reply (moto + an in-process engine)."""

from __future__ import annotations

import pytest
from castle.accounts import Commission
from castle.adapters.dynamo_ledger import DynamoLedger
from castle.adapters.dynamo_orders import DynamoOrders
from castle.codec import command_from_dict, event_to_dict
from castle.errors import CastleError
from castle.ledger import fund
from castle.matching import MatchingEngine
from castle.symbols import default_symbols
from castle.trading import Trading

from matching_container.settlement import SymbolSettlement
from tests.tables import moto_tables

SYMBOLS = default_symbols()
UNIT = 10**8
ALICE, BOB = 1, 2


class InProcessEngine:
    """The Engine port with the real engine behind it, and settlement applied as the writer would."""

    def __init__(self, orders: DynamoOrders) -> None:
        self.engines = {name: MatchingEngine(s) for name, s in SYMBOLS.items()}
        self.settlements = {name: SymbolSettlement(s, orders, lambda a: Commission()) for name, s in SYMBOLS.items()}
        self.ids = 0

    def next_order_id(self, symbol: str) -> int:
        self.ids += 1
        return self.ids

    def depth(self, symbol: str, limit: int):
        return self.engines[symbol].book.snapshot(limit)

    def call(self, symbol: str, command: dict, timeout_s: float) -> dict:
        events = self.engines[symbol].submit(command_from_dict(command))
        for event in events:
            self.settlements[symbol].apply(event, 1_700_000_000_000)
        return {"seq": self.engines[symbol].seq, "events": [event_to_dict(e) for e in events]}


@pytest.fixture
def service(monkeypatch):
    tables = {"OrdersTable": "orders", "TradesTable": "trades", "BalancesTable": "balances"}
    with moto_tables(monkeypatch, tables) as client:
        ledger = DynamoLedger(client, "balances")
        ledger.apply(fund("f1", str(ALICE), "USDT", 100_000 * UNIT, 1))
        ledger.apply(fund("f2", str(BOB), "BTC", 5 * UNIT, 1))
        orders = DynamoOrders(client, "orders", "trades", ledger)
        ids = iter(f"client{i:04d}" for i in range(10_000))
        yield Trading(SYMBOLS, orders, InProcessEngine(orders), lambda: 1_700_000_000_000,
                      client_ids=lambda: next(ids)), ledger


def limit(side: str, price: str, qty: str, **extra) -> dict:
    return {"symbol": "BTCUSDT", "side": side, "type": "LIMIT", "timeInForce": "GTC", "price": price,
            "quantity": qty, **extra}


def rejected(call) -> tuple[int, str]:
    with pytest.raises(CastleError) as info:
        call()
    return info.value.code, info.value.msg


def test_resting_limit_order_answers_new_with_binance_result_fields(service):
    trading, _ = service
    answer = trading.place(ALICE, limit("BUY", "30000", "0.01", newOrderRespType="RESULT"), Commission())
    assert answer["status"] == "NEW"
    assert (answer["price"], answer["origQty"], answer["executedQty"]) == ("30000.00000000", "0.01000000", "0.00000000")
    assert answer["orderListId"] == -1 and answer["clientOrderId"] == "client0000"


def test_crossing_order_answers_full_with_its_fills_and_commission(service):
    trading, _ = service
    trading.place(BOB, limit("SELL", "30000", "0.01"), Commission())
    answer = trading.place(ALICE, limit("BUY", "30000", "0.01"), Commission())
    assert answer["status"] == "FILLED"
    assert answer["cummulativeQuoteQty"] == "300.00000000"
    assert answer["fills"] == [
        {"price": "30000.00000000", "qty": "0.01000000", "commission": "0.00001000", "commissionAsset": "BTC",
         "tradeId": 1}
    ]


def test_unaffordable_order_is_insufficient_balance_and_leaves_no_order(service):
    trading, ledger = service
    assert rejected(lambda: trading.place(ALICE, limit("BUY", "30000", "10"), Commission())) == (
        -2010, "Account has insufficient balance for requested action.")
    assert ledger.balances(str(ALICE))["USDT"] == (100_000 * UNIT, 0)
    assert trading.open_orders(ALICE, {"symbol": "BTCUSDT"}) == []


def test_limit_maker_that_would_take_is_rejected_and_its_hold_released(service):
    trading, ledger = service
    trading.place(BOB, limit("SELL", "30000", "0.01"), Commission())
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT_MAKER", "price": "30000", "quantity": "0.01"}
    assert rejected(lambda: trading.place(ALICE, params, Commission())) == (
        -2010, "Order would immediately match and take.")
    assert ledger.balances(str(ALICE))["USDT"] == (100_000 * UNIT, 0)


def test_query_open_orders_and_cancel(service):
    trading, ledger = service
    placed = trading.place(ALICE, limit("BUY", "29000", "0.01"), Commission())
    assert trading.query(ALICE, {"symbol": "BTCUSDT", "orderId": str(placed["orderId"])})["status"] == "NEW"
    assert [o["orderId"] for o in trading.open_orders(ALICE, {"symbol": "BTCUSDT"})] == [placed["orderId"]]
    canceled = trading.cancel(ALICE, {"symbol": "BTCUSDT", "origClientOrderId": placed["clientOrderId"]})
    assert canceled["status"] == "CANCELED"
    assert trading.open_orders(ALICE, {}) == []
    assert ledger.balances(str(ALICE))["USDT"] == (100_000 * UNIT, 0)


def test_cancel_of_an_unknown_order_is_unknown_order_sent(service):
    trading, _ = service
    assert rejected(lambda: trading.cancel(ALICE, {"symbol": "BTCUSDT", "orderId": "999"})) == (
        -2011, "Unknown order sent.")


def test_query_of_an_unknown_order_does_not_exist(service):
    trading, _ = service
    assert rejected(lambda: trading.query(ALICE, {"symbol": "BTCUSDT", "orderId": "999"})) == (
        -2013, "Order does not exist.")


def test_another_accounts_order_cannot_be_cancelled(service):
    trading, _ = service
    placed = trading.place(BOB, limit("SELL", "31000", "0.01"), Commission())
    assert rejected(lambda: trading.cancel(ALICE, {"symbol": "BTCUSDT", "orderId": str(placed["orderId"])}))[0] == -2011


def test_market_buy_on_an_empty_book_expires_without_a_hold(service):
    trading, ledger = service
    answer = trading.place(ALICE, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"},
                           Commission())
    assert answer["status"] == "EXPIRED"
    assert ledger.balances(str(ALICE))["USDT"] == (100_000 * UNIT, 0)


def test_unknown_symbol_is_invalid_symbol(service):
    trading, _ = service
    assert rejected(lambda: trading.place(ALICE, limit("BUY", "1", "1", symbol="NOPE"), Commission())) == (
        -1121, "Invalid symbol.")


def test_my_trades_lists_both_sides_with_their_commission(service):
    trading, _ = service
    trading.place(BOB, limit("SELL", "30000", "0.01"), Commission())
    trading.place(ALICE, limit("BUY", "30000", "0.01"), Commission())
    [mine] = trading.my_trades(ALICE, {"symbol": "BTCUSDT"})
    assert (mine["isBuyer"], mine["isMaker"], mine["commissionAsset"], mine["qty"]) == (True, False, "BTC", "0.01000000")
    [theirs] = trading.my_trades(BOB, {"symbol": "BTCUSDT"})
    assert (theirs["isBuyer"], theirs["isMaker"], theirs["commission"]) == (False, True, "0.30000000")


def test_cancel_replace_of_an_unknown_order_fails_with_both_results(service):
    trading, _ = service
    params = {**limit("BUY", "29000", "0.01"), "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": "77"}
    with pytest.raises(CastleError) as info:
        trading.cancel_replace(ALICE, params, Commission())
    body = info.value.to_dict()
    assert body["code"] == -2022
    assert body["data"]["newOrderResult"] == "NOT_ATTEMPTED"


def test_cancel_replace_swaps_an_open_order(service):
    trading, _ = service
    placed = trading.place(ALICE, limit("BUY", "29000", "0.01"), Commission())
    params = {**limit("BUY", "29500", "0.02"), "cancelReplaceMode": "STOP_ON_FAILURE",
              "cancelOrderId": str(placed["orderId"])}
    answer = trading.cancel_replace(ALICE, params, Commission())
    assert (answer["cancelResult"], answer["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    assert [o["price"] for o in trading.open_orders(ALICE, {"symbol": "BTCUSDT"})] == ["29500.00000000"]


def test_reconciler_rejects_an_order_whose_command_never_reached_the_engine(service):
    trading, ledger = service
    from castle.ledger import hold
    from castle.order_records import OrderRecord
    from castle.orders import PlaceOrder, Side

    lost = PlaceOrder(500, ALICE, Side.BUY, price=2_900_000, qty=1000, ts=1_600_000_000_000)
    trading.orders.create_pending(OrderRecord.pending(lost, "BTCUSDT", "lost", "USDT", 290 * UNIT),
                                  hold("hold:BTCUSDT:500", str(ALICE), "USDT", 290 * UNIT, lost.ts))
    assert ledger.balances(str(ALICE))["USDT"] == (99_710 * UNIT, 290 * UNIT)
    assert trading.reconcile() == [
        {"symbol": "BTCUSDT", "orderId": 500, "outcome": "never reached the engine: rejected"}]
    assert trading.query(ALICE, {"symbol": "BTCUSDT", "orderId": "500"})["status"] == "REJECTED"
    assert ledger.balances(str(ALICE))["USDT"] == (100_000 * UNIT, 0)
    assert trading.reconcile() == []


def test_reconciler_leaves_fresh_pending_orders_alone(service):
    trading, _ = service
    trading.place(ALICE, limit("BUY", "29000", "0.01"), Commission())
    assert trading.reconcile() == []
