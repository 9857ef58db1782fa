"""Order statuses (Binance): NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, EXPIRED_IN_MATCH."""

import pytest
from castle.events import OrderCanceled, OrderExpired, TradeExecuted
from castle.orders import FINAL_STATUSES, OrderStatus, Side, StpMode, TimeInForce, can_transition

P = 3_000_000
ALICE, BOB, CAROL = 1, 2, 3
S = OrderStatus


def only_order(desk):
    (order,) = desk.engine.open_orders()
    return order


def test_resting_order_is_new(desk):
    desk.buy(P, 100)
    assert only_order(desk).status is S.NEW


def test_partly_filled_resting_order_is_partially_filled(desk):
    desk.buy(P, 100)
    desk.sell(P, 40, account=BOB)
    assert only_order(desk).status is S.PARTIALLY_FILLED


def test_order_whose_remaining_hits_zero_is_filled_and_leaves_the_book(desk):
    maker = desk.buy(P, 100)
    trade = desk.sell(P, 100, account=BOB).one(TradeExecuted)
    assert (trade.maker_order_id, trade.maker_remaining, trade.taker_remaining) == (maker.order_id, 0, 0)
    assert desk.engine.open_orders() == []


def test_canceled_order_reports_canceled(desk):
    placed = desk.buy(P, 100)
    assert desk.cancel(placed.order_id).one(OrderCanceled).order_id == placed.order_id


def test_unfilled_ioc_is_expired(desk):
    assert desk.buy(P, 100, tif=TimeInForce.IOC).one(OrderExpired).status is S.EXPIRED


def test_self_trade_prevented_taker_is_expired_in_match(desk):
    desk.sell(P, 100)
    assert desk.buy(P, 100, stp=StpMode.EXPIRE_TAKER).one(OrderExpired).status is S.EXPIRED_IN_MATCH


def test_market_remainder_is_expired(desk):
    assert desk.market(Side.BUY, 100).one(OrderExpired).status is S.EXPIRED


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.PENDING_NEW, S.NEW),
        (S.PENDING_NEW, S.REJECTED),
        (S.NEW, S.PARTIALLY_FILLED),
        (S.NEW, S.FILLED),
        (S.NEW, S.CANCELED),
        (S.NEW, S.EXPIRED),
        (S.NEW, S.EXPIRED_IN_MATCH),
        (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
        (S.PARTIALLY_FILLED, S.FILLED),
        (S.PARTIALLY_FILLED, S.CANCELED),
        (S.PARTIALLY_FILLED, S.EXPIRED_IN_MATCH),
    ],
)
def test_live_order_can_move_forward(old, new):
    assert can_transition(old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [(S.PARTIALLY_FILLED, S.NEW), (S.NEW, S.PENDING_NEW), (S.NEW, S.REJECTED), (S.NEW, S.NEW)],
)
def test_order_never_moves_backward(old, new):
    assert not can_transition(old, new)


@pytest.mark.parametrize("final", sorted(FINAL_STATUSES))
@pytest.mark.parametrize("new", list(S))
def test_final_status_is_terminal(final, new):
    assert not can_transition(final, new)


def test_final_statuses_are_exactly_binances_terminal_ones():
    assert {s for s in S if s.is_final} == {S.FILLED, S.CANCELED, S.EXPIRED, S.EXPIRED_IN_MATCH, S.REJECTED}
