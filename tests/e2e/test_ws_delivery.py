"""Stream delivery end to end, with real clients through the edge: every message produced after the answer.

Orders go in the moment a connection is open, with no wait: what the publisher builds after a subscription
was answered reaches it, the first connection as the fiftieth. bookTicker tells every change of the top,
in order, however quickly the changes follow one another.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
import requests
import websockets

from tests.e2e.conftest import castle
from tests.e2e.test_spot_trading import binance_client
from tests.e2e.ws import ws_url

TICK = Decimal("0.01")


@pytest.fixture(scope="module")
def top_accounts(local_cloud):
    """A buyer and a seller on BTCUSDT (the shared book: each module's own prices), whose orders go at the end."""
    accounts = [castle(local_cloud, "account", "create", "--fund", "USDT=100000"),
                castle(local_cloud, "account", "create", "--fund", "BTC=10")]
    yield accounts
    for account in accounts:
        binance_client(local_cloud, account).cancel_all_open_orders(symbol="BTCUSDT")


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


def test_book_ticker_sees_each_of_a_burst_of_top_of_book_changes(local_cloud, top_accounts):
    buyer, seller = (binance_client(local_cloud, a) for a in top_accounts)
    depth = requests.get(f"{local_cloud.edge_url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 1},
                         timeout=10).json()
    best_bid = Decimal(depth["bids"][0][0]) if depth["bids"] else None
    best_ask = Decimal(depth["asks"][0][0]) if depth["asks"] else None
    mid = ((best_bid + best_ask) / 2).quantize(TICK) if best_bid and best_ask else (
        best_ask - 100 if best_ask else best_bid + 100 if best_bid else Decimal("41000"))
    low, high, ask = mid - TICK, mid, mid + TICK  # strictly inside the spread: each order moves the top
    assert (best_bid is None or best_bid < low) and (best_ask is None or ask < best_ask), depth

    def limit(client, side: str, qty: str, price: Decimal) -> dict:
        return client.create_order(symbol="BTCUSDT", side=side, type="LIMIT", timeInForce="GTC", quantity=qty,
                                   price=str(price))

    def burst() -> None:  # one after another, each as soon as the last was acknowledged
        limit(seller, "SELL", "0.010", ask)
        limit(buyer, "BUY", "0.010", low)
        limit(buyer, "BUY", "0.020", high)  # a better bid,
        limit(seller, "SELL", "0.020", high)  # taken at once: the best bid is `low` again
        extra = limit(buyer, "BUY", "0.030", low)  # more at the best bid
        buyer.cancel_order(symbol="BTCUSDT", orderId=extra["orderId"])  # and less again
        limit(seller, "SELL", "0.010", ask)  # more at the best ask

    async def scenario():
        async with websockets.connect(ws_url(local_cloud, "/ws/btcusdt@bookTicker")) as ws:
            await asyncio.to_thread(burst)
            return [await first_frame(ws) for _ in range(7)]

    frames = asyncio.run(scenario())

    def fmt(x: Decimal) -> str:
        return f"{x:.8f}"

    first_bid = (fmt(best_bid), depth["bids"][0][1]) if best_bid else ("0.00000000", "0.00000000")
    assert [(f["b"], f["B"], f["a"], f["A"]) for f in frames] == [
        (*first_bid, fmt(ask), "0.01000000"),
        (fmt(low), "0.01000000", fmt(ask), "0.01000000"),
        (fmt(high), "0.02000000", fmt(ask), "0.01000000"),
        (fmt(low), "0.01000000", fmt(ask), "0.01000000"),
        (fmt(low), "0.04000000", fmt(ask), "0.01000000"),
        (fmt(low), "0.01000000", fmt(ask), "0.01000000"),
        (fmt(low), "0.01000000", fmt(ask), "0.02000000"),
    ]
    assert all(f["s"] == "BTCUSDT" for f in frames) and [f["u"] for f in frames] == sorted({f["u"] for f in frames})
