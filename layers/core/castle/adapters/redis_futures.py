"""The futures market's Redis side for the API: its journal, order and transfer ids, depth mirrors, marks."""

from __future__ import annotations

import redis

from castle.adapters.redis_keys import FUTURES_SHARD, mark_key, order_id_key, tran_id_key
from castle.adapters.redis_streams import RedisBookMirror, RedisCommandStream


class RedisFuturesJournal:
    """`castle.futures.ports.FuturesJournal` on the `castle:{UM}` shard."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.commands = RedisCommandStream(client)
        self.mirror = RedisBookMirror(client)

    def next_order_id(self) -> int:
        return int(self.client.incr(order_id_key(FUTURES_SHARD)))

    def next_tran_id(self) -> int:
        return int(self.client.incr(tran_id_key(FUTURES_SHARD)))

    def call(self, command: dict, timeout_s: float) -> dict | None:
        return self.commands.call(FUTURES_SHARD, command, timeout_s)

    def depth(self, symbol: str, limit: int):
        return self.mirror.depth(FUTURES_SHARD, limit, book=symbol)


class RedisMarkPrices:
    """`castle.futures.ports.MarkPrices`: what the mark-price feed last wrote per contract."""

    FIELDS = ("mark", "index", "funding_rate", "next_funding_time")

    def __init__(self, client: redis.Redis, symbols) -> None:
        self.client = client
        self.symbols = list(symbols)

    def marks(self) -> dict[str, tuple[int, int, int, int]]:
        pipe = self.client.pipeline(transaction=False)
        for symbol in self.symbols:
            pipe.hmget(mark_key(symbol), self.FIELDS)
        out = {}
        for symbol, values in zip(self.symbols, pipe.execute(), strict=True):
            if values[0] is not None:
                out[symbol] = tuple(int(v or 0) for v in values)
        return out

    def write(self, symbol: str, mark: int, index: int, funding_rate: int, next_funding_time: int, pipe=None) -> None:
        target = pipe if pipe is not None else self.client
        target.hset(mark_key(symbol), mapping={"mark": mark, "index": index, "funding_rate": funding_rate,
                                               "next_funding_time": next_funding_time})
