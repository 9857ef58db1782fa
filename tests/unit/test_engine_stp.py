"""Self-trade prevention, decided by the taker's mode (Binance STP).

takerPreventedQuantity is the taker's remaining before STP for EXPIRE_TAKER
and EXPIRE_BOTH; makerPreventedQuantity is the maker's remaining for
EXPIRE_MAKER and EXPIRE_BOTH. Expired orders have status EXPIRED_IN_MATCH.
"""

import pytest
from castle.events import OrderExpired, PreventedMatch, TradeExecuted
from castle.orders import OrderStatus, Side, StpMode, TimeInForce

P = 3_000_000
ALICE, BOB, CAROL = 1, 2, 3
NONE, TAKER, MAKER, BOTH = StpMode.NONE, StpMode.EXPIRE_TAKER, StpMode.EXPIRE_MAKER, StpMode.EXPIRE_BOTH


@pytest.fixture
def own_ask(desk):
    """ALICE offers 300 at P."""
    return desk.sell(P, 300)


def expired(result, order_id):
    return [e for e in result.of(OrderExpired) if e.order_id == order_id]


def test_stp_none_lets_an_account_trade_with_itself(desk, own_ask):
    trade = desk.buy(P, 100, stp=NONE).one(TradeExecuted)
    assert (trade.maker_account, trade.taker_account) == (ALICE, ALICE)


@pytest.mark.parametrize("mode", [TAKER, MAKER, BOTH])
def test_stp_prevents_the_trade(desk, own_ask, mode):
    result = desk.buy(P, 100, stp=mode)
    assert not result.of(TradeExecuted)
    assert result.one(PreventedMatch).mode == str(mode)


def test_stp_is_on_by_default_as_expire_maker(desk, own_ask):
    result = desk.buy(P, 100)
    assert result.one(PreventedMatch).mode == "EXPIRE_MAKER"


def test_expire_taker_expires_the_taker_in_match(desk, own_ask):
    taker = desk.buy(P, 100, stp=TAKER)
    (event,) = expired(taker, taker.order_id)
    assert (event.status, event.expired_qty, event.prevented_qty) == (OrderStatus.EXPIRED_IN_MATCH, 100, 100)


def test_expire_taker_leaves_the_maker_in_the_book(desk, own_ask):
    desk.buy(P, 100, stp=TAKER)
    assert desk.depth() == ([], [(P, 300)])


def test_expire_taker_reports_the_takers_remaining_as_prevented(desk, own_ask):
    match = desk.buy(P, 100, stp=TAKER).one(PreventedMatch)
    assert (match.taker_order_id, match.maker_order_id, match.price) == (2, own_ask.order_id, P)
    assert (match.taker_prevented_qty, match.maker_prevented_qty) == (100, 0)


def test_expire_maker_expires_the_maker_in_match(desk, own_ask):
    result = desk.buy(P, 100, stp=MAKER)
    (event,) = expired(result, own_ask.order_id)
    assert (event.status, event.expired_qty, event.prevented_qty) == (OrderStatus.EXPIRED_IN_MATCH, 300, 300)
    assert own_ask.order_id not in desk.open_ids()


def test_expire_maker_reports_the_makers_remaining_as_prevented(desk, own_ask):
    match = desk.buy(P, 100, stp=MAKER).one(PreventedMatch)
    assert (match.taker_prevented_qty, match.maker_prevented_qty) == (0, 300)


def test_expire_maker_lets_the_taker_go_on_to_other_makers(desk, own_ask):
    other = desk.sell(P, 100, account=BOB)
    taken = desk.buy(P, 100, stp=MAKER)
    assert [(t.maker_order_id, t.qty) for t in taken.of(TradeExecuted)] == [(other.order_id, 100)]


def test_expire_maker_taker_rests_its_remainder(desk, own_ask):
    desk.buy(P, 100, stp=MAKER)
    assert desk.depth() == ([(P, 100)], [])


def test_expire_both_expires_taker_and_maker(desk, own_ask):
    taker = desk.buy(P, 100, stp=BOTH)
    assert {e.order_id for e in taker.of(OrderExpired)} == {own_ask.order_id, taker.order_id}
    assert all(e.status is OrderStatus.EXPIRED_IN_MATCH for e in taker.of(OrderExpired))
    assert desk.depth() == ([], [])


def test_expire_both_reports_both_remainders_as_prevented(desk, own_ask):
    match = desk.buy(P, 100, stp=BOTH).one(PreventedMatch)
    assert (match.taker_prevented_qty, match.maker_prevented_qty) == (100, 300)


def test_the_takers_mode_decides_not_the_makers(desk):
    maker = desk.sell(P, 100, stp=TAKER)
    result = desk.buy(P, 100, stp=MAKER)
    assert [e.order_id for e in result.of(OrderExpired)] == [maker.order_id]


def test_stp_applies_only_within_one_account(desk, own_ask):
    assert desk.buy(P, 100, account=BOB, stp=BOTH).one(TradeExecuted).maker_order_id == own_ask.order_id


def test_taker_prevented_qty_is_what_remained_after_earlier_fills(desk):
    desk.sell(P, 40, account=BOB)
    desk.sell(P, 100)
    match = desk.buy(P, 100, stp=TAKER).one(PreventedMatch)
    assert match.taker_prevented_qty == 60


def test_maker_prevented_qty_is_the_makers_remaining_after_partial_fills(desk, own_ask):
    desk.buy(P, 100, account=BOB)
    assert desk.buy(P, 10, stp=MAKER).one(PreventedMatch).maker_prevented_qty == 200


def test_expire_maker_on_an_iceberg_expires_its_hidden_part_too(desk):
    iceberg = desk.sell(P, 1000, iceberg_qty=100)
    result = desk.buy(P, 10, stp=MAKER)
    assert result.one(PreventedMatch).maker_prevented_qty == 1000
    assert expired(result, iceberg.order_id)[0].expired_qty == 1000


def test_expire_maker_expires_each_own_maker_it_meets(desk):
    first = desk.sell(P, 100)
    second = desk.sell(P + 1, 100)
    result = desk.buy(P + 1, 100, stp=MAKER)
    assert [m.maker_order_id for m in result.of(PreventedMatch)] == [first.order_id, second.order_id]
    assert desk.depth() == ([(P + 1, 100)], [])


def test_prevented_match_ids_count_up(desk):
    desk.sell(P, 100)
    desk.sell(P + 1, 100)
    result = desk.buy(P + 1, 100, stp=MAKER)
    assert [m.prevented_match_id for m in result.of(PreventedMatch)] == [1, 2]


def test_expire_taker_ioc_expires_in_match_not_plain_expired(desk, own_ask):
    taker = desk.buy(P, 100, stp=TAKER, tif=TimeInForce.IOC)
    assert [e.status for e in expired(taker, taker.order_id)] == [OrderStatus.EXPIRED_IN_MATCH]


def test_expire_taker_market_order_expires_in_match(desk, own_ask):
    taker = desk.market(Side.BUY, 100, stp=TAKER)
    (event,) = expired(taker, taker.order_id)
    assert (event.status, event.expired_qty) == (OrderStatus.EXPIRED_IN_MATCH, 100)


def test_expire_taker_quote_order_never_reports_more_prevented_than_its_budget_could_buy(desk, own_ask):
    budget = P * 50
    match = desk.market(Side.BUY, quote_qty=budget, stp=TAKER).one(PreventedMatch)
    assert 0 <= match.taker_prevented_qty <= budget // P


def test_expire_taker_quote_order_expires_in_match(desk, own_ask):
    taker = desk.market(Side.BUY, quote_qty=P * 50, stp=TAKER)
    assert [e.status for e in expired(taker, taker.order_id)] == [OrderStatus.EXPIRED_IN_MATCH]
