"""Redis adapter for market data: the projection's store (written by the projector), read by /api/v3.

Keys, per symbol, in the symbol's hash slot (one MULTI covers the data, the
projection's state and the XACK of the events it came from):

    castle:{BTCUSDT}:md:state        string  ProjectionState JSON (cursor = last events entry applied)
    castle:{BTCUSDT}:md:last         string  the last trade [id, price, qty, time, buyerMaker]
    castle:{BTCUSDT}:md:trades       zset    score trade id, member [id, price, qty, time, m]  (last 1000)
    castle:{BTCUSDT}:md:aggs         zset    score agg id, member AggTrade list              (last 10000)
    castle:{BTCUSDT}:md:aggs:time    zset    score T, member agg id                           (same ids)
    castle:{BTCUSDT}:md:kline:<iv>   zset    score open time, member Kline list  (RETENTION per interval)

Members are compact JSON arrays of integers (ticks, lots, tick*lot units).
The depth the tickers need is the engine's mirror (`redis_keys.depth_keys`).
"""

from __future__ import annotations

import json

import redis

from castle.adapters.redis_keys import depth_keys, kline_key, md_key
from castle.adapters.redis_streams import COMPACT, RedisBookMirror
from castle.book import DepthSnapshot
from castle.marketdata.intervals import INTERVALS
from castle.marketdata.projection import AggTrade, Changes, Kline, ProjectionState, Trade

TRADES_KEPT = 1_000
AGGS_KEPT = 10_000
RETENTION = {name: 5_000 for name in INTERVALS} | {"1s": 21_600, "1m": 10_080, "3m": 6_720, "5m": 8_640}


__all__ = ["RedisMarketDataReader", "RedisMarketDataStore", "kline_key", "md_key"]


def _dump(row: list) -> str:
    return json.dumps(row, separators=COMPACT)


class RedisMarketDataStore:
    """The projector's side: load the state; stage a batch's changes in the MULTI that acknowledges it."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def load_state(self, symbol: str) -> ProjectionState:
        raw = self.client.get(md_key(symbol, "state"))
        return ProjectionState() if raw is None else ProjectionState.from_dict(json.loads(raw))

    def stage(self, pipe, symbol: str, changes: Changes, state: ProjectionState) -> None:
        """Queue the changes and the state on `pipe` (the consumer's MULTI, which adds the XACK)."""
        if changes.trades:
            trades = md_key(symbol, "trades")
            pipe.zadd(trades, {_dump(t.to_list()): t.id for t in changes.trades})
            pipe.zremrangebyrank(trades, 0, -TRADES_KEPT - 1)
            pipe.set(md_key(symbol, "last"), _dump(changes.trades[-1].to_list()))
        if changes.aggs:
            aggs, by_time = md_key(symbol, "aggs"), md_key(symbol, "aggs:time")
            for agg in changes.aggs.values():
                pipe.zremrangebyscore(aggs, agg.id, agg.id)
                pipe.zadd(aggs, {_dump(agg.to_list()): agg.id})
                pipe.zadd(by_time, {str(agg.id): agg.time})
            pipe.zremrangebyrank(aggs, 0, -AGGS_KEPT - 1)
            pipe.zremrangebyrank(by_time, 0, -AGGS_KEPT - 1)
        for interval, candles in changes.klines.items():
            key = kline_key(symbol, interval)
            for opened, k in candles.items():
                pipe.zremrangebyscore(key, opened, opened)
                pipe.zadd(key, {_dump(k.to_list()): opened})
            pipe.zremrangebyrank(key, 0, -RETENTION[interval] - 1)
        pipe.set(md_key(symbol, "state"), json.dumps(state.to_dict(), separators=COMPACT))


class RedisMarketDataReader:
    """The REST handler's side: consistent reads of what the projector stored."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.mirror = RedisBookMirror(client)

    def depth(self, symbol: str, limit: int) -> DepthSnapshot:
        return self.mirror.depth(symbol, limit)

    def book_top(self, symbol: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        bids, asks, _ = depth_keys(symbol)
        pipe = self.client.pipeline(transaction=True)
        pipe.zrevrange(bids, 0, 0)
        pipe.zrange(asks, 0, 0)
        bid, ask = pipe.execute()
        return _level(bid), _level(ask)

    def last_trade(self, symbol: str) -> Trade | None:
        raw = self.client.get(md_key(symbol, "last"))
        return None if raw is None else Trade.from_list(json.loads(raw))

    def recent_trades(self, symbol: str, limit: int) -> list[Trade]:
        rows = self.client.zrange(md_key(symbol, "trades"), -limit, -1)
        return [Trade.from_list(json.loads(r)) for r in rows]

    def agg_trades(
        self, symbol: str, limit: int, from_id: int | None = None, start: int | None = None, end: int | None = None
    ) -> list[AggTrade]:
        """Binance's selection: from `fromId`, or within [startTime, endTime], else the most recent; ascending."""
        aggs = md_key(symbol, "aggs")
        if from_id is None and start is None and end is None:
            rows = self.client.zrange(aggs, -limit, -1)
        else:
            low = from_id if from_id is not None else "-inf"
            high = "+inf"
            if start is not None or end is not None:
                ids = self.client.zrangebyscore(
                    md_key(symbol, "aggs:time"), "-inf" if start is None else start, "+inf" if end is None else end,
                    **({} if from_id is not None else {"start": 0, "num": limit}),
                )
                if not ids:
                    return []
                low = max(int(ids[0]), from_id or 0)
                high = int(ids[-1])
            rows = self.client.zrangebyscore(aggs, low, high, start=0, num=limit)
        return [AggTrade.from_list(json.loads(r)) for r in rows]

    def klines(self, symbol: str, interval: str, first: int, last: int) -> tuple[list[Kline], Kline | None]:
        """The stored candles opened in [first, last], ascending, and the last one before `first`."""
        key = kline_key(symbol, interval)
        pipe = self.client.pipeline(transaction=True)
        pipe.zrangebyscore(key, first, last)
        pipe.zrevrangebyscore(key, f"({first}", "-inf", start=0, num=1)
        rows, before = pipe.execute()
        return [Kline.from_list(json.loads(r)) for r in rows], (Kline.from_list(json.loads(before[0])) if before else None)

    def state(self, symbol: str) -> ProjectionState:
        raw = self.client.get(md_key(symbol, "state"))
        return ProjectionState() if raw is None else ProjectionState.from_dict(json.loads(raw))


def _level(members: list[str]) -> tuple[int, int] | None:
    if not members:
        return None
    price, _, qty = members[0].partition(":")
    return int(price), int(qty)
