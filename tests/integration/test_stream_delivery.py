"""Market streams from a fresh start, with every process of the path live: the engine's runner, the publisher
and the stream gateway (in threads, on a clean redis-server), and real WebSocket clients.

Orders are sent the moment a connection or a SUBSCRIBE is answered, with no wait: Binance's promise is every
message produced after the answer.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time

import aiohttp
import pytest

from castle.adapters.redis_streams import RedisCommandStream, connect
from castle.codec import command_to_dict
from castle.orders import CancelOrder, PlaceOrder, Side
from castle.symbols import default_symbols
from matching_container.engine import bootstrap as engine_bootstrap
from matching_container.gateway import GatewayConfig, GatewayServer
from matching_container.publisher import Publisher
from matching_container.settings import EngineSettings

pytestmark = pytest.mark.integration
SYMBOL = "BTCUSDT"
BTC = default_symbols()[SYMBOL]
P = 3_000_000  # 30000.00 in ticks


class Exchange:
    """The path's processes, each in a thread on its own Redis connection, started on an empty Redis."""

    def __init__(self, redis_url: str) -> None:
        self.stop = threading.Event()
        settings = EngineSettings(redis_url=redis_url, symbols=(SYMBOL,), block_ms=20)
        self.engine = engine_bootstrap(settings, connect(redis_url))
        self.publisher = Publisher(connect(redis_url), [BTC], block_ms=20)
        self.gateway = GatewayServer(GatewayConfig(redis_url=redis_url, symbols=frozenset(default_symbols()),
                                                   host="127.0.0.1", port=0))
        self.commands = RedisCommandStream(connect(redis_url))
        self.ids = itertools.count(1)
        self.threads = [threading.Thread(target=self.engine.run, args=(self.stop,), daemon=True),
                        threading.Thread(target=self.publisher.run, args=(self.stop,), daemon=True)]

    def start(self) -> str:
        for thread in self.threads:
            thread.start()
        return self.gateway.start()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(5)
        self.gateway.stop()

    def place(self, side: Side, price: int, qty: int, account: int = 1) -> int:
        order_id = next(self.ids)
        self.commands.send(SYMBOL, command_to_dict(PlaceOrder(order_id, account, side, price=price, qty=qty,
                                                              ts=int(time.time() * 1000))))
        return order_id

    def cancel(self, order_id: int, account: int = 1) -> None:
        self.commands.send(SYMBOL, command_to_dict(CancelOrder(order_id, account, ts=int(time.time() * 1000))))


@pytest.fixture
def exchange(redis_url, redis_client):
    world = Exchange(redis_url)
    url = world.start()
    yield world, url
    world.close()


def price(ticks: int) -> str:
    return BTC.format_price(ticks)


def qty(lots: int) -> str:
    return BTC.format_qty(lots)


async def first_frame(ws, timeout_s: float = 5.0) -> dict:
    message = await ws.receive(timeout=timeout_s)
    return json.loads(message.data)


def test_fifty_fresh_connections_in_a_row_each_get_the_first_diff_after_an_order(exchange):
    world, url = exchange

    async def scenario():
        seen = []
        async with aiohttp.ClientSession() as s:
            for i in range(50):
                stream = "btcusdt@depth@100ms" if i % 2 else "btcusdt@depth"  # the 100 ms and the 1 s diffs
                async with s.ws_connect(f"{url}/ws/{stream}") as ws:
                    await asyncio.to_thread(world.place, Side.BUY, P - 1000 + i, 10 + i)
                    # The first frame is that order's diff: nothing was sent on connect, and it was not lost.
                    seen.append((stream, await first_frame(ws)))
        return seen

    seen = asyncio.run(scenario())
    for i, (stream, diff) in enumerate(seen):
        level = [price(P - 1000 + i), qty(10 + i)]
        if stream == "btcusdt@depth":  # it sums up its second: it may also carry the order of the connection before
            assert diff["e"] == "depthUpdate" and level in diff["b"] and diff["a"] == [], (i, diff)
        else:  # the order before was sent at its 100 ms: this diff has the new order's level only
            assert (diff["e"], diff["b"], diff["a"]) == ("depthUpdate", [level], []), (i, diff)


def test_a_subscribe_hears_the_first_trade_after_its_answer_on_every_fresh_connection(exchange):
    world, url = exchange

    async def scenario():
        got = []
        async with aiohttp.ClientSession() as s:
            for i in range(20):
                stream = "btcusdt@trade" if i % 2 else "btcusdt@aggTrade"
                async with s.ws_connect(f"{url}/ws") as ws:
                    await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": [stream], "id": i}))
                    assert await first_frame(ws) == {"result": None, "id": i}
                    await asyncio.to_thread(world.place, Side.SELL, P + 100 + i, 5)
                    await asyncio.to_thread(world.place, Side.BUY, P + 100 + i, 5, 2)
                    got.append(await first_frame(ws))
        return got

    got = asyncio.run(scenario())
    assert [(f["e"], f["p"]) for f in got] == [("trade" if i % 2 else "aggTrade", price(P + 100 + i))
                                               for i in range(20)]


def test_book_ticker_sends_every_change_of_the_top_in_order_even_when_it_comes_back(exchange):
    world, url = exchange

    async def scenario():
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{url}/ws/btcusdt@bookTicker") as ws:
            def burst() -> None:  # one after another, no wait: the engine may take them in one batch
                world.place(Side.SELL, P + 50, 100)  # the first ask
                world.place(Side.BUY, P - 10, 100)  # the first bid
                world.place(Side.BUY, P, 30)  # a better bid,
                world.place(Side.SELL, P, 30, 2)  # traded away: the bid is back at P - 10
                extra = world.place(Side.BUY, P - 10, 20)  # the same best price, more quantity
                world.cancel(extra)  # and less again
                world.place(Side.SELL, P + 50, 1, 2)  # the ask's quantity

            await asyncio.to_thread(burst)
            return [await first_frame(ws) for _ in range(7)]

    frames = asyncio.run(scenario())
    tops = [(f["b"], f["B"], f["a"], f["A"]) for f in frames]
    none = (price(0), qty(0))
    assert tops == [
        (*none, price(P + 50), qty(100)),
        (price(P - 10), qty(100), price(P + 50), qty(100)),
        (price(P), qty(30), price(P + 50), qty(100)),
        (price(P - 10), qty(100), price(P + 50), qty(100)),
        (price(P - 10), qty(120), price(P + 50), qty(100)),
        (price(P - 10), qty(100), price(P + 50), qty(100)),
        (price(P - 10), qty(100), price(P + 50), qty(101)),
    ]
    updates = [f["u"] for f in frames]
    assert updates == sorted(updates) and len(set(updates)) == 7
