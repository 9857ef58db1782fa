"""The rolling average price (Binance's avgPrice) and the PERCENT_PRICE_BY_SIDE band it sets, on both builds."""

from __future__ import annotations

import pytest
from castle.events import OrderAccepted, OrderRejected
from castle.stats import MINUTE_MS, AveragePrice
from tests.unit.conftest import BOB, CAROL

T = 1_700_000_040_000  # 40 s into a minute


def test_no_trade_gives_no_average():
    assert AveragePrice(5).value(T) is None


def test_the_average_is_the_exact_volume_weighted_fraction():
    avg = AveragePrice(5)
    avg.record(T, 100, 1)
    avg.record(T + 1, 101, 2)
    assert avg.value(T + 2) == (302, 3)


def test_a_minute_leaves_the_window_when_the_window_has_moved_past_it():
    avg = AveragePrice(5)
    avg.record(T, 100, 1)  # in minute m
    avg.record(T + MINUTE_MS, 200, 1)  # in minute m + 1
    last_ms_with_m = T - T % MINUTE_MS + 5 * MINUTE_MS - 1
    assert avg.value(last_ms_with_m) == (300, 2)
    assert avg.value(last_ms_with_m + 1) == (200, 1)


def test_an_empty_window_falls_back_to_the_last_price():
    avg = AveragePrice(1)
    avg.record(T, 100, 1)
    avg.record(T, 150, 1)
    assert avg.value(T + 10 * MINUTE_MS) == (150, 1)


def test_trades_of_one_minute_share_its_bucket_and_survive_a_round_trip_through_a_dict():
    avg = AveragePrice(5)
    for i in range(3):
        avg.record(T + i, 100 + i, 1)
    assert avg.to_dict()["buckets"] == [[T // MINUTE_MS, 303, 3]]
    assert AveragePrice.from_dict(avg.to_dict()).value(T + 3) == avg.value(T + 3)


def trade(desk, price: int, ts: int) -> None:
    desk.sell(price, 1, account=BOB, ts=ts)
    desk.buy(price, 1, account=CAROL, ts=ts)


@pytest.mark.parametrize(("price", "admitted"), [(500, True), (501, False)])
def test_the_band_is_set_by_a_trade_in_the_same_minute(desk, price, admitted):
    """BTCUSDT's bid band is 0.2x to 5x the average: a trade at 100 sets it to [20, 500]."""
    trade(desk, 100, T)
    result = desk.buy(price, 1, ts=T + 1)
    assert bool(result.of(OrderAccepted)) is admitted
    assert bool(result.of(OrderRejected)) is not admitted


def test_the_band_moves_with_the_next_trade_of_the_same_minute(desk):
    trade(desk, 100, T)
    assert desk.buy(501, 1, ts=T + 1).of(OrderRejected)
    trade(desk, 300, T + 2)  # the average is now 200: the bid band's top is 1000
    assert desk.buy(1000, 1, ts=T + 3).of(OrderAccepted)
    assert desk.buy(1001, 1, ts=T + 4).of(OrderRejected)


@pytest.mark.parametrize(("price", "admitted"), [(20, True), (19, False)])
def test_a_sell_is_held_to_the_ask_band(desk, price, admitted):
    trade(desk, 100, T)
    assert bool(desk.sell(price, 1, ts=T + 1).of(OrderAccepted)) is admitted
