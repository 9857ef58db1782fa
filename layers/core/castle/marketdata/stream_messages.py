"""Binance's WebSocket stream payloads, built from the projection's records and the book.

Pure: records, the `Symbol` and the event time `E` in, Binance's exact JSON out
(web-socket-streams.md and user-data-stream.md). The publisher decides when to
send; these decide what is sent. Amounts are formatted by the `Symbol`, as the
REST views do, so a candle or a ticker reads the same on both.

`BookReplica` is the publisher's copy of a symbol's depth: it turns successive
consistent reads of the engine's depth mirror into Binance's diffs, whose
`U`/`u` are the engine's update ids, the same ids `/api/v3/depth` reports as
`lastUpdateId`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from castle.book import DepthSnapshot
from castle.marketdata.intervals import close_time
from castle.marketdata.projection import AggTrade, Kline, Trade
from castle.marketdata.views import DayStats, agg_trade_json, percent, price_of_fraction
from castle.symbols import Symbol

Level = tuple[int, int]
PARTIAL_DEPTHS = (5, 10, 20)


def levels_json(symbol: Symbol, levels: Iterable[Level]) -> list[list[str]]:
    return [[symbol.format_price(p), symbol.format_qty(q)] for p, q in levels]


def combined(stream: str, data: dict | list) -> dict:
    """A combined stream's envelope (`/stream?streams=`, or `SET_PROPERTY combined true`)."""
    return {"stream": stream, "data": data}


# ------------------------------------------------------------------ depth
def depth_update(symbol: Symbol, event_time: int, first_id: int, last_id: int, bids: Iterable[Level],
                 asks: Iterable[Level]) -> dict:
    """`<symbol>@depth[@100ms]`: levels changed in updates U..u; quantity 0 removes the level."""
    return {
        "e": "depthUpdate",
        "E": event_time,
        "s": symbol.name,
        "U": first_id,
        "u": last_id,
        "b": levels_json(symbol, bids),
        "a": levels_json(symbol, asks),
    }


def partial_depth(symbol: Symbol, book: DepthSnapshot, levels: int) -> dict:
    """`<symbol>@depth<levels>[@100ms]`: the top of the book, as `/api/v3/depth?limit=` shows it."""
    return {
        "lastUpdateId": book.last_update_id,
        "bids": levels_json(symbol, book.bids[:levels]),
        "asks": levels_json(symbol, book.asks[:levels]),
    }


def book_ticker(symbol: Symbol, update_id: int, bid: Level | None, ask: Level | None) -> dict:
    """`<symbol>@bookTicker` (spot: no event type or time)."""
    bid_price, bid_qty = bid or (0, 0)
    ask_price, ask_qty = ask or (0, 0)
    return {
        "u": update_id,
        "s": symbol.name,
        "b": symbol.format_price(bid_price),
        "B": symbol.format_qty(bid_qty),
        "a": symbol.format_price(ask_price),
        "A": symbol.format_qty(ask_qty),
    }


@dataclass(slots=True)
class BookReplica:
    """One symbol's depth as last published; `advance` gives the diff to a newer read of the mirror."""

    last_update_id: int = -1  # -1: not loaded yet
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)

    @property
    def loaded(self) -> bool:
        return self.last_update_id >= 0

    def advance(self, book: DepthSnapshot) -> tuple[int, int, list[Level], list[Level]] | None:
        """Move to `book`; (U, u, bid changes best first, ask changes best first), or None if unchanged.

        The first call only loads the replica (there is nothing to diff against).
        """
        if book.last_update_id <= self.last_update_id:
            return None
        first = self.last_update_id + 1
        new_bids, new_asks = dict(book.bids), dict(book.asks)
        bids = sorted(_changes(self.bids, new_bids), reverse=True)
        asks = sorted(_changes(self.asks, new_asks))
        was_loaded = self.loaded
        self.last_update_id, self.bids, self.asks = book.last_update_id, new_bids, new_asks
        if not was_loaded:
            return None
        return first, book.last_update_id, bids, asks

    def snapshot(self, limit: int | None = None) -> DepthSnapshot:
        bids = sorted(self.bids.items(), reverse=True)[:limit]
        asks = sorted(self.asks.items())[:limit]
        return DepthSnapshot(self.last_update_id, bids, asks)

    def top(self) -> tuple[Level | None, Level | None]:
        bid = max(self.bids.items(), default=None)
        ask = min(self.asks.items(), default=None)
        return bid, ask


def _changes(old: dict[int, int], new: dict[int, int]) -> list[Level]:
    out = [(p, q) for p, q in new.items() if old.get(p) != q]
    out.extend((p, 0) for p in old if p not in new)
    return out


# ----------------------------------------------------------------- trades
def trade(symbol: Symbol, t: Trade, event_time: int) -> dict:
    """`<symbol>@trade`."""
    return {
        "e": "trade",
        "E": event_time,
        "s": symbol.name,
        "t": t.id,
        "p": symbol.format_price(t.price),
        "q": symbol.format_qty(t.qty),
        "T": t.time,
        "m": t.buyer_maker,
        "M": True,
    }


def agg_trade(symbol: Symbol, a: AggTrade, event_time: int) -> dict:
    """`<symbol>@aggTrade`: `/api/v3/aggTrades`' row, as the event of one symbol."""
    return {"e": "aggTrade", "E": event_time, "s": symbol.name, **agg_trade_json(symbol, a)}


def kline(symbol: Symbol, interval: str, k: Kline, event_time: int, closed: bool) -> dict:
    """`<symbol>@kline_<interval>`: the candle `/api/v3/klines` shows, plus whether it is closed (`x`)."""
    return {
        "e": "kline",
        "E": event_time,
        "s": symbol.name,
        "k": {
            "t": k.open_time,
            "T": close_time(interval, k.open_time),
            "s": symbol.name,
            "i": interval,
            "f": k.first_id,
            "L": k.last_id,
            "o": symbol.format_price(k.open),
            "c": symbol.format_price(k.close),
            "h": symbol.format_price(k.high),
            "l": symbol.format_price(k.low),
            "v": symbol.format_qty(k.volume),
            "n": k.trades,
            "x": closed,
            "q": symbol.format_quote(k.quote),
            "V": symbol.format_qty(k.taker_buy_volume),
            "Q": symbol.format_quote(k.taker_buy_quote),
            "B": "0",
        },
    }


# ---------------------------------------------------------------- tickers
def mini_ticker(symbol: Symbol, s: DayStats, event_time: int) -> dict:
    """`<symbol>@miniTicker`, and one element of `!miniTicker@arr`."""
    return {
        "e": "24hrMiniTicker",
        "E": event_time,
        "s": symbol.name,
        "c": symbol.format_price(s.last),
        "o": symbol.format_price(s.open),
        "h": symbol.format_price(s.high),
        "l": symbol.format_price(s.low),
        "v": symbol.format_qty(s.volume),
        "q": symbol.format_quote(s.quote),
    }


def ticker(symbol: Symbol, s: DayStats, bid: Level | None, ask: Level | None, event_time: int) -> dict:
    """`<symbol>@ticker`: `/api/v3/ticker/24hr`'s numbers under Binance's one-letter keys."""
    bid_price, bid_qty = bid or (0, 0)
    ask_price, ask_qty = ask or (0, 0)
    return {
        "e": "24hrTicker",
        "E": event_time,
        "s": symbol.name,
        "p": symbol.format_price(s.last - s.open),
        "P": percent(s.last - s.open, s.open),
        "w": price_of_fraction(symbol, s.quote, s.volume),
        "x": symbol.format_price(s.prev_close),
        "c": symbol.format_price(s.last),
        "Q": symbol.format_qty(s.last_qty),
        "b": symbol.format_price(bid_price),
        "B": symbol.format_qty(bid_qty),
        "a": symbol.format_price(ask_price),
        "A": symbol.format_qty(ask_qty),
        "o": symbol.format_price(s.open),
        "h": symbol.format_price(s.high),
        "l": symbol.format_price(s.low),
        "v": symbol.format_qty(s.volume),
        "q": symbol.format_quote(s.quote),
        "O": s.open_time,
        "C": s.close_time,
        "F": s.first_id,
        "L": s.last_id,
        "n": s.count,
    }


# -------------------------------------------------------------- user data
def listen_key_expired(listen_key: str, event_time: int) -> dict:
    return {"e": "listenKeyExpired", "E": event_time, "listenKey": listen_key}
