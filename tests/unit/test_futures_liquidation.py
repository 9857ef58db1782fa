"""castle.futures.liquidation: Binance's liquidation-price formula, its bracket re-selection, exact vectors.

Expected values are the formula in exact rationals (Fraction), rounded as the module promises:
a long's price up, a short's down, to 1e-8.
"""

from __future__ import annotations

import math
from fractions import Fraction

from castle.futures.brackets import default_brackets
from castle.futures.liquidation import Leg, bankruptcy_price, liquidation_price, position_liquidation_price
from castle.futures.margin import Account, MarginType, PositionRisk, liquidatable
from castle.futures.positions import Position, PositionSide, apply_fill
from castle.symbols import units
from hypothesis import given, settings
from hypothesis import strategies as st

BTC = default_brackets().get("BTCUSDT")
E8 = 10**8


def position(qty: str, price: str, side: PositionSide = PositionSide.BOTH) -> Position:
    p = Position("BTCUSDT", side)
    apply_fill(p, not qty.startswith("-"), units(qty.lstrip("-")), units(price))
    return p


def up(x: Fraction) -> int:
    return math.ceil(x * E8)


def down(x: Fraction) -> int:
    return math.floor(x * E8)


def F(text: str) -> Fraction:
    return Fraction(text)


def test_isolated_long_by_the_formula():
    """0.1 BTC @ 60,000, WB 1,000, bracket 1 (0.4%): LP = (1000 - 6000) / (0.1 * 0.004 - 0.1) = 50,200.80..."""
    lp = liquidation_price(units("1000"), [Leg(position("0.1", "60000"), BTC)])
    exact = (F("1000") - 6000) / (F("0.1") * F("0.004") - F("0.1"))
    assert lp == up(exact) == 50_200_80321286
    # At the exact price the margin balance is exactly the maintenance margin.
    assert F("1000") + F("0.1") * (exact - 60000) == F("0.1") * exact * F("0.004")


def test_isolated_short_by_the_formula():
    lp = liquidation_price(units("1000"), [Leg(position("-0.1", "60000"), BTC)])
    exact = (F("1000") + 6000) / (F("0.1") * F("0.004") + F("0.1"))
    assert lp == down(exact) == 69_721_11553784


def test_cross_adds_the_other_positions_maintenance_margin_and_upnl():
    lp = liquidation_price(units("1000"), [Leg(position("0.1", "60000"), BTC)], other_maint=units("50"),
                           other_upnl=-units("100"))
    exact = (F("1000") - 50 - 100 - 6000) / (F("0.1") * F("0.004") - F("0.1"))
    assert lp == up(exact)


def test_the_bracket_is_the_one_at_the_liquidation_price_not_at_entry():
    """20 BTC @ 60,000 (1.2M, bracket 4 at entry); at the liquidation price the notional is ~605k, bracket 3."""
    lp = liquidation_price(units("600000"), [Leg(position("20", "60000"), BTC)])
    at_entry_bracket = (F("600000") + 16_300 - 1_200_000) / (20 * F("0.025") - 20)
    at_lp_bracket = (F("600000") + 1_300 - 1_200_000) / (20 * F("0.01") - 20)
    assert 250_000 < 20 * at_lp_bracket <= 1_000_000
    assert lp == up(at_lp_bracket) != up(at_entry_bracket)


def test_hedge_cross_legs_share_one_price():
    long = position("1", "60000", PositionSide.LONG)
    short = position("-0.5", "62000", PositionSide.SHORT)
    lp = liquidation_price(units("10000"), [Leg(long, BTC), Leg(short, BTC)])
    # Both legs are in bracket 1 at ~38.5k (the long is in bracket 2 at entry).
    exact = (F("10000") - 60_000 + 31_000) / (1 * F("0.004") - 1 + F("0.5") * F("0.004") + F("0.5"))
    assert lp == up(exact)


def test_a_position_that_cannot_be_liquidated_reports_zero():
    assert liquidation_price(units("10000"), [Leg(position("0.1", "60000"), BTC)]) == 0
    assert liquidation_price(units("10000"), []) == 0


def test_bankruptcy_price_is_where_the_isolated_wallet_is_gone():
    assert bankruptcy_price(units("1000"), position("0.1", "60000")) == units("50000")
    assert bankruptcy_price(units("1000"), position("-0.1", "60000")) == units("70000")


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 5_000), st.integers(100_000, 1_000_000), st.integers(1, 125), st.booleans())
def test_one_unit_past_the_liquidation_price_the_position_is_liquidatable(lots, ticks, leverage, is_long):
    """Isolated, with the initial margin as its wallet: at LP -/+ 1e-8 the margin ratio is >= 100%."""
    qty, price = lots * units("0.001"), ticks * units("0.1")
    p = Position("BTCUSDT")
    apply_fill(p, is_long, qty, price)
    if p.cost > BTC.max_notional:
        return
    wallet = -(-p.cost // leverage)
    lp = liquidation_price(wallet, [Leg(p, BTC)])
    if lp == 0:
        return
    beyond = lp - 1 if is_long else lp + 1
    risk = PositionRisk(p, beyond, leverage, BTC)
    if risk.notional() > BTC.max_notional:
        return
    assert liquidatable(risk.maint_margin(), wallet + risk.unrealized_pnl())


def test_position_risk_liquidation_price_uses_the_other_cross_positions_and_the_cross_wallet():
    eth_table = default_brackets().get("ETHUSDT")
    btc = PositionRisk(position("0.1", "60000"), units("60000"), 10, BTC)
    eth_pos = Position("ETHUSDT")
    apply_fill(eth_pos, False, units("2"), units("3000"))
    eth = PositionRisk(eth_pos, units("3100"), 10, eth_table)  # uPnL -200, MM 6,200 * 0.5% = 31
    isolated = PositionRisk(position("-0.1", "60000"), units("60000"), 10, BTC, MarginType.ISOLATED,
                            isolated_wallet=units("1000"))
    account = Account(units("3000"), (btc, eth, isolated))
    exact = (F("2000") - 31 - 200 - 6000) / (F("0.1") * F("0.004") - F("0.1"))  # cross wallet 3,000 - 1,000
    assert position_liquidation_price(account, btc) == up(exact)
    assert position_liquidation_price(account, isolated) == liquidation_price(units("1000"),
                                                                              [Leg(isolated.position, BTC)])
