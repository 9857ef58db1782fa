"""Binance's market-data shapes, computed from the projection's records.

Pure functions of (records, symbol, now): the REST handler reads the records,
these build the answer. Amounts are formatted once, here, with the `Symbol`
(8 decimals); ratios (weightedAvgPrice, avgPrice, priceChangePercent) are
exact fractions rounded half away from zero to the digits Binance prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from castle.marketdata.intervals import DAY, MINUTE, close_time, next_open, open_time, previous_open
from castle.marketdata.projection import AggTrade, Kline, Trade
from castle.money import format_units
from castle.stats import AveragePrice
from castle.symbols import SCALE, Symbol

TICKER_WINDOW = DAY


def round_div(num: int, den: int) -> int:
    """num/den rounded half away from zero."""
    q, r = divmod(abs(num), den)
    q += 2 * r >= den
    return -q if num < 0 else q


def percent(change: int, base: int) -> str:
    """Binance's priceChangePercent: 100*change/base with 3 decimals ("-0.950")."""
    if not base:
        return "0.000"
    return format_units(round_div(change * 100_000, base), 3, 3)


def price_of_fraction(symbol: Symbol, num: int, den: int) -> str:
    """A price num/den ticks, in units (8 decimals)."""
    return format_units(round_div(num * symbol.tick, den), SCALE) if den else format_units(0, SCALE)


# --------------------------------------------------------------- trades
def trade_json(symbol: Symbol, t: Trade) -> dict:
    return {
        "id": t.id,
        "price": symbol.format_price(t.price),
        "qty": symbol.format_qty(t.qty),
        "quoteQty": symbol.format_quote(t.price * t.qty),
        "time": t.time,
        "isBuyerMaker": t.buyer_maker,
        "isBestMatch": True,
    }


def agg_trade_json(symbol: Symbol, a: AggTrade) -> dict:
    """`/api/v3/aggTrades`' row; the `<symbol>@aggTrade` stream sends the same after its e, E and s."""
    return {
        "a": a.id,
        "p": symbol.format_price(a.price),
        "q": symbol.format_qty(a.qty),
        "f": a.first_id,
        "l": a.last_id,
        "T": a.time,
        "m": a.buyer_maker,
        "M": True,
    }


# --------------------------------------------------------------- klines
def kline_row(symbol: Symbol, interval: str, k: Kline, offset: int = 0) -> list:
    return [
        k.open_time,
        symbol.format_price(k.open),
        symbol.format_price(k.high),
        symbol.format_price(k.low),
        symbol.format_price(k.close),
        symbol.format_qty(k.volume),
        close_time(interval, k.open_time, offset),
        symbol.format_quote(k.quote),
        k.trades,
        symbol.format_qty(k.taker_buy_volume),
        symbol.format_quote(k.taker_buy_quote),
        "0",
    ]


@dataclass(frozen=True, slots=True)
class KlineRange:
    """Which candles a klines request wants: open times in [first, last], at most `limit` of them."""

    first: int
    last: int
    limit: int
    from_start: bool  # True: the first `limit` from `first`; False: the last `limit` up to `last`


def kline_range(
    interval: str, now: int, limit: int, start: int | None = None, end: int | None = None, offset: int = 0
) -> KlineRange:
    """Binance: without startTime/endTime, the most recent candles; startTime/endTime bound open times."""
    last = open_time(interval, now if end is None else min(end, now), offset)
    if start is not None:
        first = open_time(interval, start, offset)
        if first < start:
            first = next_open(interval, first, offset)
        return KlineRange(first, last, limit, True)
    first = last
    for _ in range(limit - 1):
        first = previous_open(interval, first, offset)
    return KlineRange(first, last, limit, False)


def kline_series(interval: str, stored: Iterable[Kline], wanted: KlineRange, before: Kline | None = None,
                 offset: int = 0) -> list[Kline]:
    """The candles of `wanted`, with flat candles (the previous close, no volume) where nothing traded.

    `stored` are the candles with trades whose open time is in the range, ascending; `before`
    is the last one before the range (its close carries into a leading gap). Before the first
    trade ever there is no candle.
    """
    by_open = {k.open_time: k for k in stored}
    out: list[Kline] = []
    close = None if before is None else before.close
    opened = wanted.first
    while opened <= wanted.last:
        k = by_open.get(opened)
        if k is not None:
            out.append(k)
            close = k.close
        elif close is not None:
            out.append(Kline.flat(opened, close))
        else:  # nothing traded yet: skip to the first candle with trades
            later = [o for o in by_open if o > opened]
            if not later:
                break
            opened = min(later)
            continue
        if wanted.from_start and len(out) == wanted.limit:
            break
        opened = next_open(interval, opened, offset)
    return out if wanted.from_start else out[-wanted.limit:]


def merge_klines(interval: str, source: Iterable[Kline], offset: int) -> list[Kline]:
    """Candles of `interval` (in a time zone) built from finer candles, for timeZone requests."""
    out: list[Kline] = []
    for k in source:
        if not k.trades:
            continue
        opened = open_time(interval, k.open_time, offset)
        if not out or out[-1].open_time != opened:
            out.append(Kline(opened, k.open, k.high, k.low, k.close, 0, 0, 0, 0, 0, k.first_id, k.last_id, 0))
        m = out[-1]
        m.high, m.low, m.close = max(m.high, k.high), min(m.low, k.low), k.close
        m.volume += k.volume
        m.quote += k.quote
        m.trades += k.trades
        m.taker_buy_volume += k.taker_buy_volume
        m.taker_buy_quote += k.taker_buy_quote
        m.last_id, m.last_qty = k.last_id, k.last_qty
    return out


# --------------------------------------------------------------- tickers
def ticker_window(now: int) -> tuple[int, int]:
    """The 24 h window: Binance's rolling windows open on a minute, close now (up to 59,999 ms wider)."""
    return open_time("1m", now - TICKER_WINDOW), now


@dataclass(slots=True)
class DayStats:
    """The fold of the 1m candles of the window."""

    open_time: int
    close_time: int
    prev_close: int = 0
    open: int = 0
    high: int = 0
    low: int = 0
    last: int = 0
    last_qty: int = 0
    volume: int = 0
    quote: int = 0
    first_id: int = -1
    last_id: int = -1
    count: int = 0


def day_stats(minutes: Iterable[Kline], now: int, before: Kline | None = None, last_trade: Trade | None = None
              ) -> DayStats:
    """24 h statistics from the 1m candles opened in the window (ascending) and the one before it."""
    opened, closed = ticker_window(now)
    stats = DayStats(opened, closed)
    if before is not None:
        stats.prev_close = before.close
    for k in minutes:
        if k.open_time < opened or not k.trades:
            continue
        if not stats.count:
            stats.open, stats.high, stats.low, stats.first_id = k.open, k.high, k.low, k.first_id
        stats.high, stats.low = max(stats.high, k.high), min(stats.low, k.low)
        stats.last, stats.last_qty, stats.last_id = k.close, k.last_qty, k.last_id
        stats.volume += k.volume
        stats.quote += k.quote
        stats.count += k.trades
    if not stats.count:
        # Nothing traded in the window: flat at the last price.
        last = last_trade.price if last_trade is not None else stats.prev_close
        stats.prev_close = stats.open = stats.high = stats.low = stats.last = last
    return stats


def _window_tail(symbol: Symbol, s: DayStats) -> dict:
    """What both 24h tickers end with, in Binance's order: the window's volume, bounds and trade ids."""
    return {
        "volume": symbol.format_qty(s.volume),
        "quoteVolume": symbol.format_quote(s.quote),
        "openTime": s.open_time,
        "closeTime": s.close_time,
        "firstId": s.first_id,
        "lastId": s.last_id,
        "count": s.count,
    }


def ticker_mini(symbol: Symbol, s: DayStats) -> dict:
    return {
        "symbol": symbol.name,
        "openPrice": symbol.format_price(s.open),
        "highPrice": symbol.format_price(s.high),
        "lowPrice": symbol.format_price(s.low),
        "lastPrice": symbol.format_price(s.last),
        **_window_tail(symbol, s),
    }


def ticker_full(symbol: Symbol, s: DayStats, bid: tuple[int, int] | None, ask: tuple[int, int] | None) -> dict:
    bid_price, bid_qty = bid or (0, 0)
    ask_price, ask_qty = ask or (0, 0)
    return {
        "symbol": symbol.name,
        "priceChange": symbol.format_price(s.last - s.open),
        "priceChangePercent": percent(s.last - s.open, s.open),
        "weightedAvgPrice": price_of_fraction(symbol, s.quote, s.volume),
        "prevClosePrice": symbol.format_price(s.prev_close),
        "lastPrice": symbol.format_price(s.last),
        "lastQty": symbol.format_qty(s.last_qty),
        "bidPrice": symbol.format_price(bid_price),
        "bidQty": symbol.format_qty(bid_qty),
        "askPrice": symbol.format_price(ask_price),
        "askQty": symbol.format_qty(ask_qty),
        "openPrice": symbol.format_price(s.open),
        "highPrice": symbol.format_price(s.high),
        "lowPrice": symbol.format_price(s.low),
        **_window_tail(symbol, s),
    }


def book_ticker(symbol: Symbol, bid: tuple[int, int] | None, ask: tuple[int, int] | None) -> dict:
    bid_price, bid_qty = bid or (0, 0)
    ask_price, ask_qty = ask or (0, 0)
    return {
        "symbol": symbol.name,
        "bidPrice": symbol.format_price(bid_price),
        "bidQty": symbol.format_qty(bid_qty),
        "askPrice": symbol.format_price(ask_price),
        "askQty": symbol.format_qty(ask_qty),
    }


def price_ticker(symbol: Symbol, last_trade: Trade | None) -> dict:
    return {"symbol": symbol.name, "price": symbol.format_price(0 if last_trade is None else last_trade.price)}


def avg_price(symbol: Symbol, minutes: Iterable[Kline], now: int, last_trade: Trade | None) -> dict:
    """Binance's avgPrice, by the engine's own rule (castle.stats.AveragePrice over the 1m candles)."""
    mins = symbol.percent_price.avg_price_mins if symbol.percent_price else symbol.notional.avg_price_mins
    average = AveragePrice(mins)
    for k in minutes:
        if k.trades:
            average.record_trades(k.open_time, k.quote, k.volume, k.close)
    if last_trade is not None:
        average.last_price = last_trade.price
    value = average.value(now)
    num, den = value if value is not None else (0, 1)
    return {
        "mins": mins,
        "price": price_of_fraction(symbol, num, den),
        "closeTime": 0 if last_trade is None else last_trade.time,
    }


def avg_price_window(symbol: Symbol, now: int) -> int:
    """The first 1m open time avgPrice looks at."""
    mins = symbol.percent_price.avg_price_mins if symbol.percent_price else symbol.notional.avg_price_mins
    return (now // MINUTE - mins + 1) * MINUTE
