"""Public market data (`/api/v3`): depth, trades, aggTrades, klines, avgPrice and the tickers.

Thin: parse Binance's parameters, read the projection's records from Redis
(castle.adapters.redis_marketdata; the depth is the engine's own mirror), and
let castle.marketdata.views build Binance's shapes. Errors are CastleErrors,
mapped once in app.py.
"""

from __future__ import annotations

import json
import re
import time
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from castle import errors
from castle.adapters.bootstrap import adapters
from castle.marketdata import views
from castle.marketdata.intervals import HOUR, INTERVALS, check_interval, next_open, parse_time_zone
from castle.symbols import Symbol, default_symbols, lookup

router = APIGatewayRouter()
SYMBOLS = default_symbols()
SYMBOLS_PATTERN = r'^\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\]$'
INT_PATTERN = r"^[0-9]{1,20}$"
INTEGER = re.compile(r"[0-9]{1,20}")
Param = Annotated[str | None, Query()]


def reader():
    return adapters().market_data


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# ------------------------------------------------------------ parameters
def integer(name: str, text: str | None) -> int | None:
    if text is None or text == "":
        return None
    if INTEGER.fullmatch(text) is None:
        raise errors.illegal_chars(name, INT_PATTERN)
    return int(text)


def limit_of(text: str | None, default: int, maximum: int) -> int:
    """Binance caps a limit above the maximum; zero is not a limit."""
    value = integer("limit", text)
    if value is None:
        return default
    if value < 1:
        raise errors.invalid_parameter("limit")
    return min(value, maximum)


def symbols_of(symbol: str | None, symbols: str | None) -> tuple[list[Symbol], bool]:
    """`symbol`, or a JSON array `symbols`, or every symbol; True when the answer is one object."""
    if symbol is not None and symbols is not None:
        raise errors.param_not_required("symbols")
    if symbol is not None:
        return [lookup(SYMBOLS, symbol)], True
    if symbols is None:
        return list(SYMBOLS.values()), False
    try:
        names = json.loads(symbols)
    except ValueError:
        names = None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise errors.illegal_chars("symbols", SYMBOLS_PATTERN)
    return [lookup(SYMBOLS, n) for n in names], False


def answer(items: list[dict], single: bool) -> dict | list[dict]:
    return items[0] if single else items


# ------------------------------------------------------------ routes
@router.get("/api/v3/depth")
def depth(symbol: Param = None, limit: Param = None) -> dict:
    sym = lookup(SYMBOLS, symbol)
    book = reader().depth(sym.name, limit_of(limit, 100, 5000))
    return {
        "lastUpdateId": book.last_update_id,
        "bids": [[sym.format_price(p), sym.format_qty(q)] for p, q in book.bids],
        "asks": [[sym.format_price(p), sym.format_qty(q)] for p, q in book.asks],
    }


@router.get("/api/v3/trades")
def trades(symbol: Param = None, limit: Param = None) -> list:
    sym = lookup(SYMBOLS, symbol)
    return [views.trade_json(sym, t) for t in reader().recent_trades(sym.name, limit_of(limit, 500, 1000))]


@router.get("/api/v3/aggTrades")
def agg_trades(
    symbol: Param = None,
    fromId: Param = None,  # noqa: N803 (Binance's parameter names)
    startTime: Param = None,  # noqa: N803
    endTime: Param = None,  # noqa: N803
    limit: Param = None,
) -> list:
    sym = lookup(SYMBOLS, symbol)
    from_id, start, end = integer("fromId", fromId), integer("startTime", startTime), integer("endTime", endTime)
    if start is not None and end is not None and end - start > HOUR:
        raise errors.lookup_interval_too_big()
    rows = reader().agg_trades(sym.name, limit_of(limit, 500, 1000), from_id, start, end)
    return [views.agg_trade_json(sym, a) for a in rows]


def _klines(symbol, interval, startTime, endTime, timeZone, limit) -> list:  # noqa: N803
    sym = lookup(SYMBOLS, symbol)
    name = check_interval(interval)
    offset = parse_time_zone(timeZone)
    start, end = integer("startTime", startTime), integer("endTime", endTime)
    wanted = views.kline_range(name, now_ms(), limit_of(limit, 500, 1000), start, end, offset)
    if wanted.first > wanted.last:
        return []
    source = source_interval(name, offset)
    stored, before = reader().klines(sym.name, source, wanted.first, next_open(name, wanted.last, offset) - 1)
    if source != name:
        stored = views.merge_klines(name, stored, offset)
    series = views.kline_series(name, stored, wanted, before, offset)
    return [views.kline_row(sym, name, k, offset) for k in series]


def source_interval(name: str, offset: int) -> str:
    """The stored candles to read: the interval itself, or (for a timeZone that cuts it elsewhere)
    the longest stored interval whose candles fit both cuts."""
    length = INTERVALS[name]
    if offset == 0 or (length is not None and length != 7 * 86_400_000 and offset % length == 0):
        return name
    fits = [n for n, size in INTERVALS.items() if size is not None and offset % size == 0 and 86_400_000 % size == 0]
    return fits[-1]


@router.get("/api/v3/klines")
def klines(symbol: Param = None, interval: Param = None, startTime: Param = None, endTime: Param = None,  # noqa: N803
           timeZone: Param = None, limit: Param = None) -> list:  # noqa: N803
    return _klines(symbol, interval, startTime, endTime, timeZone, limit)


@router.get("/api/v3/uiKlines")
def ui_klines(symbol: Param = None, interval: Param = None, startTime: Param = None, endTime: Param = None,  # noqa: N803
              timeZone: Param = None, limit: Param = None) -> list:  # noqa: N803
    return _klines(symbol, interval, startTime, endTime, timeZone, limit)


@router.get("/api/v3/avgPrice")
def avg_price(symbol: Param = None) -> dict:
    sym = lookup(SYMBOLS, symbol)
    now = now_ms()
    minutes, _ = reader().klines(sym.name, "1m", views.avg_price_window(sym, now), now)
    return views.avg_price(sym, minutes, now, reader().last_trade(sym.name))


@router.get("/api/v3/ticker/24hr")
def ticker_24hr(symbol: Param = None, symbols: Param = None, kind: Annotated[str | None, Query(alias="type")] = None):
    kind = kind or "FULL"
    if kind not in ("FULL", "MINI"):
        raise errors.invalid_ticker_type()
    chosen, single = symbols_of(symbol, symbols)
    now = now_ms()
    out = []
    for sym in chosen:
        opened, _ = views.ticker_window(now)
        minutes, before = reader().klines(sym.name, "1m", opened, now)
        stats = views.day_stats(minutes, now, before, reader().last_trade(sym.name))
        if kind == "MINI":
            out.append(views.ticker_mini(sym, stats))
        else:
            out.append(views.ticker_full(sym, stats, *reader().book_top(sym.name)))
    return answer(out, single)


@router.get("/api/v3/ticker/price")
def ticker_price(symbol: Param = None, symbols: Param = None):
    chosen, single = symbols_of(symbol, symbols)
    return answer([views.price_ticker(s, reader().last_trade(s.name)) for s in chosen], single)


@router.get("/api/v3/ticker/bookTicker")
def ticker_book(symbol: Param = None, symbols: Param = None):
    chosen, single = symbols_of(symbol, symbols)
    return answer([views.book_ticker(s, *reader().book_top(s.name)) for s in chosen], single)
