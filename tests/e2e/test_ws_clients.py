"""The real clients' WebSocket support against the edge: python-binance's socket manager and ccxt pro.

Only their base URLs change, as a user would change them: python-binance's
`BinanceSocketManager.STREAM_URL`, ccxt's `urls["api"]["ws"]["spot"]`. Orders go
in through python-binance's REST client.
"""

from __future__ import annotations

import asyncio
import random
import time
from decimal import Decimal

import ccxt.pro
import pytest
from binance import AsyncClient, BinanceSocketManager

from tests.e2e.test_spot_trading import binance_client, ccxt_client
from tests.e2e.test_ws_streams import rest_depth


@pytest.fixture(autouse=True)
def leave_no_orders(local_cloud, buyer, seller):
    """Other modules trade BTCUSDT at their own prices: what rests here is cancelled after each test."""
    yield
    for account in (buyer, seller):
        client = binance_client(local_cloud, account)
        if client.get_open_orders(symbol="BTCUSDT"):
            client.cancel_all_open_orders(symbol="BTCUSDT")


def cross(cloud, buyer: dict, seller: dict, price: str, qty: str) -> set[int]:
    """A sell, then a buy at its price; the ids of the buy's trades (it may meet older, better asks first).

    Other modules leave bids on BTCUSDT: the sell goes above the best of them, so that it rests for the buy.
    """
    bids = rest_depth(cloud)["bids"]
    if bids and Decimal(bids[0][0]) >= Decimal(price):
        price = str(Decimal(bids[0][0]) + 1)
    binance_client(cloud, seller).create_order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                                               quantity=qty, price=price)
    buy = binance_client(cloud, buyer).create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                                    quantity=qty, price=price, newOrderRespType="FULL")
    assert buy["fills"], buy
    return {fill["tradeId"] for fill in buy["fills"]}


async def recv_until(socket, check, timeout_s: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "timed out"
        msg = await asyncio.wait_for(socket.recv(), left)
        assert msg.get("e") != "error", msg
        if check(msg):
            return msg


# ----------------------------------------------------------- python-binance
def test_python_binance_socket_manager_receives_trades_and_depth_diffs(local_cloud, buyer, seller):
    async def scenario():
        client = AsyncClient(buyer["apiKey"], buyer["secretKey"])
        client.API_URL = f"{local_cloud.edge_url}/api"
        try:
            manager = BinanceSocketManager(client)
            manager.STREAM_URL = local_cloud.edge_url.replace("http://", "ws://") + "/"
            async with manager.trade_socket("BTCUSDT") as trades, manager.depth_socket("BTCUSDT", interval=100) as depth:
                ids = await asyncio.to_thread(cross, local_cloud, buyer, seller, "39000.5", "0.003")
                trade = await recv_until(trades, lambda m: m.get("e") == "trade" and m["t"] in ids)
                diff = await recv_until(depth, lambda m: m.get("e") == "depthUpdate")
                return trade, diff
        finally:
            await client.close_connection()

    trade, diff = asyncio.run(scenario())
    assert trade["s"] == "BTCUSDT" and trade["m"] is False  # the buyer took
    assert diff["s"] == "BTCUSDT" and diff["U"] <= diff["u"]


# ------------------------------------------------------------------ ccxt pro
def ccxt_pro(cloud, account: dict) -> ccxt.pro.binance:
    exchange = ccxt_client(cloud, account, ccxt.pro.binance)
    exchange.urls["api"]["ws"]["spot"] = cloud.edge_url.replace("http://", "ws://") + "/ws"
    return exchange


def burst(cloud, buyer: dict, seller: dict, n: int, seed: int) -> None:
    rng = random.Random(seed)
    clients = {"BUY": binance_client(cloud, buyer), "SELL": binance_client(cloud, seller)}
    for _ in range(n):
        side = rng.choice(["BUY", "SELL"])
        clients[side].create_order(symbol="BTCUSDT", side=side, type="LIMIT", timeInForce="GTC",
                                   quantity=f"{rng.randint(1, 30) / 1000:.3f}",
                                   price=str(38000 + rng.randint(-20, 20) * 5))


def as_floats(levels) -> list[list[float]]:
    return [[float(p), float(q)] for p, q, *_ in levels]


def test_ccxt_pro_order_book_equals_rest_depth_after_a_burst(local_cloud, buyer, seller):
    async def scenario():
        exchange = ccxt_pro(local_cloud, buyer)
        try:
            await asyncio.wait_for(exchange.watch_order_book("BTC/USDT"), 30)
            await asyncio.to_thread(burst, local_cloud, buyer, seller, 30, 11)
            deadline = time.monotonic() + 30
            while True:  # the book ccxt keeps, once it has caught up with the REST snapshot's update id
                expected = await asyncio.to_thread(rest_depth, local_cloud)
                book = exchange.orderbooks["BTC/USDT"]
                if book["nonce"] == expected["lastUpdateId"]:
                    return {"bids": list(book["bids"]), "asks": list(book["asks"])}, expected
                assert time.monotonic() < deadline, (book["nonce"], expected["lastUpdateId"])
                await asyncio.sleep(0.2)
        finally:
            await exchange.close()

    book, expected = asyncio.run(scenario())
    assert as_floats(book["bids"]) == as_floats(expected["bids"])
    assert as_floats(book["asks"]) == as_floats(expected["asks"])
    assert book["bids"] or book["asks"]


def test_ccxt_pro_watch_trades_gets_the_trades_of_a_cross(local_cloud, buyer, seller):
    async def scenario():
        exchange = ccxt_pro(local_cloud, buyer)
        try:
            await exchange.load_markets()
            watching = asyncio.ensure_future(exchange.watch_trades("BTC/USDT"))
            ids: set[str] = set()
            for _ in range(10):  # until the subscription is live (its connect may meet a cold function)
                ids |= {str(i) for i in await asyncio.to_thread(cross, local_cloud, buyer, seller, "38500.5", "0.007")}
                done, _ = await asyncio.wait({watching}, timeout=3)
                if done:
                    break
            trades = await asyncio.wait_for(watching, 5)
            deadline = time.monotonic() + 20
            while not any(t["id"] in ids for t in trades):
                trades = await asyncio.wait_for(exchange.watch_trades("BTC/USDT"), deadline - time.monotonic())
            return trades, ids
        finally:
            await exchange.close()

    trades, ids = asyncio.run(scenario())
    trade = next(t for t in trades if t["id"] in ids)
    assert (trade["symbol"], trade["side"]) == ("BTC/USDT", "buy") and trade["amount"] > 0
