"""castle.futures.margin: uPnL, margins, available balance, open-order margin and isolated-margin limits.

Hand-computed tables in USDT; each shows the exact amount passing and one unit (1e-8) more failing.
"""

from __future__ import annotations

import pytest
from castle.errors import CastleError
from castle.futures.brackets import default_brackets
from castle.futures.margin import (
    Account,
    MarginType,
    OpenOrder,
    PositionRisk,
    check_add_isolated_margin,
    check_margin_type_change,
    check_reduce_isolated_margin,
    initial_margin,
    is_opening_order,
    liquidatable,
    margin_ratio,
    margin_requirement,
    max_removable_isolated_margin,
    open_order_margin,
    order_cost,
    unrealized_pnl,
)
from castle.futures.positions import Position, PositionSide, apply_fill
from castle.symbols import units

BTC = default_brackets().get("BTCUSDT")
ETH = default_brackets().get("ETHUSDT")
BOTH, LONG, SHORT = PositionSide.BOTH, PositionSide.LONG, PositionSide.SHORT


def position(qty: str, price: str, symbol: str = "BTCUSDT", side: PositionSide = BOTH) -> Position:
    p = Position(symbol, side)
    q = units(qty.lstrip("-"))
    apply_fill(p, not qty.startswith("-"), q, units(price))
    return p


def code(fn, *args) -> int | None:
    try:
        fn(*args)
    except CastleError as e:
        return e.code
    return None


def test_unrealized_pnl_matches_binances_sample():
    """positionRisk sample: 0.003 * (43196.3 - 43064.5) = 0.3954."""
    assert unrealized_pnl(position("0.003", "43064.5"), units("43196.3")) == units("0.3954")


def test_unrealized_pnl_of_a_short_and_its_rounding_down():
    assert unrealized_pnl(position("-0.1", "60000"), units("59000")) == units("100")
    p = position("0.00000001", "60000")  # one base unit: mark moves of under 1e-8 USDT round down
    assert unrealized_pnl(p, units("60000.5")) == 0
    assert unrealized_pnl(p, units("59999.5")) == -1


def test_initial_margin_is_notional_over_leverage_rounded_up():
    assert initial_margin(units("6000"), 10) == units("600")
    assert initial_margin(units("100"), 3) == units("33.33333334")


def test_available_balance_over_the_whole_account_and_the_minus_2019_edge():
    cross = PositionRisk(position("0.1", "60000"), units("61000"), 10, BTC)  # uPnL +100, IM 610
    isolated = PositionRisk(position("-1", "3000", "ETHUSDT"), units("3000"), 10, ETH,
                            MarginType.ISOLATED, isolated_wallet=units("300"))
    account = Account(units("10000"), (cross, isolated), open_order_margins=(units("31"),))
    assert account.cross_wallet_balance() == units("9700")
    assert account.cross_unrealized_pnl() == units("100")
    assert account.available_balance() == units("9159")  # 9,700 + 100 - 610 - 31
    account.check_order_margin(units("9159"))
    err = pytest.raises(CastleError, account.check_order_margin, units("9159") + 1).value
    assert (err.code, err.msg) == (-2019, "Margin is insufficient.")


def test_cross_maintenance_margin_and_margin_ratio():
    risk = PositionRisk(position("10", "60000"), units("60000"), 20, BTC)  # 600k notional: bracket 3
    account = Account(units("10000"), (risk,))
    assert account.cross_maint_margin() == units("4700")  # 600,000 * 1% - 1,300
    assert margin_ratio(units("4700"), units("10000")) == 47_000_000  # 47%
    assert margin_ratio(units("1"), units("3")) == 33_333_334  # rounded up
    assert margin_ratio(units("1"), 0) is None


def test_liquidation_starts_when_maintenance_margin_reaches_the_margin_balance():
    assert liquidatable(units("200"), units("200"))
    assert not liquidatable(units("200"), units("200") + 1)
    assert not liquidatable(0, 0)


@pytest.mark.parametrize(
    "is_buy, price, cost",
    [
        (True, "59000", "590"),  # below mark: IM only
        (True, "61000", "710"),  # above mark: IM 610 + open loss 0.1 * 1,000
        (False, "61000", "610"),
        (False, "59000", "690"),  # a sell below mark pays the gap
    ],
)
def test_order_cost_is_im_plus_open_loss(is_buy, price, cost):
    assert order_cost(units("0.1"), units(price), is_buy, units("60000"), 10) == units(cost)


def test_order_cost_matches_binances_worked_example():
    """FAQ: 1 BTC at 9,253.30, mark 9,259.84, last 9,258.99, 20x: long 462.66; short 463.64 + 6.54 open loss."""
    mark, last = units("9259.84"), units("9258.99")
    assert order_cost(units("1"), units("9253.30"), True, mark, 20, last) == units("462.665")
    short = order_cost(units("1"), units("9253.30"), False, mark, 20, last)
    assert short == units("463.64392425") + units("6.54")  # IM at max(9258.99 * 1.0015, mark, price)


def test_margin_requirement_matches_binances_worked_example():
    """FAQ: long 0.5 BTC (10,000 at mark 20,000), buy 0.1 at 19,000, sell 0.1 at 22,000, 2x: 5,950."""
    assert margin_requirement(units("10000"), units("1900"), units("2200"), 2) == units("5950")
    orders = [OpenOrder(BOTH, True, units("0.1"), units("19000")), OpenOrder(BOTH, False, units("0.1"), units("22000"))]
    assert open_order_margin({BOTH: units("10000")}, orders, 2) == units("950")


def test_one_way_open_orders_hold_the_larger_side():
    orders = [OpenOrder(BOTH, True, units("0.1"), units("59000")), OpenOrder(BOTH, False, units("0.2"), units("61000"))]
    assert open_order_margin({}, orders, 10) == units("1220")


def test_an_order_against_the_position_holds_only_what_turns_it_past_its_own_margin():
    held = {BOTH: units("6000")}  # long 0.1 at mark 60,000: IM 600
    closing = [OpenOrder(BOTH, False, units("0.15"), units("61000"))]  # |6,000 - 9,150| < 6,000
    assert open_order_margin(held, closing, 10) == 0
    flipping = [OpenOrder(BOTH, False, units("0.25"), units("61000"))]  # |6,000 - 15,250| = 9,250
    assert open_order_margin(held, flipping, 10) == units("325")


def test_hedge_legs_add_up_and_closing_orders_hold_nothing():
    orders = [
        OpenOrder(LONG, True, units("0.1"), units("59000")),  # opens long
        OpenOrder(LONG, False, units("0.1"), units("61000")),  # closes long
        OpenOrder(SHORT, False, units("0.1"), units("61000")),  # opens short
    ]
    assert open_order_margin({LONG: units("6000")}, orders, 10) == units("590") + units("610")


@pytest.mark.parametrize(
    "amount, open_same_side, is_buy, qty, opening",
    [
        ("-1", "0.8", True, "0.5", True),  # FAQ: 0.5 > 1 - 0.8
        ("1.4", "0.8", False, "0.5", False),  # FAQ: 0.5 < 1.4 - 0.8
        ("1.4", "0.8", False, "0.6", False),  # exactly what is left to close
        ("1.4", "0.8", False, "0.60000001", True),  # one unit more opens
        ("1", "0", True, "0.1", True),  # the position's way
        ("0", "0", False, "0.1", True),  # flat
    ],
)
def test_which_orders_get_a_margin_check(amount, open_same_side, is_buy, qty, opening):
    signed = -units(amount[1:]) if amount.startswith("-") else units(amount)
    assert is_opening_order(signed, units(open_same_side), is_buy, units(qty)) is opening


def isolated_long(wallet: str, mark: str = "59000") -> PositionRisk:
    return PositionRisk(position("0.1", "60000"), units(mark), 10, BTC, MarginType.ISOLATED, units(wallet))


def test_isolated_margin_is_wallet_plus_upnl():
    assert isolated_long("1000").isolated_margin() == units("900")


def test_reducing_isolated_margin_keeps_losses_and_the_initial_margin():
    risk = isolated_long("1000")  # uPnL -100, IM 590 at mark
    assert max_removable_isolated_margin(risk) == units("310")
    check_reduce_isolated_margin(risk, units("310"))
    assert code(check_reduce_isolated_margin, risk, units("310") + 1) == -4051


def test_adding_isolated_margin_needs_the_cross_available_balance():
    risk = isolated_long("1000")
    check_add_isolated_margin(risk, units("500"), units("500"))
    assert code(check_add_isolated_margin, risk, units("500") + 1, units("500")) == -4050


def test_position_margin_rules_refuse_cross_empty_and_non_positive():
    cross = PositionRisk(position("0.1", "60000"), units("60000"), 10, BTC)
    assert code(check_add_isolated_margin, cross, units("1"), units("10")) == -4049
    empty = PositionRisk(Position("BTCUSDT"), units("60000"), 10, BTC, MarginType.ISOLATED, 0)
    assert code(check_add_isolated_margin, empty, units("1"), units("10")) == -4054
    assert code(check_add_isolated_margin, isolated_long("1000"), 0, units("10")) == -4055


def test_margin_type_changes():
    err = pytest.raises(CastleError, check_margin_type_change, MarginType.CROSSED, MarginType.CROSSED, 0, 0).value
    assert (err.code, err.msg) == (-4046, "No need to change margin type.")
    assert code(check_margin_type_change, MarginType.CROSSED, MarginType.ISOLATED, 1, 0) == -4047
    assert code(check_margin_type_change, MarginType.CROSSED, MarginType.ISOLATED, 0, 1) == -4048
    check_margin_type_change(MarginType.CROSSED, MarginType.ISOLATED, 0, 0)


def test_open_order_margin_matches_binances_account_sample():
    """/fapi/v2/account sample: no position, bidNotional 310 at 10x -> openOrderInitialMargin 31."""
    assert open_order_margin({}, [OpenOrder(BOTH, True, units("0.01"), units("31000"))], 10) == units("31")
