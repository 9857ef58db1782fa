"""Iceberg orders: the book shows one slice; a refreshed slice joins the back of its level."""

import pytest
from castle.events import OrderExpired, TradeExecuted
from castle.orders import Side, TimeInForce

P = 3_000_000
ALICE, BOB, CAROL = 1, 2, 3


@pytest.fixture
def iceberg(desk):
    """BOB offers 1000 at P showing 100 at a time."""
    return desk.sell(P, 1000, account=BOB, iceberg_qty=100)


def test_iceberg_shows_only_its_visible_slice_in_depth(desk, iceberg):
    assert desk.depth() == ([], [(P, 100)])


def test_iceberg_shows_the_next_slice_after_one_is_taken(desk, iceberg):
    desk.buy(P, 100)
    assert desk.depth() == ([], [(P, 100)])


def test_iceberg_partly_taken_slice_shows_what_is_left_of_it(desk, iceberg):
    desk.buy(P, 30)
    assert desk.depth() == ([], [(P, 70)])


def test_refreshed_slice_goes_to_the_back_of_the_queue(desk, iceberg):
    plain = desk.sell(P, 100, account=CAROL)
    taken = desk.buy(P, 150)
    assert [(t.maker_order_id, t.qty) for t in taken.of(TradeExecuted)] == [
        (iceberg.order_id, 100),
        (plain.order_id, 50),
    ]


def test_hidden_quantity_fills_slice_by_slice_in_one_sweep(desk, iceberg):
    taken = desk.buy(P, 350)
    assert [t.qty for t in taken.of(TradeExecuted)] == [100, 100, 100, 50]
    assert desk.depth() == ([], [(P, 50)])


def test_last_slice_is_what_remains(desk):
    desk.sell(P, 250, account=BOB, iceberg_qty=100)
    taken = desk.buy(P, 250)
    assert [t.qty for t in taken.of(TradeExecuted)] == [100, 100, 50]
    assert desk.depth() == ([], [])


def test_iceberg_maker_remaining_counts_the_hidden_part(desk, iceberg):
    assert desk.buy(P, 100).one(TradeExecuted).maker_remaining == 900


def test_fok_counts_the_hidden_quantity_of_an_iceberg(desk, iceberg):
    taken = desk.buy(P, 1000, tif=TimeInForce.FOK)
    assert sum(t.qty for t in taken.of(TradeExecuted)) == 1000
    assert not taken.of(OrderExpired)


def test_iceberg_taker_rests_its_remainder_showing_one_slice(desk):
    desk.sell(P, 100, account=BOB)
    desk.buy(P, 1000, iceberg_qty=200)
    assert desk.depth() == ([(P, 200)], [])
    (order,) = desk.engine.open_orders(ALICE)
    assert (order.remaining, order.visible) == (900, 200)


def test_iceberg_whose_slice_covers_the_whole_order_shows_it_all(desk):
    desk.place(Side.SELL, account=BOB, price=P, qty=100, iceberg_qty=500)
    assert desk.depth() == ([], [(P, 100)])


def test_canceling_an_iceberg_removes_its_visible_slice_from_depth(desk, iceberg):
    desk.sell(P, 40, account=CAROL)
    desk.cancel(iceberg.order_id, account=BOB)
    assert desk.depth() == ([], [(P, 40)])
