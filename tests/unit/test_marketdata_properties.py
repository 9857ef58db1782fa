"""castle.marketdata invariants (hypothesis): candles and tickers are exact folds of the trades."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from castle.marketdata import views
from castle.marketdata.intervals import INTERVALS, open_time
from castle.marketdata.projection import MarketDataProjection

T0 = 1_700_000_000_000

fills = st.lists(
    st.tuples(
        st.integers(0, 4 * 3_600_000),  # ms since the previous fill
        st.integers(1, 50),  # price
        st.integers(1, 1_000),  # qty
        st.booleans(),  # the taker sold
        st.booleans(),  # a new taker (else the previous taker's next fill)
    ),
    min_size=1,
    max_size=60,
)


def project(steps):
    projection = MarketDataProjection()
    ts, seq, taker = T0, 0, 0
    for i, (dt, price, qty, sold, new_taker) in enumerate(steps, start=1):
        ts += dt
        if new_taker or dt:
            seq, taker = seq + 1, taker + 1
        projection.apply(f"{ts}-{i}", {
            "type": "TradeExecuted", "seq": seq, "trade_id": i, "price": price, "qty": qty, "maker_order_id": 0,
            "maker_account": 1, "maker_remaining": 0, "taker_order_id": taker, "taker_account": 2,
            "taker_remaining": 0, "taker_side": "SELL" if sold else "BUY", "ts": ts,
        })
    return projection, projection.take_changes()


@settings(max_examples=60, deadline=None)
@given(fills)
def test_kline_volume_is_the_sum_of_its_trades_and_high_low_bound_them(steps):
    _, changes = project(steps)
    for interval in INTERVALS:
        candles = changes.klines[interval]
        for opened, k in candles.items():
            inside = [t for t in changes.trades if open_time(interval, t.time) == opened]
            assert k.volume == sum(t.qty for t in inside)
            assert k.quote == sum(t.price * t.qty for t in inside)
            assert k.trades == len(inside)
            assert k.high == max(t.price for t in inside) and k.low == min(t.price for t in inside)
            assert (k.open, k.close) == (inside[0].price, inside[-1].price)
            assert k.taker_buy_volume == sum(t.qty for t in inside if not t.buyer_maker)
        assert sum(k.trades for k in candles.values()) == len(changes.trades)


@settings(max_examples=60, deadline=None)
@given(fills)
def test_agg_trades_partition_the_trades(steps):
    _, changes = project(steps)
    aggs = list(changes.aggs.values())
    assert [a.id for a in aggs] == list(range(1, len(aggs) + 1))
    assert aggs[0].first_id == 1 and aggs[-1].last_id == len(changes.trades)
    by_id = {t.id: t for t in changes.trades}
    for prev, a in zip([None, *aggs], aggs):
        assert prev is None or a.first_id == prev.last_id + 1
        members = [by_id[i] for i in range(a.first_id, a.last_id + 1)]
        assert a.qty == sum(t.qty for t in members) and {t.price for t in members} == {a.price}


@settings(max_examples=80, deadline=None)
@given(fills, st.integers(0, 30 * 3_600_000))
def test_24h_stats_equal_a_brute_force_recomputation(steps, after_last):
    projection, changes = project(steps)
    minutes = sorted(changes.klines["1m"].values(), key=lambda k: k.open_time)
    now = changes.trades[-1].time + after_last
    opened, closed = views.ticker_window(now)
    before = [k for k in minutes if k.open_time < opened]
    stats = views.day_stats([k for k in minutes if k.open_time >= opened], now, before[-1] if before else None,
                            projection.state.last_trade)
    window = [t for t in changes.trades if opened <= t.time <= closed]
    earlier = [t for t in changes.trades if t.time < opened]
    assert (stats.open_time, stats.close_time) == (opened, now)
    if window:
        assert stats.prev_close == (earlier[-1].price if earlier else 0)
        assert (stats.open, stats.last, stats.last_qty) == (window[0].price, window[-1].price, window[-1].qty)
        assert stats.high == max(t.price for t in window) and stats.low == min(t.price for t in window)
        assert stats.volume == sum(t.qty for t in window)
        assert stats.quote == sum(t.price * t.qty for t in window)
        assert (stats.first_id, stats.last_id, stats.count) == (window[0].id, window[-1].id, len(window))
    else:
        last = changes.trades[-1].price
        assert (stats.open, stats.high, stats.low, stats.last, stats.prev_close) == (last,) * 5
        assert (stats.volume, stats.count, stats.first_id, stats.last_id) == (0, 0, -1, -1)


@settings(max_examples=40, deadline=None)
@given(fills, st.sampled_from(["1m", "5m", "1h", "1d"]), st.integers(1, 30))
def test_kline_series_carries_the_close_through_quiet_candles(steps, interval, limit):
    _, changes = project(steps)
    stored = sorted(changes.klines[interval].values(), key=lambda k: k.open_time)
    now = changes.trades[-1].time
    wanted = views.kline_range(interval, now, limit)
    series = views.kline_series(interval, [k for k in stored if k.open_time >= wanted.first],
                                wanted, next((k for k in reversed(stored) if k.open_time < wanted.first), None))
    assert 1 <= len(series) <= limit and series[-1].open_time == open_time(interval, now)
    for prev, k in zip(series, series[1:]):
        assert k.open_time > prev.open_time
        if not k.trades:
            assert k.open == k.high == k.low == k.close == prev.close and k.volume == 0
