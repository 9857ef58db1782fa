"""Binance's stream payloads, key for key, and the depth replica's diffs."""

from __future__ import annotations

from castle.book import DepthSnapshot
from castle.marketdata import stream_messages as msg
from castle.marketdata.projection import AggTrade, Kline, Trade
from castle.marketdata.views import DayStats
from castle.symbols import default_symbols

BTC = default_symbols()["BTCUSDT"]
E = 1_700_000_061_234


def test_trade_has_binance_keys_and_formatted_amounts():
    assert msg.trade(BTC, Trade(7, 3_000_000, 150, E - 5, True), E) == {
        "e": "trade", "E": E, "s": "BTCUSDT", "t": 7, "p": "30000.00000000", "q": "0.00150000",
        "T": E - 5, "m": True, "M": True,
    }


def test_agg_trade_names_its_first_and_last_trade():
    agg = AggTrade(3, 3_000_000, 300, 10, 12, E - 5, False, 99, 41)
    assert msg.agg_trade(BTC, agg, E) == {
        "e": "aggTrade", "E": E, "s": "BTCUSDT", "a": 3, "p": "30000.00000000", "q": "0.00300000",
        "f": 10, "l": 12, "T": E - 5, "m": False, "M": True,
    }


def test_kline_is_the_rest_candle_with_close_time_and_closed_flag():
    k = Kline(1_700_000_040_000, 3_000_000, 3_000_100, 2_999_900, 3_000_050, volume=200, quote=600_005_000,
              trades=2, taker_buy_volume=100, taker_buy_quote=300_010_000, first_id=5, last_id=6, last_qty=100)
    k_json = msg.kline(BTC, "1m", k, E, False)["k"]
    assert list(k_json) == ["t", "T", "s", "i", "f", "L", "o", "c", "h", "l", "v", "n", "x", "q", "V", "Q", "B"]
    assert (k_json["t"], k_json["T"], k_json["i"], k_json["o"], k_json["c"], k_json["v"], k_json["n"], k_json["x"]) == (
        1_700_000_040_000, 1_700_000_099_999, "1m", "30000.00000000", "30000.50000000", "0.00200000", 2, False)


def test_depth_update_and_partial_depth_shapes():
    update = msg.depth_update(BTC, E, 11, 14, [(3_000_000, 100)], [(3_000_100, 0)])
    assert update == {"e": "depthUpdate", "E": E, "s": "BTCUSDT", "U": 11, "u": 14,
                      "b": [["30000.00000000", "0.00100000"]], "a": [["30001.00000000", "0.00000000"]]}
    book = DepthSnapshot(14, [(3_000_000, 100), (2_999_900, 5)], [(3_000_100, 7)])
    assert msg.partial_depth(BTC, book, 5) == {
        "lastUpdateId": 14,
        "bids": [["30000.00000000", "0.00100000"], ["29999.00000000", "0.00005000"]],
        "asks": [["30001.00000000", "0.00007000"]],
    }


def test_book_ticker_has_no_event_type():
    assert msg.book_ticker(BTC, 9, (3_000_000, 1), None) == {
        "u": 9, "s": "BTCUSDT", "b": "30000.00000000", "B": "0.00001000", "a": "0.00000000", "A": "0.00000000"}


def test_tickers_use_binance_letters():
    stats = DayStats(1, 2, prev_close=2_900_000, open=2_900_000, high=3_100_000, low=2_800_000, last=3_000_000,
                     last_qty=10, volume=100, quote=295_000_000, first_id=1, last_id=9, count=9)
    mini = msg.mini_ticker(BTC, stats, E)
    assert list(mini) == ["e", "E", "s", "c", "o", "h", "l", "v", "q"] and mini["e"] == "24hrMiniTicker"
    full = msg.ticker(BTC, stats, (2_999_900, 3), (3_000_100, 4), E)
    assert list(full) == ["e", "E", "s", "p", "P", "w", "x", "c", "Q", "b", "B", "a", "A", "o", "h", "l", "v",
                          "q", "O", "C", "F", "L", "n"]
    assert (full["p"], full["P"], full["w"], full["n"]) == ("1000.00000000", "3.448", "29500.00000000", 9)


def test_combined_wraps_stream_and_data():
    assert msg.combined("btcusdt@trade", {"e": "trade"}) == {"stream": "btcusdt@trade", "data": {"e": "trade"}}


def test_replica_first_read_loads_then_diffs_cover_every_update_id():
    replica = msg.BookReplica()
    assert replica.advance(DepthSnapshot(5, [(100, 1), (99, 2)], [(101, 3)])) is None
    assert replica.advance(DepthSnapshot(5, [(100, 1)], [])) is None  # same update id: nothing new
    diff = replica.advance(DepthSnapshot(9, [(100, 4), (98, 1)], [(101, 3), (102, 1)]))
    assert diff == (6, 9, [(100, 4), (99, 0), (98, 1)], [(102, 1)])
    assert replica.top() == ((100, 4), (101, 3))
    assert replica.snapshot(1) == DepthSnapshot(9, [(100, 4)], [(101, 3)])


def test_a_local_book_following_the_diffs_equals_the_source():
    import random

    rng = random.Random(3)
    replica, local = msg.BookReplica(), None
    bids: dict[int, int] = {}
    for update_id in range(1, 60):
        for _ in range(3):
            bids[rng.randint(90, 100)] = rng.choice([0, 0, 1, 2, 3])
        book = DepthSnapshot(update_id, sorted(((p, q) for p, q in bids.items() if q), reverse=True), [])
        diff = replica.advance(book)
        if local is None:
            local = dict(book.bids)
            continue
        if diff:
            for p, q in diff[2]:
                local.pop(p, None) if q == 0 else local.__setitem__(p, q)
        assert local == dict(book.bids)
