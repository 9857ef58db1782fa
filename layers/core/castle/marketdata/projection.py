"""The market-data projection: the engine's events in, trades, aggTrades and klines out.

Pure and exact: prices stay in ticks, quantities in lots, notionals in
tick*lot units; the edge formats them with the `Symbol`. The projector feeds
it the `castle:{SYMBOL}:events` stream in order; it remembers the last stream
entry and trade id it applied, so a redelivery after a crash changes nothing.

Binance's rules followed here:
- a trade's time never goes backwards (the journal's command times can, when two
  gateways' clocks differ by a few ms), so a trade's time is max(its ts, the last);
- an aggTrade groups the consecutive fills of one taker order at one price;
- every interval's candle is updated by every trade (`INTERVALS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from castle.marketdata.intervals import INTERVALS, open_time


@dataclass(slots=True)
class Trade:
    id: int
    price: int
    qty: int
    time: int
    buyer_maker: bool

    def to_list(self) -> list:
        return [self.id, self.price, self.qty, self.time, int(self.buyer_maker)]

    @classmethod
    def from_list(cls, row: list) -> Trade:
        return cls(row[0], row[1], row[2], row[3], bool(row[4]))


@dataclass(slots=True)
class AggTrade:
    id: int
    price: int
    qty: int
    first_id: int
    last_id: int
    time: int
    buyer_maker: bool
    taker_order_id: int  # what may extend it: the same taker, at the same price, in the same command
    seq: int

    def to_list(self) -> list:
        return [self.id, self.price, self.qty, self.first_id, self.last_id, self.time, int(self.buyer_maker),
                self.taker_order_id, self.seq]

    @classmethod
    def from_list(cls, row: list) -> AggTrade:
        a, p, q, f, la, t, m, taker, seq = row
        return cls(a, p, q, f, la, t, bool(m), taker, seq)


@dataclass(slots=True)
class Kline:
    """One candle. `quote` and `taker_buy_quote` are in tick*lot units."""

    open_time: int
    open: int
    high: int
    low: int
    close: int
    volume: int = 0
    quote: int = 0
    trades: int = 0
    taker_buy_volume: int = 0
    taker_buy_quote: int = 0
    first_id: int = -1
    last_id: int = -1
    last_qty: int = 0

    @classmethod
    def flat(cls, opened: int, price: int) -> Kline:
        """A candle without trades: Binance carries the previous close through it."""
        return cls(opened, price, price, price, price)

    def add(self, trade: Trade) -> None:
        price, qty = trade.price, trade.qty
        if not self.trades:
            self.open = self.high = self.low = price
            self.first_id = trade.id
        elif price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.volume += qty
        self.quote += price * qty
        self.trades += 1
        if not trade.buyer_maker:  # the taker bought
            self.taker_buy_volume += qty
            self.taker_buy_quote += price * qty
        self.last_id = trade.id
        self.last_qty = qty

    def to_list(self) -> list:
        return [self.open_time, self.open, self.high, self.low, self.close, self.volume, self.quote, self.trades,
                self.taker_buy_volume, self.taker_buy_quote, self.first_id, self.last_id, self.last_qty]

    @classmethod
    def from_list(cls, row: list) -> Kline:
        return cls(*row)


def parse_entry_id(entry_id: str) -> tuple[int, int]:
    ms, _, n = entry_id.partition("-")
    return int(ms), int(n or 0)


@dataclass(slots=True)
class ProjectionState:
    """Everything the projection needs to continue: stored with its output, atomically."""

    cursor: str | None = None  # the last events-stream entry applied
    seq: int = 0  # the engine's seq of that entry
    last_trade: Trade | None = None
    agg: AggTrade | None = None  # the latest aggTrade (the next fill may extend it)
    klines: dict[str, Kline] = field(default_factory=dict)  # the current candle per interval

    def to_dict(self) -> dict:
        return {
            "cursor": self.cursor,
            "seq": self.seq,
            "last_trade": None if self.last_trade is None else self.last_trade.to_list(),
            "agg": None if self.agg is None else self.agg.to_list(),
            "klines": {name: k.to_list() for name, k in self.klines.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> ProjectionState:
        return cls(
            cursor=data.get("cursor"),
            seq=data.get("seq", 0),
            last_trade=None if data.get("last_trade") is None else Trade.from_list(data["last_trade"]),
            agg=None if data.get("agg") is None else AggTrade.from_list(data["agg"]),
            klines={name: Kline.from_list(row) for name, row in data.get("klines", {}).items()},
        )


@dataclass(slots=True)
class Changes:
    """What to store after a batch: new trades, aggTrades and candles to upsert (by id / open time)."""

    trades: list[Trade] = field(default_factory=list)
    aggs: dict[int, AggTrade] = field(default_factory=dict)
    klines: dict[str, dict[int, Kline]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.trades)


class MarketDataProjection:
    def __init__(self, state: ProjectionState | None = None) -> None:
        self.state = state or ProjectionState()
        self.changes = Changes()

    def apply(self, entry_id: str, event: dict) -> bool:
        """Apply one events-stream entry (castle.events' wire form); False if it was applied before."""
        state = self.state
        if state.cursor is not None and parse_entry_id(entry_id) <= parse_entry_id(state.cursor):
            return False
        state.cursor = entry_id
        state.seq = event.get("seq", state.seq)
        if event.get("type") != "TradeExecuted":
            return True
        last = state.last_trade
        if last is not None and event["trade_id"] <= last.id:
            return False  # a trade id is applied once, whatever the stream entry
        ts = event["ts"] if last is None or event["ts"] > last.time else last.time
        trade = Trade(event["trade_id"], event["price"], event["qty"], ts, event["taker_side"] == "SELL")
        state.last_trade = trade
        self.changes.trades.append(trade)
        self._aggregate(trade, event["taker_order_id"], event["seq"])
        for name in INTERVALS:
            kline = state.klines.get(name)
            opened = open_time(name, ts)
            if kline is None or kline.open_time != opened:
                kline = state.klines[name] = Kline.flat(opened, trade.price)
            kline.add(trade)
            self.changes.klines.setdefault(name, {})[opened] = kline
        return True

    def _aggregate(self, trade: Trade, taker_order_id: int, seq: int) -> None:
        agg = self.state.agg
        if (
            agg is not None
            and agg.seq == seq
            and agg.taker_order_id == taker_order_id
            and agg.price == trade.price
            and agg.last_id == trade.id - 1
        ):
            agg.qty += trade.qty
            agg.last_id = trade.id
        else:
            agg = self.state.agg = AggTrade(
                1 if agg is None else agg.id + 1, trade.price, trade.qty, trade.id, trade.id, trade.time,
                trade.buyer_maker, taker_order_id, seq,
            )
        self.changes.aggs[agg.id] = agg

    def take_changes(self) -> Changes:
        changes, self.changes = self.changes, Changes()
        return changes
