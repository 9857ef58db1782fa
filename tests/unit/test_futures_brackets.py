"""castle.futures.brackets: Binance's leverage brackets, the cum rule and maintenance margin."""

from __future__ import annotations

from dataclasses import replace

import pytest
from castle.errors import CastleError
from castle.futures.brackets import Bracket, BracketTable, default_brackets, from_dict, table
from castle.symbols import ONE
from hypothesis import given
from hypothesis import strategies as st

BOOK = default_brackets()
BTC = BOOK.get("BTCUSDT")
ETH = BOOK.get("ETHUSDT")
U = ONE  # one USDT


def test_btcusdt_default_table_has_binances_cum_values():
    assert [b.cum // U for b in BTC.brackets] == [0, 50, 1_300, 16_300, 266_300, 1_266_300, 2_516_300,
                                                   5_016_300, 25_016_300, 100_016_300]
    assert [b.initial_leverage for b in BTC.brackets] == [125, 100, 50, 20, 10, 5, 4, 3, 2, 1]


def test_ethusdt_default_table_is_cum_consistent():
    assert [b.cum // U for b in ETH.brackets] == [0, 15, 365, 5_365, 35_365, 135_365, 260_365, 510_365,
                                                   2_510_365, 15_010_365]


def test_a_notional_at_the_cap_belongs_to_the_lower_bracket_and_one_unit_more_to_the_next():
    assert BTC.for_notional(50_000 * U).bracket == 1
    assert BTC.for_notional(50_000 * U + 1).bracket == 2
    assert BTC.max_leverage_for(50_000 * U) == 125
    assert BTC.max_leverage_for(50_000 * U + 1) == 100
    assert BTC.for_notional(0).bracket == 1


def test_beyond_the_last_cap_is_minus_2027():
    BTC.for_notional(500_000_000 * U)
    err = pytest.raises(CastleError, BTC.for_notional, 500_000_000 * U + 1).value
    assert (err.code, err.msg) == (-2027, "Exceeded the maximum allowable position at current leverage.")


@pytest.mark.parametrize(
    "notional, mm",
    [
        (10_000 * U, 40 * U),  # 10,000 * 0.4%
        (50_000 * U, 200 * U),  # the boundary, either bracket
        (100_000 * U, 450 * U),  # 100,000 * 0.5% - 50
        (600_000 * U, 4_700 * U),  # 600,000 * 1% - 1,300
        (122_63842038, 49055369),  # Binance sample: 122.63842038 * 0.004 = 0.490553681.. rounded up
    ],
)
def test_maintenance_margin_is_notional_times_mmr_less_cum(notional, mm):
    assert BTC.maint_margin(notional) == mm


def test_a_table_whose_cum_breaks_the_rule_is_refused():
    bad = list(BTC.brackets)
    bad[2] = replace(bad[2], cum=bad[2].cum + 1)
    with pytest.raises(ValueError, match="cum"):
        BracketTable("BTCUSDT", tuple(bad))


def test_a_table_with_a_gap_is_refused():
    with pytest.raises(ValueError):
        BracketTable("X", (Bracket(1, 10, 0, 100 * U, 500_000, 0), Bracket(2, 5, 200 * U, 300 * U, 1_000_000, 0)))


@pytest.mark.parametrize("leverage", [0, 126, -1, True, "20"])
def test_leverage_outside_one_to_the_max_is_minus_4028(leverage):
    err = pytest.raises(CastleError, BTC.check_leverage, leverage).value
    assert (err.code, err.msg) == (-4028, f"Leverage {leverage} is not valid")


def test_max_notional_for_a_leverage_is_the_largest_cap_allowing_it():
    assert BTC.max_notional_for(125) == 50_000 * U
    assert BTC.max_notional_for(21) == 1_000_000 * U  # Binance's doc example: leverage 21 -> 1,000,000
    assert BTC.max_notional_for(1) == 500_000_000 * U


def test_a_position_above_the_leverages_max_notional_is_minus_2027():
    BTC.check_position(20, 10_000_000 * U)
    with pytest.raises(CastleError) as e:
        BTC.check_position(20, 10_000_000 * U + 1)
    assert e.value.code == -2027


def test_leverage_bracket_json_has_binances_shape_and_round_trips():
    entry = BOOK.to_list("BTCUSDT")[0]
    assert entry["symbol"] == "BTCUSDT"
    first = entry["brackets"][1]
    assert first == {"bracket": 2, "initialLeverage": 100, "notionalCap": 250_000, "notionalFloor": 50_000,
                     "maintMarginRatio": first["maintMarginRatio"], "cum": 50}
    assert str(first["maintMarginRatio"]) == "0.005"
    assert from_dict(entry) == BTC


def test_a_replaced_table_is_what_the_book_serves():
    book = default_brackets()
    new = table("BTCUSDT", [(0, 300_000, 150, "0.004"), (300_000, 800_000, 100, "0.005")])
    book.replace(new)
    assert book.get("BTCUSDT").max_leverage == 150
    assert book.get("BTCUSDT").brackets[1].cum == 300 * U


def test_an_unknown_symbol_is_invalid():
    with pytest.raises(CastleError) as e:
        BOOK.get("DOGEUSDT")
    assert e.value.code == -1121


@given(st.sampled_from([BTC, ETH]), st.integers(min_value=0, max_value=9))
def test_maintenance_margin_is_continuous_at_every_bracket_boundary(t, i):
    """The cum rule: at a cap, the lower bracket's and the upper bracket's formulas agree exactly."""
    if i + 1 >= len(t.brackets):
        return
    lower, upper = t.brackets[i], t.brackets[i + 1]
    cap = lower.notional_cap
    assert lower.maint_margin(cap) == upper.maint_margin(cap)


@given(st.sampled_from([BTC, ETH]), st.integers(min_value=0, max_value=100_000_000 * U - 1))
def test_maintenance_margin_never_decreases_as_the_notional_grows(t, n):
    assert t.maint_margin(n) <= t.maint_margin(n + 1)
