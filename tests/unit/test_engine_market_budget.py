"""A MARKET order by quantity may carry a quote budget (what the gateway held) and never spends more."""

from __future__ import annotations

from castle.events import OrderExpired, TradeExecuted
from castle.orders import OrderStatus, Side

from tests.unit.conftest import BOB, P


def test_market_buy_with_enough_budget_fills_its_quantity(desk):
    desk.sell(P, 300, account=BOB)
    result = desk.market(Side.BUY, 300, quote_qty=P * 300)
    assert [t.qty for t in result.of(TradeExecuted)] == [300]
    assert not result.of(OrderExpired)


def test_market_buy_stops_when_its_budget_is_spent(desk):
    desk.sell(P, 100, account=BOB)
    desk.sell(P + 10, 200, account=BOB)
    result = desk.market(Side.BUY, 300, quote_qty=P * 100 + (P + 10) * 50)
    assert [(t.price, t.qty) for t in result.of(TradeExecuted)] == [(P, 100), (P + 10, 50)]
    expired = result.one(OrderExpired)
    assert (expired.expired_qty, expired.status) == (150, OrderStatus.EXPIRED)


def test_market_buy_with_budget_reports_its_remaining_quantity(desk):
    desk.sell(P, 100, account=BOB)
    desk.sell(P, 100, account=BOB)
    trades = desk.market(Side.BUY, 150, quote_qty=P * 150).of(TradeExecuted)
    assert [t.taker_remaining for t in trades] == [50, 0]


def test_budget_never_overspent_over_many_levels(desk):
    for i in range(10):
        desk.sell(P + i, 37, account=BOB)
    budget = P * 200
    trades = desk.market(Side.BUY, 370, quote_qty=budget).of(TradeExecuted)
    assert sum(t.price * t.qty for t in trades) <= budget
