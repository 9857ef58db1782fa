"""Symbols and their filters, in Binance's exchangeInfo shape and texts.

Each filter table shows the exact boundary passing and one unit (1e-8) past it
failing with `-1013 Filter failure: <NAME>`. BTCUSDT: tick 0.01, step 0.00001,
minNotional 5, maxPrice 1,000,000, maxQty 9,000.
"""

import dataclasses

import pytest
from castle import errors
from castle.errors import CastleError
from castle.events import OrderAccepted, OrderRejected
from castle.matching import MatchingEngine
from castle.orders import OrderType, Side
from castle.symbols import Notional, PercentPriceBySide, PriceFilter, default_symbols, exchange_info, lookup, units

P = 3_000_000
ALICE, BOB, CAROL = 1, 2, 3
OK = None


def check(filter_check, *args, **kwargs):
    """The filter's verdict: None when it passes, else the error's message."""
    try:
        filter_check(*args, **kwargs)
    except CastleError as e:
        assert e.code == -1013
        return e.msg
    return OK


@pytest.mark.parametrize(
    ("price", "verdict"),
    [
        ("0.01", OK),  # minPrice
        ("0.00999999", "Filter failure: PRICE_FILTER"),
        ("0", "Filter failure: PRICE_FILTER"),
        ("1000000", OK),  # maxPrice
        ("1000000.01", "Filter failure: PRICE_FILTER"),
        ("30000.01", OK),
        ("30000.00000001", "Filter failure: PRICE_FILTER"),  # off tick by one unit
        ("30000.015", "Filter failure: PRICE_FILTER"),
    ],
)
def test_price_filter_bounds_and_tick(btcusdt, price, verdict):
    assert check(btcusdt.price_filter.check, units(price)) == verdict


@pytest.mark.parametrize(
    ("qty", "verdict"),
    [
        ("0.00001", OK),  # minQty
        ("0.00000999", "Filter failure: LOT_SIZE"),
        ("0", "Filter failure: LOT_SIZE"),
        ("9000", OK),  # maxQty
        ("9000.00001", "Filter failure: LOT_SIZE"),
        ("1.23456", OK),
        ("1.23456001", "Filter failure: LOT_SIZE"),  # off step by one unit
    ],
)
def test_lot_size_bounds_and_step(btcusdt, qty, verdict):
    assert check(btcusdt.lot_size.check, units(qty)) == verdict


@pytest.mark.parametrize(
    ("qty", "verdict"),
    [
        ("0.00000001", OK),  # no step for MARKET orders on this symbol
        ("9000", OK),
        ("9000.00000001", "Filter failure: MARKET_LOT_SIZE"),
    ],
)
def test_market_lot_size_bounds(btcusdt, qty, verdict):
    assert check(btcusdt.market_lot_size.check, units(qty)) == verdict


@pytest.mark.parametrize(
    ("notional", "market", "verdict"),
    [
        ("5", False, OK),  # minNotional
        ("4.99999999", False, "Filter failure: NOTIONAL"),
        ("4.99999999", True, "Filter failure: NOTIONAL"),  # applyMinToMarket
        ("9000000", False, OK),  # maxNotional
        ("9000000.00000001", False, "Filter failure: NOTIONAL"),
        ("9000000.00000001", True, OK),  # applyMaxToMarket is false
    ],
)
def test_notional_bounds(btcusdt, notional, market, verdict):
    assert check(btcusdt.notional.check, units(notional), market=market) == verdict


def test_notional_min_does_not_apply_to_market_when_apply_min_to_market_is_false():
    lenient = Notional(units("5"), 0, apply_min_to_market=False)
    assert check(lenient.check, units("4.99999999"), market=True) is OK


def test_notional_max_applies_to_market_when_apply_max_to_market_is_true():
    strict = Notional(0, units("100"), apply_min_to_market=False, apply_max_to_market=True)
    assert check(strict.check, units("100.00000001"), market=True) == "Filter failure: NOTIONAL"


@pytest.mark.parametrize(
    ("is_buy", "price", "verdict"),
    [
        (True, 500, OK),  # bidMultiplierUp 5 x avg 100
        (True, 501, "Filter failure: PERCENT_PRICE_BY_SIDE"),
        (True, 20, OK),  # bidMultiplierDown 0.2
        (True, 19, "Filter failure: PERCENT_PRICE_BY_SIDE"),
        (False, 500, OK),
        (False, 501, "Filter failure: PERCENT_PRICE_BY_SIDE"),
        (False, 20, OK),
        (False, 19, "Filter failure: PERCENT_PRICE_BY_SIDE"),
    ],
)
def test_percent_price_by_side_bounds_around_an_average_of_100(btcusdt, is_buy, price, verdict):
    assert check(btcusdt.percent_price.check, is_buy, price, 100, 1) == verdict


def test_percent_price_by_side_uses_the_exact_fractional_average():
    band = PercentPriceBySide(units("1.1"), units("0.9"), units("1.1"), units("0.9"))
    # average 1000/3 = 333.33...; 1.1 x avg = 366.66..., so 366 passes and 367 fails
    assert check(band.check, True, 366, 1000, 3) is OK
    assert check(band.check, True, 367, 1000, 3) == "Filter failure: PERCENT_PRICE_BY_SIDE"


def test_filter_failure_is_code_1013_with_binance_text():
    assert errors.filter_failure("LOT_SIZE").to_dict() == {"code": -1013, "msg": "Filter failure: LOT_SIZE"}


def test_lookup_finds_a_listed_symbol(symbols):
    assert lookup(symbols, "BTCUSDT").name == "BTCUSDT"


@pytest.mark.parametrize("name", ["NOPE", "btcusdt", "BTC-USDT"])
def test_lookup_of_an_unknown_symbol_is_1121(symbols, name):
    with pytest.raises(CastleError) as exc:
        lookup(symbols, name)
    assert exc.value.to_dict() == {"code": -1121, "msg": "Invalid symbol."}


def test_lookup_without_a_symbol_is_a_missing_parameter(symbols):
    with pytest.raises(CastleError) as exc:
        lookup(symbols, "")
    assert exc.value.code == -1102


def test_exchange_info_for_an_unknown_symbol_is_1121(symbols):
    with pytest.raises(CastleError) as exc:
        exchange_info(symbols, 0, only=["BTCUSDT", "NOPE"])
    assert exc.value.code == -1121


@pytest.fixture
def symbols():
    return default_symbols()


@pytest.fixture
def btc_info(symbols):
    info = exchange_info(symbols, 1_700_000_000_000, only=["BTCUSDT"])
    return info["symbols"][0]


def test_exchange_info_has_binance_top_level_keys(symbols):
    info = exchange_info(symbols, 123)
    assert {"timezone", "serverTime", "rateLimits", "exchangeFilters", "symbols"} <= info.keys()
    assert info["serverTime"] == 123
    assert [s["symbol"] for s in info["symbols"]] == list(symbols)


def test_exchange_info_symbol_has_the_keys_clients_read(btc_info):
    expected = {
        "symbol", "status", "baseAsset", "baseAssetPrecision", "quoteAsset", "quotePrecision",
        "quoteAssetPrecision", "orderTypes", "icebergAllowed", "ocoAllowed", "quoteOrderQtyMarketAllowed",
        "cancelReplaceAllowed", "isSpotTradingAllowed", "filters", "permissions", "permissionSets",
        "defaultSelfTradePreventionMode", "allowedSelfTradePreventionModes",
    }  # fmt: skip
    assert expected <= btc_info.keys()
    assert (btc_info["symbol"], btc_info["baseAsset"], btc_info["quoteAsset"]) == ("BTCUSDT", "BTC", "USDT")
    assert btc_info["baseAssetPrecision"] == 8


def test_exchange_info_stp_defaults_to_expire_maker(btc_info):
    assert btc_info["defaultSelfTradePreventionMode"] == "EXPIRE_MAKER"
    assert set(btc_info["allowedSelfTradePreventionModes"]) >= {"EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"}


def test_exchange_info_lists_every_order_type(btc_info):
    assert btc_info["orderTypes"] == [str(t) for t in OrderType]


def test_exchange_info_filters_carry_binance_filter_types_and_decimal_strings(btc_info):
    filters = {f["filterType"]: f for f in btc_info["filters"]}
    assert {"PRICE_FILTER", "LOT_SIZE", "MARKET_LOT_SIZE", "NOTIONAL", "MAX_NUM_ORDERS", "MAX_NUM_ALGO_ORDERS",
            "PERCENT_PRICE_BY_SIDE", "ICEBERG_PARTS"} <= filters.keys()  # fmt: skip
    assert filters["PRICE_FILTER"] == {
        "filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000",
    }  # fmt: skip
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    assert filters["NOTIONAL"]["applyMinToMarket"] is True
    assert filters["MAX_NUM_ORDERS"]["maxNumOrders"] == 200
    assert filters["MAX_NUM_ALGO_ORDERS"]["maxNumAlgoOrders"] == 5
    assert filters["PERCENT_PRICE_BY_SIDE"]["bidMultiplierUp"] == "5"
    assert filters["PERCENT_PRICE_BY_SIDE"]["bidMultiplierDown"] == "0.2"


def test_symbol_rejects_a_tick_times_step_that_is_not_whole_quote_units(btcusdt):
    with pytest.raises(ValueError):
        dataclasses.replace(btcusdt, price_filter=PriceFilter(1, 10**14, 1))


def test_symbol_converts_between_units_and_engine_ticks_and_lots(btcusdt):
    assert btcusdt.to_ticks(units("30000.01")) == 3_000_001
    assert btcusdt.to_lots(units("0.00123")) == 123
    assert btcusdt.format_price(3_000_001) == "30000.01000000"
    assert btcusdt.format_qty(123) == "0.00123000"
    assert btcusdt.quote_units(3_000_000 * 100) == units("30")  # 30000.00 x 0.001


def test_symbol_quote_budget_rounds_down_to_whole_tick_lots(btcusdt):
    assert btcusdt.quote_to_engine(units("30")) == 3_000_000 * 100
    assert btcusdt.quote_to_engine(units("30") + 9) == 3_000_000 * 100  # 9e-8 USDT cannot buy a tick*lot
    assert btcusdt.quote_to_engine(units("30") + 10) == 3_000_000 * 100 + 1


def test_symbol_computes_the_notional_of_a_price_and_quantity(btcusdt):
    assert btcusdt.notional_of(units("30000"), units("0.001")) == units("30")


# --- filters that need the engine's state --------------------------------------


@pytest.fixture
def small_limits(btcusdt):
    return MatchingEngine(dataclasses.replace(btcusdt, max_num_orders=2, max_num_algo_orders=1))


def test_max_num_orders_rejects_the_order_past_the_limit(small_limits, desk_on):
    desk = desk_on(small_limits)
    desk.buy(P - 2, 100)
    desk.buy(P - 1, 100)
    rejected = desk.buy(P - 3, 100).one(OrderRejected)
    assert (rejected.code, rejected.msg) == (-1013, "Filter failure: MAX_NUM_ORDERS")


def test_max_num_orders_is_per_account(small_limits, desk_on):
    desk = desk_on(small_limits)
    desk.buy(P - 2, 100)
    desk.buy(P - 1, 100)
    assert desk.buy(P - 3, 100, account=BOB).of(OrderAccepted)


def test_max_num_orders_frees_a_slot_when_an_order_is_canceled(small_limits, desk_on):
    desk = desk_on(small_limits)
    first = desk.buy(P - 2, 100)
    desk.buy(P - 1, 100)
    desk.cancel(first.order_id)
    assert desk.buy(P - 3, 100).of(OrderAccepted)


def test_max_num_orders_counts_parked_stops(small_limits, desk_on):
    desk = desk_on(small_limits)
    desk.buy(P - 2, 100)
    desk.stop(Side.BUY, OrderType.STOP_LOSS, stop_price=P + 10)
    assert desk.buy(P - 3, 100).one(OrderRejected).msg == "Filter failure: MAX_NUM_ORDERS"


def test_max_num_algo_orders_rejects_the_stop_past_the_limit(small_limits, desk_on):
    desk = desk_on(small_limits)
    desk.stop(Side.BUY, OrderType.STOP_LOSS, stop_price=P + 10)
    rejected = desk.stop(Side.SELL, OrderType.STOP_LOSS, stop_price=P - 10).one(OrderRejected)
    assert (rejected.code, rejected.msg) == (-1013, "Filter failure: MAX_NUM_ALGO_ORDERS")


def test_percent_price_by_side_is_not_checked_before_any_trade(desk):
    assert desk.buy(10 * P, 100).of(OrderAccepted)


def test_percent_price_by_side_passes_at_five_times_the_average_price(desk):
    desk.trade_at(P)
    assert desk.buy(5 * P, 100).of(OrderAccepted)


@pytest.mark.parametrize(
    ("side", "price"),
    [(Side.BUY, 5 * P + 1), (Side.BUY, P // 5 - 1), (Side.SELL, 5 * P + 1), (Side.SELL, P // 5 - 1)],
)
def test_percent_price_by_side_rejects_one_tick_outside_the_band(desk, side, price):
    desk.trade_at(P)
    rejected = desk.place(side, price=price, qty=100).one(OrderRejected)
    assert (rejected.code, rejected.msg) == (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE")


def test_percent_price_by_side_passes_at_one_fifth_of_the_average_price(desk):
    desk.trade_at(P)
    assert desk.sell(P // 5, 100, account=BOB).of(OrderAccepted)


def test_market_order_below_min_notional_at_the_average_price_is_rejected(desk):
    desk.trade_at(P)
    desk.sell(P, 1000, account=BOB)
    # 16 lots x 30000 = 4.8 USDT < 5; 17 lots = 5.1 USDT passes
    assert desk.market(Side.BUY, 16).one(OrderRejected).msg == "Filter failure: NOTIONAL"
    assert desk.market(Side.BUY, 17).of(OrderAccepted)


def test_market_order_above_max_notional_is_rejected_when_apply_max_to_market(btcusdt, desk_on):
    notional = Notional(0, units("100"), apply_min_to_market=False, apply_max_to_market=True)
    desk = desk_on(MatchingEngine(dataclasses.replace(btcusdt, notional=notional)))
    desk.trade_at(P)
    desk.sell(P, 10_000, account=BOB)
    # 5000 lots x 30000 = 1500 USDT > maxNotional 100
    assert desk.market(Side.BUY, 5000).one(OrderRejected).msg == "Filter failure: NOTIONAL"
