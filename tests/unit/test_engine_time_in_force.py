"""GTC, IOC and FOK (Binance: FOK fills fully or leaves no trace in the book)."""

import pytest
from castle.events import OrderExpired, TradeExecuted
from castle.orders import OrderStatus, TimeInForce

P = 3_000_000
ALICE, BOB, CAROL = 1, 2, 3
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK


@pytest.fixture
def asks(desk):
    """BOB offers 100 at P and 100 at P+1."""
    desk.sell(P, 100, account=BOB)
    desk.sell(P + 1, 100, account=BOB)
    return desk


def book_state(desk):
    return desk.depth(), [(o.id, o.remaining, o.visible) for o in desk.engine.book.orders()]


def test_gtc_remainder_rests(asks):
    asks.buy(P, 150, tif=GTC)
    assert asks.depth() == ([(P, 50)], [(P + 1, 100)])


def test_ioc_fills_what_it_can_and_expires_the_rest(asks):
    taken = asks.buy(P, 150, tif=IOC)
    assert sum(t.qty for t in taken.of(TradeExecuted)) == 100
    expired = taken.one(OrderExpired)
    assert (expired.expired_qty, expired.status) == (50, OrderStatus.EXPIRED)


def test_ioc_never_rests(asks):
    asks.buy(P, 150, tif=IOC)
    assert asks.depth() == ([], [(P + 1, 100)])


def test_ioc_with_nothing_to_match_expires_whole(asks):
    taken = asks.buy(P - 1, 100, tif=IOC)
    assert taken.kinds() == ["OrderAccepted", "OrderExpired"]
    assert taken.one(OrderExpired).expired_qty == 100


def test_ioc_that_fills_fully_does_not_expire(asks):
    assert not asks.buy(P + 1, 200, tif=IOC).of(OrderExpired)


def test_fok_that_can_fill_fills_across_levels(asks):
    taken = asks.buy(P + 1, 200, tif=FOK)
    assert [(t.price, t.qty) for t in taken.of(TradeExecuted)] == [(P, 100), (P + 1, 100)]
    assert not taken.of(OrderExpired)


def test_fok_that_cannot_fill_expires_whole(asks):
    taken = asks.buy(P + 1, 201, tif=FOK)
    assert taken.kinds() == ["OrderAccepted", "OrderExpired"]
    expired = taken.one(OrderExpired)
    assert (expired.expired_qty, expired.status) == (201, OrderStatus.EXPIRED)


def test_fok_that_cannot_fill_leaves_book_untouched(asks):
    before = book_state(asks)
    asks.buy(P + 1, 201, tif=FOK)
    assert book_state(asks) == before


def test_fok_does_not_count_liquidity_beyond_its_price(asks):
    assert not asks.buy(P, 101, tif=FOK).of(TradeExecuted)


def test_fok_sell_fills_against_bids(desk):
    desk.buy(P, 100, account=BOB)
    desk.buy(P - 1, 100, account=BOB)
    assert sum(t.qty for t in desk.sell(P - 1, 200, tif=FOK).of(TradeExecuted)) == 200


def test_fok_sell_that_cannot_fill_leaves_book_untouched(desk):
    desk.buy(P, 100, account=BOB)
    before = book_state(desk)
    desk.sell(P, 101, tif=FOK)
    assert book_state(desk) == before


def test_fok_on_an_empty_book_expires(desk):
    assert desk.sell(P, 1, tif=FOK).one(OrderExpired).expired_qty == 1


def test_fok_that_cannot_fill_does_not_move_the_sequence_of_trade_ids(asks):
    asks.buy(P + 1, 201, tif=FOK)
    assert asks.buy(P, 10).one(TradeExecuted).trade_id == 1
