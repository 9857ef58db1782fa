"""Stream delivery end to end, with real clients through the edge: every message produced after the answer.

Orders go in the moment a connection is open, with no wait: what the publisher builds after a subscription
was answered reaches it, the first connection as the fiftieth. bookTicker tells every change of the top,
in order, however quickly the changes follow one another.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.e2e.conftest import castle
from tests.e2e.test_spot_trading import binance_client
from tests.e2e.ws import ws_url


@pytest.fixture(scope="module")
def bnb_buyer(local_cloud) -> dict:
    return castle(local_cloud, "account", "create", "--fund", "USDT=100000")


@pytest.fixture(scope="module")
def bnb_seller(local_cloud) -> dict:
    return castle(local_cloud, "account", "create", "--fund", "BNB=100")


@pytest.fixture(scope="module")
def depth_buyer(local_cloud):
    account = castle(local_cloud, "account", "create", "--fund", "USDT=100000")
    yield account
    binance_client(local_cloud, account).cancel_all_open_orders(symbol="BTCUSDT")  # leave the book as it was


async def first_frame(ws, timeout_s: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout_s))


def test_fifty_fresh_connections_in_a_row_each_get_the_first_diff_after_an_order(local_cloud, depth_buyer):
    client = binance_client(local_cloud, depth_buyer)

    async def scenario():
        seen = []
        for i in range(50):
            stream = "btcusdt@depth" if i % 2 == 0 else "btcusdt@depth@100ms"
            async with websockets.connect(ws_url(local_cloud, f"/ws/{stream}")) as ws:
                price = f"{35000 + i / 100:.2f}"
                await asyncio.to_thread(client.create_order, symbol="BTCUSDT", side="BUY", type="LIMIT",
                                        timeInForce="GTC", quantity="0.001", price=price)
                diff = await first_frame(ws)
                seen.append((i, stream, price, diff))
        return seen

    for i, stream, price, diff in asyncio.run(scenario()):
        assert diff["e"] == "depthUpdate", (i, stream, diff)
        assert [f"{price}000000", "0.00100000"] in diff["b"], (i, stream, diff)


def test_book_ticker_sees_each_of_a_burst_of_top_of_book_changes(local_cloud, bnb_buyer, bnb_seller):
    buyer, seller = binance_client(local_cloud, bnb_buyer), binance_client(local_cloud, bnb_seller)

    def limit(client, side: str, qty: str, price: str) -> dict:
        return client.create_order(symbol="BNBUSDT", side=side, type="LIMIT", timeInForce="GTC", quantity=qty,
                                   price=price)

    def burst() -> None:  # one after another, each as soon as the last was acknowledged
        limit(seller, "SELL", "0.010", "601")
        limit(buyer, "BUY", "0.010", "599")
        limit(buyer, "BUY", "0.020", "600")  # a better bid,
        limit(seller, "SELL", "0.020", "600")  # taken at once: the best bid is 599 again
        extra = limit(buyer, "BUY", "0.030", "599")  # more at the best bid
        buyer.cancel_order(symbol="BNBUSDT", orderId=extra["orderId"])  # and less again
        limit(seller, "SELL", "0.010", "601")  # more at the best ask

    async def scenario():
        async with websockets.connect(ws_url(local_cloud, "/ws/bnbusdt@bookTicker")) as ws:
            await asyncio.to_thread(burst)
            return [await first_frame(ws) for _ in range(7)]

    frames = asyncio.run(scenario())
    assert [(f["b"], f["B"], f["a"], f["A"]) for f in frames] == [
        ("0.00000000", "0.00000000", "601.00000000", "0.01000000"),
        ("599.00000000", "0.01000000", "601.00000000", "0.01000000"),
        ("600.00000000", "0.02000000", "601.00000000", "0.01000000"),
        ("599.00000000", "0.01000000", "601.00000000", "0.01000000"),
        ("599.00000000", "0.04000000", "601.00000000", "0.01000000"),
        ("599.00000000", "0.01000000", "601.00000000", "0.01000000"),
        ("599.00000000", "0.01000000", "601.00000000", "0.02000000"),
    ]
    assert all(f["s"] == "BNBUSDT" for f in frames) and [f["u"] for f in frames] == sorted({f["u"] for f in frames})
