"""castle.futures.mark and castle.futures.funding: premium index, mark price, funding rate and payments."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from castle.futures.brackets import default_brackets
from castle.futures.funding import (
    allocate,
    default_cap,
    exact_fee,
    funding_rate,
    interest_for,
    next_funding_time,
)
from castle.futures.mark import (
    average_premium,
    basis,
    impact_margin_notional,
    impact_price,
    mark_price,
    premium_index,
    price1,
)
from castle.symbols import units
from hypothesis import given, settings
from hypothesis import strategies as st

BTC = default_brackets().get("BTCUSDT")
R = 10**8  # rate units per 1
HOUR = 3600 * 1000


def pct(text: str) -> int:
    return int(Fraction(text) / 100 * R)


def test_impact_margin_notional_is_25000_usdt_at_125x():
    assert impact_margin_notional(BTC) == units("25000")


def test_impact_price_walks_the_book_and_takes_the_last_level_in_part():
    asks = [(units("60000"), units("0.2")), (units("60010"), units("1"))]
    got = impact_price(asks, units("25000"), is_bid=False)
    exact = Fraction(25000) / (Fraction("0.2") + Fraction(13000, 60010))
    assert got == math.ceil(exact * 10**8)
    assert impact_price(asks[:1], units("25000"), is_bid=False) is None  # too thin


@pytest.mark.parametrize(
    "bid, ask, premium",
    [
        ("60060", "60070", "0.1"),  # impact bid above index
        ("59990", "60010", "0"),  # index inside the impact spread
        ("59930", "59940", "-0.1"),  # impact ask below index
    ],
)
def test_premium_index(bid, ask, premium):
    assert premium_index(units(bid), units(ask), units("60000")) == pct(premium)


def test_average_premium_weights_later_samples_more():
    assert average_premium([0, 0, 300]) == 150  # (1*0 + 2*0 + 3*300) / 6
    assert average_premium([]) == 0


@pytest.mark.parametrize(
    "premium, rate",
    [
        (0, pct("0.01")),  # F = I when the premium is zero
        (pct("0.03"), pct("0.01")),  # I - P inside the clamp: F = I
        (pct("0.06"), pct("0.01")),  # I - P = -0.05%: exactly the clamp
        (pct("0.06") + 1, pct("0.01") + 1),  # one rate unit (1e-8) past it, F moves with P
        (-pct("0.04"), pct("0.01")),  # I - P = +0.05%: exactly the clamp
        (-pct("0.04") - 1, pct("0.01") - 1),
        (pct("0.1"), pct("0.05")),
    ],
)
def test_funding_rate_clamps_interest_minus_premium(premium, rate):
    assert funding_rate(premium) == rate


def test_funding_rate_cap_is_three_quarters_of_imr_minus_mmr_at_max_leverage():
    assert default_cap(BTC) == pct("0.3")  # 0.75 * (0.8% - 0.4%)
    assert funding_rate(pct("0.5"), cap=default_cap(BTC), floor=-default_cap(BTC)) == pct("0.3")
    assert funding_rate(-pct("0.5"), cap=default_cap(BTC), floor=-default_cap(BTC)) == -pct("0.3")


def test_interest_scales_with_the_funding_interval():
    assert interest_for(8) == pct("0.01") and interest_for(4) == pct("0.005") and interest_for(1) == pct("0.00125")


def test_mark_price_is_the_median_of_price1_price2_and_last():
    index = units("60000")
    assert price1(index, pct("0.01"), 4 * HOUR, 8 * HOUR) == units("60003")  # 60,000 * (1 + 0.0001 * 4/8)
    samples = [basis(units("60010"), units("60030"), index), basis(units("60000"), units("60020"), index)]
    assert samples == [units("20"), units("10")]
    assert mark_price(index, pct("0.01"), 4 * HOUR, 8 * HOUR, samples, units("60010")) == units("60010")
    assert mark_price(index, pct("0.01"), 4 * HOUR, 8 * HOUR, samples, units("61000")) == units("60015")
    assert mark_price(index, pct("0.01"), 4 * HOUR, 8 * HOUR, samples, units("59000")) == units("60003")


def test_funding_times_are_every_8_hours_from_midnight_utc():
    day = 1_767_225_600_000  # 2026-01-01T00:00Z
    assert next_funding_time(day + 8 * HOUR - 1) == day + 8 * HOUR
    assert next_funding_time(day + 8 * HOUR) == day + 16 * HOUR
    assert next_funding_time(day + 30 * 60 * 1000, interval_hours=1) == day + HOUR


def test_longs_pay_shorts_when_the_rate_is_positive():
    """1 BTC at mark 60,000 and 0.01%: the long pays 6 USDT, the short receives it."""
    pays = allocate([("long", units("1")), ("short", -units("1"))], units("60000"), pct("0.01"))
    assert [(p.key, p.amount) for p in pays] == [("long", -units("6")), ("short", units("6"))]
    pays = allocate([("long", units("1")), ("short", -units("1"))], units("60000"), -pct("0.01"))
    assert [p.amount for p in pays] == [units("6"), -units("6")]


def test_payers_round_up_and_receivers_share_the_dust_by_largest_remainder():
    # exact: a pays 3 * 7e8 * 12345 / 1e16 units = 0.259245 -> 1; b and c receive 1/3 and 2/3 of 1.
    pays = allocate([("a", 3), ("b", -1), ("c", -2)], units("7"), 12345)
    assert [p.amount for p in pays] == [-1, 0, 1]


def test_unbalanced_open_interest_is_refused():
    with pytest.raises(ValueError):
        allocate([("a", 2), ("b", -1)], units("100"), pct("0.01"))


balanced = st.lists(st.integers(1, 10**10), min_size=1, max_size=8).flatmap(
    lambda longs: st.tuples(st.just(longs), st.lists(st.integers(1, 10**10), min_size=1, max_size=8))
)


@settings(max_examples=300, deadline=None)
@given(balanced, st.integers(1, 10**14), st.integers(-300_000, 300_000))
def test_the_payments_of_a_funding_event_sum_to_exactly_zero(sides, mark, rate):
    longs, shorts = sides
    # scale the shorts so that they net the longs exactly
    total_long, total_short = sum(longs), sum(shorts)
    shorts = [s * total_long for s in shorts]
    longs = [q * total_short for q in longs]
    positions = [(f"L{i}", q) for i, q in enumerate(longs)] + [(f"S{i}", -q) for i, q in enumerate(shorts)]
    pays = allocate(positions, mark, rate)
    assert sum(p.amount for p in pays) == 0
    for (_, amount), p in zip(positions, pays):
        num, den = exact_fee(amount, mark, rate)
        exact = Fraction(num, den)
        if exact < 0:
            assert exact - 1 < p.amount <= exact  # a payer pays what it owes, rounded up
        else:
            assert p.amount >= math.floor(exact)  # a receiver gets at least its exact share, rounded down
