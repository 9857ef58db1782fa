"""castle.futures.positions: fills on one-way and hedge positions, exact PnL, break-even price."""

from __future__ import annotations

import pytest
from castle.errors import CastleError
from castle.futures.positions import Position, PositionSide, apply_fill, check_reduce_only, reduce_only_cap
from castle.symbols import units
from hypothesis import given, settings
from hypothesis import strategies as st

U = units("1")


def long(qty: str, price: str, fee: str = "0") -> Position:
    p = Position("BTCUSDT")
    apply_fill(p, True, units(qty), units(price), units(fee))
    return p


def test_increasing_averages_the_entry_price_by_weight():
    p = long("0.1", "60000")
    apply_fill(p, True, units("0.3"), units("62000"))
    assert p.amount == units("0.4")
    assert p.cost == units("24600")
    assert p.entry_price() == units("61500")


def test_a_reduce_keeps_the_entry_and_realizes_pnl_on_the_closed_part():
    p = long("0.2", "60000")
    effect = apply_fill(p, False, units("0.05"), units("61000"))
    assert effect.realized_pnl == units("50")  # 0.05 * (61,000 - 60,000)
    assert (p.amount, p.entry_price(), p.realized) == (units("0.15"), units("60000"), units("50"))


def test_closing_a_short_at_a_higher_price_realizes_a_loss():
    p = Position("BTCUSDT")
    apply_fill(p, False, units("0.1"), units("60000"))
    effect = apply_fill(p, True, units("0.1"), units("60500"))
    assert effect.realized_pnl == -units("50")
    assert (p.amount, p.cost) == (0, 0)


def test_a_one_way_flip_closes_then_opens_at_the_fill_price():
    p = long("0.1", "60000")
    effect = apply_fill(p, False, units("0.3"), units("59000"))
    assert (effect.closed_qty, effect.opened_qty, effect.realized_pnl) == (units("0.1"), units("0.2"), -units("100"))
    assert p.amount == -units("0.2")
    assert p.entry_price() == units("59000")


def test_a_partial_close_rounds_realized_pnl_down_and_a_full_close_makes_it_exact():
    # Fills of a few 1e-8 BTC units, so that the average entry is not a whole number of units.
    p = Position("BTCUSDT")
    apply_fill(p, True, 3, units("1") + 1)  # cost = floor(3 * (1e8 + 1) / 1e8) = 3 units
    apply_fill(p, True, 1, units("2"))  # + 2 units: cost 5 over 4 qty units
    first = apply_fill(p, False, 1, units("1"))  # exact PnL 1 - 5/4 = -0.25 -> rounded down to -1
    assert first.realized_pnl == -1
    rest = apply_fill(p, False, 3, units("1"))  # 3 - (5 - 2) = 0
    assert first.realized_pnl + rest.realized_pnl == (4 * 1) - 5  # all sells - all buys, exactly


def test_break_even_price_adds_the_opening_fee_as_binance_does():
    """Binance's positionRisk sample: 58039.5 entry -> 58062.7158 break-even with a 0.04% fee."""
    p = long("1", "58039.5", fee="23.2158")  # 0.04% of 58,039.5
    assert p.break_even_price() == units("58062.7158")


def test_break_even_price_of_a_short_subtracts_the_fee():
    """Binance's sample: 70.92841 entry -> 70.900038636 break-even (0.04%), here to 1e-8."""
    p = Position("ETHUSDT")
    apply_fill(p, False, units("1"), units("70.92841"), fee=units("0.02837136"))
    assert p.break_even_price() == units("70.90003864")


def test_reduce_only_on_a_flat_position_or_the_same_side_is_minus_2022():
    p = Position("BTCUSDT")
    err = pytest.raises(CastleError, apply_fill, p, True, units("0.1"), units("60000"), reduce_only=True).value
    assert (err.code, err.msg) == (-2022, "ReduceOnly Order is rejected.")
    p = long("0.1", "60000")
    with pytest.raises(CastleError):
        check_reduce_only(p, True, units("0.01"))


def test_reduce_only_may_close_exactly_the_position_and_not_one_unit_more():
    p = long("0.1", "60000")
    assert reduce_only_cap(p, False) == units("0.1")
    with pytest.raises(CastleError):
        apply_fill(long("0.1", "60000"), False, units("0.1") + 1, units("60000"), reduce_only=True)
    apply_fill(p, False, units("0.1"), units("60000"), reduce_only=True)
    assert p.amount == 0


def test_hedge_legs_open_and_close_on_their_own_sides_and_never_flip():
    short = Position("BTCUSDT", PositionSide.SHORT)
    apply_fill(short, False, units("0.2"), units("60000"))
    assert short.amount == -units("0.2")
    apply_fill(short, True, units("0.1"), units("59000"))
    assert (short.amount, short.realized) == (-units("0.1"), units("100"))
    with pytest.raises(CastleError) as e:
        apply_fill(short, True, units("0.2"), units("59000"))
    assert e.value.code == -2022
    leg = Position("BTCUSDT", PositionSide.LONG)
    with pytest.raises(CastleError):
        apply_fill(leg, False, units("0.1"), units("60000"))  # SELL+LONG with nothing to close


def test_a_fill_of_zero_is_invalid():
    with pytest.raises(CastleError):
        apply_fill(Position("BTCUSDT"), True, 0, units("60000"))


# Properties: trades between accounts on the BTCUSDT grid (tick 0.10, lot 0.001).
TICK, LOT = units("0.1"), units("0.001")
trades = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(1, 500), st.integers(500_000, 700_000)),
    min_size=1, max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(trades)
def test_fills_never_create_or_lose_usdt(batch):
    """Per account realized - signed cost is its cash flow, so the sum over accounts is exactly zero,
    and once everyone is flat the realized PnL of all accounts sums to zero (before fees)."""
    book = [Position("BTCUSDT") for _ in range(4)]
    for buyer, seller, lots, ticks in batch:
        if buyer == seller:
            continue
        qty, price = lots * LOT, ticks * TICK
        apply_fill(book[buyer], True, qty, price)
        apply_fill(book[seller], False, qty, price)
        assert sum(p.realized - p.signed_cost() for p in book) == 0
        assert sum(p.amount for p in book) == 0
    # flatten everyone against account 0 at one price
    price = 600_000 * TICK
    for p in book[1:]:
        if p.amount:
            qty, is_buy = p.qty, p.amount < 0
            apply_fill(p, is_buy, qty, price)
            apply_fill(book[0], not is_buy, qty, price)
    assert all(p.amount == 0 and p.cost == 0 for p in book)
    assert sum(p.realized for p in book) == 0


@settings(max_examples=200, deadline=None)
@given(st.integers(-1000, 1000), st.booleans(), st.integers(1, 1000), st.integers(500_000, 700_000))
def test_a_reduce_only_fill_never_increases_the_position(start_lots, is_buy, lots, ticks):
    p = Position("BTCUSDT")
    if start_lots:
        apply_fill(p, start_lots > 0, abs(start_lots) * LOT, 600_000 * TICK)
    before = p.amount
    try:
        apply_fill(p, is_buy, lots * LOT, ticks * TICK, reduce_only=True)
    except CastleError as e:
        assert e.code == -2022 and p.amount == before
        return
    assert abs(p.amount) < abs(before) and (p.amount == 0 or (p.amount > 0) == (before > 0))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 500), st.integers(500_000, 700_000)), min_size=2, max_size=10),
       st.integers(1, 99))
def test_a_partial_close_never_realizes_more_than_the_exact_pnl(opens, percent):
    p = Position("BTCUSDT")
    for lots, ticks in opens:
        apply_fill(p, True, lots * LOT, ticks * TICK)
    close_qty = max(1, p.qty * percent // 100 // LOT) * LOT
    if close_qty >= p.qty:
        return
    price = 600_000 * TICK
    cost, qty = p.cost, p.qty
    effect = apply_fill(p, False, close_qty, price)
    # exact PnL = notional - cost * close/qty; realized is its floor
    exact_num = (close_qty * price // units("1")) * qty - cost * close_qty
    assert effect.realized_pnl == exact_num // qty
