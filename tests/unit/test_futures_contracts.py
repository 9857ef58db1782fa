"""castle.futures.contracts: Binance's futures filters, each failing with its own code (exact edges)."""

from __future__ import annotations

import pytest
from castle.errors import CastleError
from castle.futures.contracts import decimal_text, default_contracts, fill_notional, rate
from castle.symbols import units

BTC = default_contracts()["BTCUSDT"]
ETH = default_contracts()["ETHUSDT"]
MARK = units("60000")


def code(fn, *args, **kwargs) -> int | None:
    try:
        fn(*args, **kwargs)
    except CastleError as e:
        return e.code
    return None


def test_price_filter_accepts_the_bounds_and_refuses_one_tick_beyond():
    assert code(BTC.check_price, units("556.80")) is None
    assert code(BTC.check_price, units("556.70")) == -4013
    assert code(BTC.check_price, units("4529764")) is None
    assert code(BTC.check_price, units("4529764.10")) == -4002


def test_price_off_the_tick_is_minus_4014():
    assert code(BTC.check_price, units("60000.10")) is None
    assert code(BTC.check_price, units("60000.05")) == -4014


def test_lot_size_and_market_lot_size_differ_for_btcusdt():
    assert code(BTC.check_qty, units("1000")) is None
    assert code(BTC.check_qty, units("1000.001")) == -4005
    assert code(BTC.check_qty, units("120"), market=True) is None
    assert code(BTC.check_qty, units("120.001"), market=True) == -4005
    assert code(BTC.check_qty, units("0.0009")) == -4004
    assert code(BTC.check_qty, units("0.0015")) == -4023


def test_min_notional_passes_at_exactly_the_minimum_and_fails_one_unit_below():
    qty = units("0.002")
    exact = units("50000")  # 0.002 * 50,000 = 100 USDT
    assert code(BTC.check_notional, exact, qty) is None
    err = pytest.raises(CastleError, BTC.check_notional, exact - units("0.1"), qty).value
    assert (err.code, err.msg) == (-4164, "Order's notional must be no smaller than 100 (unless you choose reduce only)")


def test_reduce_only_orders_are_exempt_from_min_notional():
    assert code(BTC.check_notional, units("1000"), units("0.001"), reduce_only=True) is None


def test_percent_price_is_checked_against_the_mark_price_exactly():
    assert code(BTC.check_percent_price, units("63000"), MARK) is None  # 1.05 * 60,000
    assert code(BTC.check_percent_price, units("63000.1"), MARK) == -4016
    assert code(BTC.check_percent_price, units("57000"), MARK) is None  # 0.95 * 60,000
    assert code(BTC.check_percent_price, units("56999.9"), MARK) == -4024


def test_a_market_order_is_judged_at_mark_for_min_notional():
    assert code(BTC.check_market_order, units("0.002"), units("50000")) is None
    assert code(BTC.check_market_order, units("0.001"), units("50000")) == -4164


def test_every_fill_on_the_grid_has_an_exact_notional():
    for c in (BTC, ETH):
        assert (c.tick_size * c.step_size) % 10**8 == 0
    assert fill_notional(units("60000.1"), units("0.003")) == units("180.0003")


def test_exchange_info_has_binances_perpetual_shape_and_filters():
    info = BTC.to_exchange_info()
    assert info["contractType"] == "PERPETUAL" and info["deliveryDate"] == 4133404800000
    assert (info["baseAsset"], info["quoteAsset"], info["marginAsset"]) == ("BTC", "USDT", "USDT")
    filters = {f["filterType"]: f for f in info["filters"]}
    assert filters["PRICE_FILTER"] == {"filterType": "PRICE_FILTER", "minPrice": "556.80", "maxPrice": "4529764",
                                       "tickSize": "0.10"}
    assert filters["LOT_SIZE"]["stepSize"] == "0.001" and filters["MARKET_LOT_SIZE"]["maxQty"] == "120"
    assert filters["MIN_NOTIONAL"] == {"filterType": "MIN_NOTIONAL", "notional": "100"}
    assert filters["MAX_NUM_ORDERS"]["limit"] == 200
    assert filters["PERCENT_PRICE"]["multiplierUp"] == "1.0500"
    assert ETH.to_exchange_info()["filters"][4]["notional"] == "20"


def test_rates_and_decimals_are_exact():
    assert rate("0.0065") == 650_000
    assert decimal_text(units("0.1"), 2) == "0.10"
    with pytest.raises(ValueError):
        decimal_text(units("0.001"), 2)
