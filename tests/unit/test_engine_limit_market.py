"""LIMIT and MARKET orders: price-time priority, crossing, partial fills, quote budgets."""

from castle.events import OrderAccepted, OrderExpired, TradeExecuted
from castle.orders import OrderStatus, Side

P = 3_000_000
ALICE, BOB, CAROL = 1, 2, 3


def fills(result):
    """(maker id, price, qty) of each trade, in order."""
    return [(t.maker_order_id, t.price, t.qty) for t in result.of(TradeExecuted)]


def test_limit_order_that_does_not_cross_rests_in_the_book(desk):
    placed = desk.buy(P, 100)
    assert placed.kinds() == ["OrderAccepted"]
    assert desk.depth() == ([(P, 100)], [])


def test_accepted_event_echoes_the_order(desk):
    accepted = desk.sell(P, 250, account=BOB).one(OrderAccepted)
    assert (accepted.order_id, accepted.account, accepted.side, accepted.price, accepted.qty) == (
        1,
        BOB,
        Side.SELL,
        P,
        250,
    )


def test_depth_aggregates_orders_per_level_best_first(desk):
    desk.buy(P - 2, 100)
    desk.buy(P - 1, 100)
    desk.buy(P - 1, 50)
    desk.sell(P + 2, 100)
    desk.sell(P + 1, 70)
    assert desk.depth() == ([(P - 1, 150), (P - 2, 100)], [(P + 1, 70), (P + 2, 100)])


def test_better_price_fills_first(desk):
    worse = desk.sell(P + 1, 100, account=BOB)
    better = desk.sell(P, 100, account=BOB)
    taken = desk.buy(P + 1, 150)
    assert fills(taken) == [(better.order_id, P, 100), (worse.order_id, P + 1, 50)]


def test_orders_at_one_price_fill_first_in_first_out(desk):
    first = desk.sell(P, 100, account=BOB)
    second = desk.sell(P, 100, account=CAROL)
    taken = desk.buy(P, 150)
    assert fills(taken) == [(first.order_id, P, 100), (second.order_id, P, 50)]


def test_crossing_limit_trades_at_the_makers_price(desk):
    desk.sell(P, 100, account=BOB)
    assert desk.buy(P + 5, 100).one(TradeExecuted).price == P


def test_crossing_limit_does_not_trade_beyond_its_own_price(desk):
    desk.sell(P, 100, account=BOB)
    desk.sell(P + 2, 100, account=BOB)
    taken = desk.buy(P + 1, 200)
    assert [t.price for t in taken.of(TradeExecuted)] == [P]
    assert desk.depth() == ([(P + 1, 100)], [(P + 2, 100)])


def test_trade_reports_both_sides_remainders_after_the_fill(desk):
    maker = desk.sell(P, 300, account=BOB)
    trade = desk.buy(P, 100, account=ALICE).one(TradeExecuted)
    assert (trade.maker_order_id, trade.maker_account, trade.maker_remaining) == (maker.order_id, BOB, 200)
    assert (trade.taker_account, trade.taker_remaining, trade.taker_side) == (ALICE, 0, Side.BUY)
    assert not trade.is_buyer_maker


def test_sell_taker_makes_the_buyer_the_maker(desk):
    desk.buy(P, 100, account=BOB)
    assert desk.sell(P, 100).one(TradeExecuted).is_buyer_maker


def test_partially_filled_taker_rests_its_remainder_at_its_price(desk):
    desk.sell(P, 100, account=BOB)
    taker = desk.buy(P + 1, 300)
    assert desk.depth() == ([(P + 1, 200)], [])
    (order,) = desk.engine.open_orders(ALICE)
    assert (order.id, order.remaining, order.status) == (taker.order_id, 200, OrderStatus.PARTIALLY_FILLED)


def test_partially_filled_maker_keeps_its_place_at_the_front(desk):
    first = desk.sell(P, 300, account=BOB)
    desk.sell(P, 100, account=CAROL)
    desk.buy(P, 100)
    assert fills(desk.buy(P, 100)) == [(first.order_id, P, 100)]


def test_trade_ids_count_up_by_one_across_commands(desk):
    desk.sell(P, 100, account=BOB)
    desk.sell(P + 1, 100, account=BOB)
    first = desk.buy(P, 50)
    second = desk.buy(P + 1, 150)
    assert [t.trade_id for t in first.of(TradeExecuted) + second.of(TradeExecuted)] == [1, 2, 3]


def test_market_buy_sweeps_levels_until_its_quantity_is_filled(desk):
    desk.sell(P, 100, account=BOB)
    desk.sell(P + 1, 100, account=BOB)
    desk.sell(P + 2, 100, account=BOB)
    taken = desk.market(Side.BUY, 250)
    assert [(t.price, t.qty) for t in taken.of(TradeExecuted)] == [(P, 100), (P + 1, 100), (P + 2, 50)]
    assert not taken.of(OrderExpired)


def test_market_sell_takes_the_highest_bids_first(desk):
    desk.buy(P - 1, 100, account=BOB)
    desk.buy(P, 100, account=BOB)
    taken = desk.market(Side.SELL, 150)
    assert [(t.price, t.qty) for t in taken.of(TradeExecuted)] == [(P, 100), (P - 1, 50)]


def test_market_order_remainder_expires_when_the_book_runs_out(desk):
    desk.sell(P, 100, account=BOB)
    expired = desk.market(Side.BUY, 250).one(OrderExpired)
    assert (expired.expired_qty, expired.status) == (150, OrderStatus.EXPIRED)
    assert desk.depth() == ([], [])


def test_market_order_into_an_empty_book_expires_whole(desk):
    expired = desk.market(Side.SELL, 100).one(OrderExpired)
    assert (expired.expired_qty, expired.status) == (100, OrderStatus.EXPIRED)


def test_market_order_never_rests(desk):
    desk.market(Side.BUY, 100)
    assert desk.engine.open_orders() == []


def test_market_by_quote_qty_spends_at_most_its_budget_in_whole_lots(desk):
    desk.sell(P, 100, account=BOB)
    desk.sell(P + 1, 100, account=BOB)
    budget = P * 150  # in tick*lot units: 100 lots at P, then 50*P buys 49 lots at P+1
    taken = desk.market(Side.BUY, quote_qty=budget)
    trades = [(t.price, t.qty) for t in taken.of(TradeExecuted)]
    assert trades == [(P, 100), (P + 1, 49)]
    assert sum(p * q for p, q in trades) <= budget


def test_market_by_quote_qty_that_spends_its_budget_exactly_does_not_expire(desk):
    desk.sell(P, 200, account=BOB)
    taken = desk.market(Side.BUY, quote_qty=P * 100)
    assert [(t.price, t.qty) for t in taken.of(TradeExecuted)] == [(P, 100)]
    assert not taken.of(OrderExpired)


def test_market_by_quote_qty_expires_when_liquidity_runs_out_first(desk):
    desk.sell(P, 100, account=BOB)
    taken = desk.market(Side.BUY, quote_qty=P * 500)
    assert sum(t.qty for t in taken.of(TradeExecuted)) == 100
    assert taken.one(OrderExpired).status == OrderStatus.EXPIRED


def test_market_by_quote_qty_smaller_than_one_lot_trades_nothing(desk):
    desk.sell(P, 100, account=BOB)
    taken = desk.market(Side.BUY, quote_qty=P - 1)
    assert not taken.of(TradeExecuted)
    assert desk.depth() == ([], [(P, 100)])


def test_market_sell_by_quote_qty_receives_at_most_its_budget(desk):
    desk.buy(P, 100, account=BOB)
    desk.buy(P - 1, 100, account=BOB)
    budget = P * 100 + (P - 1) * 30 + 7
    taken = desk.market(Side.SELL, quote_qty=budget)
    assert [(t.price, t.qty) for t in taken.of(TradeExecuted)] == [(P, 100), (P - 1, 30)]
