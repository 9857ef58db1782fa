"""castle.marketdata: a known sequence of fills -> Binance's exact trades, aggTrades, klines and tickers.

BTCUSDT: tick 0.01 USDT, lot 0.00001 BTC. The fills come from the real engine,
so the projection is tested on the events it will actually consume.
"""

from __future__ import annotations

import itertools

import pytest
from castle import errors
from castle.events import to_dict
from castle.marketdata import views
from castle.marketdata.intervals import (
    INTERVALS,
    check_interval,
    close_time,
    days_from_civil,
    open_time,
    parse_time_zone,
)
from castle.marketdata.projection import MarketDataProjection, ProjectionState

P = 3_000_000  # 30,000.00 USDT
ALICE, BOB, CAROL = 1, 2, 3
T = days_from_civil(2023, 11, 14) * 86_400_000 + 3_600_000  # 2023-11-14 01:00:00 UTC


class Feed:
    """The engine's events as the events stream carries them: one entry id per event."""

    def __init__(self, projection: MarketDataProjection) -> None:
        self.projection = projection
        self.entries: list[tuple[str, dict]] = []
        self._n = itertools.count(1)

    def push(self, result) -> None:
        for event in result.events:
            entry = (f"{T}-{next(self._n)}", to_dict(event))
            self.entries.append(entry)
            self.projection.apply(*entry)


@pytest.fixture
def fills(desk, btcusdt):
    """Three fills of one BUY taker sweeping two prices, then one SELL taker a minute later."""
    projection = MarketDataProjection()
    feed = Feed(projection)
    feed.push(desk.sell(P, 100, account=BOB, ts=T))
    feed.push(desk.sell(P, 50, account=BOB, ts=T))
    feed.push(desk.sell(P + 100, 200, account=BOB, ts=T))
    feed.push(desk.buy(P + 100, 180, account=CAROL, ts=T + 1_000))
    feed.push(desk.buy(P + 50, 10, account=ALICE, ts=T + 2_000))
    feed.push(desk.sell(P + 50, 10, account=BOB, ts=T + 61_000))
    return projection, feed


def stored_klines(projection: MarketDataProjection, changes, interval: str):
    return sorted(changes.klines[interval].values(), key=lambda k: k.open_time)


def test_trades_have_binance_recent_trades_shape(fills, btcusdt):
    projection, _ = fills
    changes = projection.take_changes()
    assert [views.trade_json(btcusdt, t) for t in changes.trades] == [
        {"id": 1, "price": "30000.00000000", "qty": "0.00100000", "quoteQty": "30.00000000", "time": T + 1_000,
         "isBuyerMaker": False, "isBestMatch": True},
        {"id": 2, "price": "30000.00000000", "qty": "0.00050000", "quoteQty": "15.00000000", "time": T + 1_000,
         "isBuyerMaker": False, "isBestMatch": True},
        {"id": 3, "price": "30001.00000000", "qty": "0.00030000", "quoteQty": "9.00030000", "time": T + 1_000,
         "isBuyerMaker": False, "isBestMatch": True},
        {"id": 4, "price": "30000.50000000", "qty": "0.00010000", "quoteQty": "3.00005000", "time": T + 61_000,
         "isBuyerMaker": True, "isBestMatch": True},
    ]


def test_consecutive_fills_of_one_taker_at_one_price_make_one_agg_trade(fills, btcusdt):
    projection, _ = fills
    changes = projection.take_changes()
    assert [views.agg_trade_json(btcusdt, a) for a in changes.aggs.values()] == [
        {"a": 1, "p": "30000.00000000", "q": "0.00150000", "f": 1, "l": 2, "T": T + 1_000, "m": False, "M": True},
        {"a": 2, "p": "30001.00000000", "q": "0.00030000", "f": 3, "l": 3, "T": T + 1_000, "m": False, "M": True},
        {"a": 3, "p": "30000.50000000", "q": "0.00010000", "f": 4, "l": 4, "T": T + 61_000, "m": True, "M": True},
    ]


def test_one_minute_klines_are_exact(fills, btcusdt):
    projection, _ = fills
    rows = [views.kline_row(btcusdt, "1m", k) for k in stored_klines(projection, projection.take_changes(), "1m")]
    assert rows == [
        [T, "30000.00000000", "30001.00000000", "30000.00000000", "30001.00000000", "0.00180000", T + 59_999,
         "54.00030000", 3, "0.00180000", "54.00030000", "0"],
        [T + 60_000, "30000.50000000", "30000.50000000", "30000.50000000", "30000.50000000", "0.00010000",
         T + 119_999, "3.00005000", 1, "0.00000000", "0.00000000", "0"],
    ]


def test_one_hour_kline_holds_every_fill(fills, btcusdt):
    projection, _ = fills
    (k,) = stored_klines(projection, projection.take_changes(), "1h")
    assert views.kline_row(btcusdt, "1h", k) == [
        T, "30000.00000000", "30001.00000000", "30000.00000000", "30000.50000000", "0.00190000", T + 3_599_999,
        "57.00035000", 4, "0.00180000", "54.00030000", "0",
    ]


def test_every_interval_gets_a_candle(fills):
    projection, _ = fills
    changes = projection.take_changes()
    assert set(changes.klines) == set(INTERVALS)
    assert changes.klines["1M"].keys() == {days_from_civil(2023, 11, 1) * 86_400_000}
    assert changes.klines["1w"].keys() == {days_from_civil(2023, 11, 13) * 86_400_000}  # a Monday


def test_ticker_24hr_full_is_exact(fills, btcusdt):
    projection, _ = fills
    minutes = stored_klines(projection, projection.take_changes(), "1m")
    now = T + 120_000
    stats = views.day_stats(minutes, now, None, projection.state.last_trade)
    assert views.ticker_full(btcusdt, stats, (P + 50, 0), (P + 100, 20)) == {
        "symbol": "BTCUSDT",
        "priceChange": "0.50000000",
        "priceChangePercent": "0.002",
        "weightedAvgPrice": "30000.18421053",
        "prevClosePrice": "0.00000000",
        "lastPrice": "30000.50000000",
        "lastQty": "0.00010000",
        "bidPrice": "30000.50000000",
        "bidQty": "0.00000000",
        "askPrice": "30001.00000000",
        "askQty": "0.00020000",
        "openPrice": "30000.00000000",
        "highPrice": "30001.00000000",
        "lowPrice": "30000.00000000",
        "volume": "0.00190000",
        "quoteVolume": "57.00035000",
        "openTime": now - 86_400_000,
        "closeTime": now,
        "firstId": 1,
        "lastId": 4,
        "count": 4,
    }


def test_ticker_mini_has_binance_mini_keys(fills, btcusdt):
    projection, _ = fills
    minutes = stored_klines(projection, projection.take_changes(), "1m")
    mini = views.ticker_mini(btcusdt, views.day_stats(minutes, T + 120_000))
    assert list(mini) == ["symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume",
                          "openTime", "closeTime", "firstId", "lastId", "count"]


def test_a_day_later_the_ticker_is_flat_at_the_last_price(fills, btcusdt):
    projection, _ = fills
    minutes = stored_klines(projection, projection.take_changes(), "1m")
    stats = views.day_stats(minutes, T + 2 * 86_400_000, minutes[-1], projection.state.last_trade)
    full = views.ticker_full(btcusdt, stats, None, None)
    assert (full["lastPrice"], full["openPrice"], full["priceChangePercent"]) == ("30000.50000000",) * 2 + ("0.000",)
    assert (full["volume"], full["firstId"], full["lastId"], full["count"]) == ("0.00000000", -1, -1, 0)


def test_avg_price_agrees_with_the_engine(fills, engine, btcusdt):
    projection, _ = fills
    minutes = stored_klines(projection, projection.take_changes(), "1m")
    for now in (T + 120_000, T + 299_999, T + 300_000, T + 400_000):
        answer = views.avg_price(btcusdt, minutes, now, projection.state.last_trade)
        num, den = engine.avg_price.value(now)
        assert answer["price"] == views.price_of_fraction(btcusdt, num, den)
        assert answer["mins"] == 5 and answer["closeTime"] == T + 61_000
    assert views.avg_price(btcusdt, minutes, T + 120_000, projection.state.last_trade)["price"] == "30000.18421053"


def test_price_change_percent_rounds_like_binance():
    # Binance's documented example: -94.99999800 on an open of 99.00000000 is "-95.960".
    assert views.percent(-9_499_999_800, 9_900_000_000) == "-95.960"
    assert views.percent(-95, 10_000) == "-0.950"
    assert views.percent(0, 0) == "0.000"


def test_a_redelivered_entry_changes_nothing(fills):
    projection, feed = fills
    projection.take_changes()
    before = projection.state.to_dict()
    for entry in feed.entries:
        assert projection.apply(*entry) is False
    assert projection.state.to_dict() == before and not projection.take_changes()


def test_the_state_round_trips_and_continues_the_same(fills, desk):
    projection, feed = fills
    restored = MarketDataProjection(ProjectionState.from_dict(projection.state.to_dict()))
    result = desk.buy(P + 100, 5, account=CAROL, ts=T + 62_000)
    for proj in (projection, restored):
        proj.take_changes()
        for i, event in enumerate(result.events):
            proj.apply(f"{T + 62_000}-{i}", to_dict(event))
    assert restored.state.to_dict() == projection.state.to_dict()
    assert restored.state.agg.id == 4


def test_trade_times_never_go_backwards(btcusdt):
    projection = MarketDataProjection()
    base = {"type": "TradeExecuted", "seq": 1, "price": P, "qty": 1, "maker_order_id": 1, "maker_account": 1,
            "maker_remaining": 0, "taker_order_id": 2, "taker_account": 2, "taker_remaining": 0, "taker_side": "BUY"}
    projection.apply("1-0", {**base, "trade_id": 1, "ts": T + 5})
    projection.apply("2-0", {**base, "seq": 2, "trade_id": 2, "taker_order_id": 3, "ts": T + 3})
    assert [t.time for t in projection.take_changes().trades] == [T + 5, T + 5]


# ------------------------------------------------------------ intervals
@pytest.mark.parametrize(
    ("interval", "opened", "closed"),
    [
        ("1s", T + 1_000, T + 1_999),
        ("3m", T, T + 179_999),
        ("8h", T - 3_600_000, T + 25_199_999),
        ("3d", days_from_civil(2023, 11, 13) * 86_400_000, days_from_civil(2023, 11, 16) * 86_400_000 - 1),
        ("1w", days_from_civil(2023, 11, 13) * 86_400_000, days_from_civil(2023, 11, 20) * 86_400_000 - 1),
        ("1M", days_from_civil(2023, 11, 1) * 86_400_000, days_from_civil(2023, 12, 1) * 86_400_000 - 1),
    ],
)
def test_open_and_close_times_align_as_binance(interval, opened, closed):
    assert open_time(interval, T + 1_500) == opened
    assert close_time(interval, opened) == closed


def test_december_closes_at_the_new_year():
    dec = days_from_civil(2023, 12, 1) * 86_400_000
    assert close_time("1M", open_time("1M", dec + 5)) == days_from_civil(2024, 1, 1) * 86_400_000 - 1


def test_a_time_zone_shifts_the_day_candle():
    assert open_time("1d", T, parse_time_zone("8")) == days_from_civil(2023, 11, 13) * 86_400_000 + 16 * 3_600_000
    assert parse_time_zone("-1:00") == -3_600_000 and parse_time_zone("05:45") == 20_700_000


@pytest.mark.parametrize("bad", ["15", "-13", "+14:01", "abc", "1:60"])
def test_a_time_zone_outside_binance_range_is_rejected(bad):
    with pytest.raises(errors.CastleError) as e:
        parse_time_zone(bad)
    assert e.value.code == -1130


def test_an_unknown_interval_is_binance_invalid_interval():
    with pytest.raises(errors.CastleError) as e:
        check_interval("2m")
    assert e.value.to_dict() == {"code": -1120, "msg": "Invalid interval."}
