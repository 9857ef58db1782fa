"""Stop orders, triggered by the last trade price (Binance).

BUY STOP_LOSS: last >= stop; SELL STOP_LOSS: last <= stop;
BUY TAKE_PROFIT: last <= stop; SELL TAKE_PROFIT: last >= stop.
The *_LIMIT variants behave alike and then work as LIMIT orders.
"""

import pytest
from castle.events import OrderAccepted, OrderCanceled, OrderRejected, StopTriggered, TradeExecuted
from castle.orders import OrderType, Side, TimeInForce

P = 3_000_000
ALICE, BOB, CAROL = 1, 2, 3
BUY, SELL = Side.BUY, Side.SELL
SL, SLL, TP, TPL = OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT
UP, DOWN = P + 10, P - 10

# (side, type, stop price, the trade price that triggers it)
TRIGGERS = [
    (BUY, SL, UP, UP),
    (BUY, SLL, UP, UP),
    (SELL, SL, DOWN, DOWN),
    (SELL, SLL, DOWN, DOWN),
    (BUY, TP, DOWN, DOWN),
    (BUY, TPL, DOWN, DOWN),
    (SELL, TP, UP, UP),
    (SELL, TPL, UP, UP),
]


@pytest.fixture
def traded(desk):
    """The last trade price is P."""
    desk.trade_at(P)
    return desk


def place_stop(desk, side, type, stop_price, qty=100, price=None):
    if type in (SLL, TPL) and price is None:
        price = stop_price
    return desk.stop(side, type, stop_price, qty=qty, price=price)


def move_to(desk, price):
    """BOB and CAROL trade at `price`, on whichever side of P it is."""
    desk.trade_at(price) if price >= P else trade_down(desk, price)


def trade_down(desk, price):
    desk.buy(price, 100, account=BOB)
    desk.sell(price, 100, account=CAROL)


def triggered_ids(desk, price):
    """Move the last price and return the ids of the stops that triggered."""
    if price >= P:
        desk.sell(price, 100, account=BOB)
        events = desk.buy(price, 100, account=CAROL).of(StopTriggered)
    else:
        desk.buy(price, 100, account=BOB)
        events = desk.sell(price, 100, account=CAROL).of(StopTriggered)
    return [e.order_id for e in events]


@pytest.mark.parametrize(("side", "type", "stop", "trigger"), TRIGGERS)
def test_stop_parks_without_trading(traded, side, type, stop, trigger):
    placed = place_stop(traded, side, type, stop)
    assert placed.kinds() == ["OrderAccepted"]
    assert traded.engine.open_orders(ALICE) == []


@pytest.mark.parametrize(("side", "type", "stop", "trigger"), TRIGGERS)
def test_stop_triggers_when_the_last_price_reaches_it(traded, side, type, stop, trigger):
    placed = place_stop(traded, side, type, stop)
    assert triggered_ids(traded, trigger) == [placed.order_id]


@pytest.mark.parametrize(("side", "type", "stop", "trigger"), TRIGGERS)
def test_stop_does_not_trigger_when_the_price_moves_away(traded, side, type, stop, trigger):
    place_stop(traded, side, type, stop)
    away = P - 5 if trigger > P else P + 5
    assert triggered_ids(traded, away) == []


@pytest.mark.parametrize(("side", "type", "stop", "trigger"), TRIGGERS)
def test_stop_does_not_trigger_one_tick_short(traded, side, type, stop, trigger):
    place_stop(traded, side, type, stop)
    short = trigger - 1 if trigger > P else trigger + 1
    assert triggered_ids(traded, short) == []


# (side, type, stop price already met by the last price P)
ALREADY_MET = [(BUY, SL, P), (BUY, SLL, P - 1), (SELL, SL, P), (SELL, SLL, P + 1),
               (BUY, TP, P), (BUY, TPL, P + 1), (SELL, TP, P), (SELL, TPL, P - 1)]  # fmt: skip


@pytest.mark.parametrize(("side", "type", "stop"), ALREADY_MET)
def test_stop_already_met_at_placement_is_rejected(traded, side, type, stop):
    rejected = place_stop(traded, side, type, stop).one(OrderRejected)
    assert (rejected.code, rejected.msg) == (-2010, "Order would trigger immediately.")


def test_stop_before_any_trade_parks(desk):
    assert place_stop(desk, BUY, SL, P).of(OrderAccepted)


def test_triggered_event_comes_before_the_stops_trades(traded):
    placed = place_stop(traded, SELL, SL, DOWN)
    traded.buy(DOWN, 300, account=BOB)
    events = traded.sell(DOWN, 100, account=CAROL).events
    kinds = [(type(e).__name__, getattr(e, "order_id", getattr(e, "taker_order_id", None))) for e in events]
    at = kinds.index(("StopTriggered", placed.order_id))
    assert ("TradeExecuted", placed.order_id) in kinds[at + 1 :]
    assert ("TradeExecuted", placed.order_id) not in kinds[:at]


def test_triggered_stop_loss_works_as_a_market_order(traded):
    placed = place_stop(traded, SELL, SL, DOWN, qty=150)
    traded.buy(DOWN, 300, account=BOB)
    events = traded.sell(DOWN, 100, account=CAROL)
    mine = [t for t in events.of(TradeExecuted) if t.taker_order_id == placed.order_id]
    assert [(t.price, t.qty) for t in mine] == [(DOWN, 150)]


def test_triggered_stop_limit_rests_at_its_limit_price_when_it_cannot_fill(traded):
    placed = place_stop(traded, BUY, SLL, UP, price=UP - 3)
    move_to(traded, UP)
    (order,) = traded.engine.open_orders(ALICE)
    assert (order.id, order.price, order.remaining) == (placed.order_id, UP - 3, 100)


def test_triggered_stop_limit_honours_its_time_in_force(traded):
    traded.stop(BUY, SLL, UP, qty=100, price=UP - 3, tif=TimeInForce.IOC)
    move_to(traded, UP)
    assert traded.engine.open_orders(ALICE) == []


def test_stops_run_in_the_order_they_trigger(traded):
    far = place_stop(traded, BUY, SL, P + 2)
    near = place_stop(traded, BUY, SL, P + 1)
    traded.sell(P + 1, 100, account=BOB)
    traded.sell(P + 2, 100, account=BOB)
    traded.sell(P + 3, 500, account=BOB)
    swept = traded.buy(P + 2, 200, account=CAROL)
    assert [e.order_id for e in swept.of(StopTriggered)] == [near.order_id, far.order_id]


def test_stops_at_one_price_run_first_placed_first(traded):
    first = place_stop(traded, SELL, SL, DOWN)
    second = place_stop(traded, SELL, SL, DOWN)
    traded.buy(DOWN, 500, account=BOB)
    assert [e.order_id for e in traded.sell(DOWN, 100, account=CAROL).of(StopTriggered)] == [
        first.order_id,
        second.order_id,
    ]


def test_a_triggered_stop_can_trigger_another(traded):
    first = place_stop(traded, SELL, SL, DOWN)
    second = place_stop(traded, SELL, SL, DOWN - 1)
    traded.buy(DOWN, 100, account=BOB)
    traded.buy(DOWN - 1, 100, account=BOB)
    # CAROL trades at DOWN; the first stop sells into DOWN-1, which triggers the second.
    events = traded.sell(DOWN, 100, account=CAROL)
    assert [e.order_id for e in events.of(StopTriggered)] == [first.order_id, second.order_id]


def test_stop_triggered_event_carries_the_last_price(traded):
    place_stop(traded, SELL, SL, DOWN)
    traded.buy(DOWN, 200, account=BOB)
    assert traded.sell(DOWN, 100, account=CAROL).one(StopTriggered).last_price == DOWN


def test_canceled_stop_does_not_trigger(traded):
    placed = place_stop(traded, BUY, SL, UP)
    assert traded.cancel(placed.order_id).one(OrderCanceled).canceled_qty == 100
    assert triggered_ids(traded, UP) == []


def test_triggered_stop_cannot_be_canceled_as_a_stop_any_more(traded):
    placed = place_stop(traded, BUY, SL, UP)
    move_to(traded, UP)
    assert traded.cancel(placed.order_id).one(OrderRejected).code == -2011
