"""LIMIT_MAKER: rests as a maker or is rejected whole (Binance -2010)."""

import pytest
from castle.events import OrderAccepted, OrderRejected, TradeExecuted
from castle.orders import OrderType, Side

P = 3_000_000
ALICE, BOB, CAROL = 1, 2, 3
WOULD_TAKE = (-2010, "Order would immediately match and take.")


@pytest.fixture
def spread(desk):
    """BOB bids P-1 and offers P+1."""
    desk.buy(P - 1, 100, account=BOB)
    desk.sell(P + 1, 100, account=BOB)
    return desk


def maker(desk, side, price, qty=100):
    return desk.place(side, price=price, qty=qty, type=OrderType.LIMIT_MAKER)


@pytest.mark.parametrize(
    ("side", "price"), [(Side.BUY, P + 1), (Side.BUY, P + 5), (Side.SELL, P - 1), (Side.SELL, P - 5)]
)
def test_limit_maker_that_would_cross_is_rejected(spread, side, price):
    rejected = maker(spread, side, price).one(OrderRejected)
    assert (rejected.code, rejected.msg) == WOULD_TAKE


def test_rejected_limit_maker_leaves_book_untouched(spread):
    before = spread.depth()
    result = maker(spread, Side.BUY, P + 1)
    assert not result.of(TradeExecuted)
    assert spread.depth() == before


@pytest.mark.parametrize(("side", "price"), [(Side.BUY, P), (Side.SELL, P)])
def test_limit_maker_inside_the_spread_rests(spread, side, price):
    assert maker(spread, side, price).kinds() == ["OrderAccepted"]
    assert price in [p for p, _ in (spread.depth()[0] if side is Side.BUY else spread.depth()[1])]


def test_limit_maker_on_an_empty_opposite_side_rests(desk):
    maker(desk, Side.SELL, P)
    assert desk.depth() == ([], [(P, 100)])


def test_rested_limit_maker_fills_as_a_maker(spread):
    placed = maker(spread, Side.SELL, P)
    trade = spread.buy(P, 100, account=CAROL).one(TradeExecuted)
    assert trade.maker_order_id == placed.order_id


def test_limit_maker_is_accepted_at_the_same_price_as_its_own_side(spread):
    assert maker(spread, Side.BUY, P - 1).of(OrderAccepted)
