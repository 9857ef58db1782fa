"""Binance's market streams end to end: orders through python-binance, messages through the edge's WebSocket.

Raw `websockets` clients on `/ws/<streams>` and `/stream?streams=`; the
publisher (matching_container.publisher) puts each message on the frame bus
once, and the stream gateway writes it to every subscriber. The local-book test follows Binance's "How to manage a local
order book correctly" to the letter and compares the result with /api/v3/depth.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from decimal import Decimal

import requests
import websockets

from tests.e2e.test_spot_trading import binance_client
from tests.e2e.ws import frames_until, ws_url

def test_trade_and_depth_reach_a_combined_subscriber(local_cloud, buyer, seller):
    async def scenario():
        async with websockets.connect(ws_url(local_cloud, "/stream?streams=btcusdt@trade/btcusdt@depth@100ms")) as ws:
            sell = await asyncio.to_thread(
                binance_client(local_cloud, seller).create_order, symbol="BTCUSDT", side="SELL", type="LIMIT",
                timeInForce="GTC", quantity="0.01", price="41000.5")
            await asyncio.to_thread(
                binance_client(local_cloud, buyer).create_order, symbol="BTCUSDT", side="BUY", type="LIMIT",
                timeInForce="GTC", quantity="0.004", price="41000.5")
            frames = await frames_until(ws, lambda fs: any(f["stream"] == "btcusdt@trade" for f in fs)
                                   and any(f["stream"] == "btcusdt@depth@100ms" and ["41000.50000000", "0.00600000"]
                                           in f["data"]["a"] for f in fs))
            return sell, frames

    sell, frames = asyncio.run(scenario())
    trade = next(f["data"] for f in frames if f["stream"] == "btcusdt@trade")
    assert set(trade) == {"e", "E", "s", "t", "p", "q", "T", "m", "M"}
    assert (trade["e"], trade["s"], trade["p"], trade["q"], trade["m"], trade["M"]) == (
        "trade", "BTCUSDT", "41000.50000000", "0.00400000", False, True)
    depth = [f["data"] for f in frames if f["stream"] == "btcusdt@depth@100ms"]
    assert all(d["e"] == "depthUpdate" and d["s"] == "BTCUSDT" and d["U"] <= d["u"] for d in depth)


def test_a_raw_connection_gets_unwrapped_agg_trades_and_book_tickers(local_cloud, buyer, seller):
    async def scenario():
        async with websockets.connect(ws_url(local_cloud, "/ws/btcusdt@aggTrade/btcusdt@bookTicker")) as ws:
            await asyncio.to_thread(
                binance_client(local_cloud, seller).create_order, symbol="BTCUSDT", side="SELL", type="LIMIT",
                timeInForce="GTC", quantity="0.002", price="40990")
            # bookTicker tells every change of the best price: the new best ask first,
            frames = await frames_until(ws, lambda fs: any(f.get("a") == "40990.00000000" for f in fs))
            await asyncio.to_thread(
                binance_client(local_cloud, buyer).create_order, symbol="BTCUSDT", side="BUY", type="MARKET",
                quantity="0.002")
            # then the trade that takes it.
            return await frames_until(ws, lambda fs: any(f.get("e") == "aggTrade" for f in fs), frames=frames)

    frames = asyncio.run(scenario())
    agg = next(f for f in frames if f.get("e") == "aggTrade")
    assert agg["s"] == "BTCUSDT" and agg["q"] == "0.00200000" and agg["f"] <= agg["l"]
    book = next(f for f in frames if "u" in f and "b" in f)
    assert set(book) == {"u", "s", "b", "B", "a", "A"}


def rest_depth(cloud) -> dict:
    return requests.get(f"{cloud.edge_url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5000}, timeout=10).json()


def as_book(levels) -> dict[str, str]:
    return {p: q for p, q in levels}


def test_a_local_book_from_depth_and_diffs_equals_the_engine_book(local_cloud, buyer, seller):
    """Binance's procedure: buffer diffs, take a snapshot, drop u <= lastUpdateId, then apply in order."""
    rng = random.Random(7)
    clients = [binance_client(local_cloud, buyer), binance_client(local_cloud, seller)]

    def burst(n: int) -> None:
        for _ in range(n):
            side = rng.choice(["BUY", "SELL"])
            client = clients[0] if side == "BUY" else clients[1]
            price = Decimal(40000 + rng.randint(-20, 20) * 5)
            client.create_order(symbol="BTCUSDT", side=side, type="LIMIT", timeInForce="GTC",
                                quantity=f"{rng.randint(1, 30) / 1000:.3f}", price=str(price))

    async def scenario():
        async with websockets.connect(ws_url(local_cloud, "/ws/btcusdt@depth@100ms")) as ws:
            buffered: list[dict] = []

            async def reader():
                async for raw in ws:
                    buffered.append(json.loads(raw))

            task = asyncio.create_task(reader())
            await asyncio.to_thread(burst, 10)
            snapshot = await asyncio.to_thread(rest_depth, local_cloud)
            last = snapshot["lastUpdateId"]
            bids, asks = as_book(snapshot["bids"]), as_book(snapshot["asks"])
            for round_ in range(3):
                await asyncio.to_thread(burst, 15)
                await asyncio.sleep(0.6)
                expected = await asyncio.to_thread(rest_depth, local_cloud)
                deadline = time.monotonic() + 10
                while True:
                    pending = [e for e in buffered if e["u"] > last]
                    buffered.clear()
                    for event in pending:
                        assert event["U"] <= last + 1, f"gap: {event['U']} after {last}"
                        for book, levels in ((bids, event["b"]), (asks, event["a"])):
                            for price, qty in levels:
                                if Decimal(qty) == 0:
                                    book.pop(price, None)
                                else:
                                    book[price] = qty
                        last = event["u"]
                    if last >= expected["lastUpdateId"] or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.1)
                expected = await asyncio.to_thread(rest_depth, local_cloud)
                if expected["lastUpdateId"] == last:
                    assert (bids, asks) == (as_book(expected["bids"]), as_book(expected["asks"])), round_
                else:  # the book moved again meanwhile: compare at the next round
                    assert expected["lastUpdateId"] > last
            task.cancel()
            return last

    assert asyncio.run(scenario()) > 0


def test_a_user_data_connection_hears_listen_key_expired_when_its_key_is_closed(local_cloud, buyer):
    client = binance_client(local_cloud, buyer)
    key = client.stream_get_listen_key()

    async def scenario():
        async with websockets.connect(ws_url(local_cloud, f"/ws/{key}")) as ws:
            await asyncio.to_thread(client.stream_close, key)
            return await frames_until(ws, lambda fs: any(f.get("e") == "listenKeyExpired" for f in fs))

    frames = asyncio.run(scenario())
    expired = next(f for f in frames if f.get("e") == "listenKeyExpired")
    assert expired["listenKey"] == key and isinstance(expired["E"], int)
