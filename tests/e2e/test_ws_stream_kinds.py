"""Every market stream kind through the edge, each compared with the REST answer it must agree with.

Partial books (`@depth5/10/20`), klines, `@miniTicker`, `@ticker`,
`!miniTicker@arr`, the combined property set live, and a publisher killed
with -9 that resumes from its consumer group. ETHUSDT keeps these books apart
from the other tests'.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
import websockets

from tests.e2e.conftest import castle
from tests.e2e.test_crash_recovery import kill
from tests.e2e.test_spot_trading import binance_client
from tests.e2e.ws import frames_until, ws_url

SYMBOL = "ETHUSDT"


def rest(cloud, path: str):
    with urllib.request.urlopen(f"{cloud.edge_url}{path}", timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def buyer(local_cloud):
    return binance_client(local_cloud, castle(local_cloud, "account", "create", "--fund", "USDT=1000000"))


@pytest.fixture(scope="module")
def seller(local_cloud):
    return binance_client(local_cloud, castle(local_cloud, "account", "create", "--fund", "ETH=1000"))


def limit(client, side: str, price: str, qty: str) -> dict:
    return client.create_order(symbol=SYMBOL, side=side, type="LIMIT", timeInForce="GTC", quantity=qty, price=price)


def cross(buyer, seller, price: str, qty: str) -> None:
    limit(seller, "SELL", price, qty)
    limit(buyer, "BUY", price, qty)


def test_partial_books_are_the_top_of_rest_depth_at_the_same_update_id(local_cloud, buyer, seller):
    async def scenario():
        path = "/stream?streams=ethusdt@depth5@100ms/ethusdt@depth10/ethusdt@depth20@100ms"
        async with websockets.connect(ws_url(local_cloud, path)) as ws:
            for i in range(12):
                await asyncio.to_thread(limit, buyer, "BUY", f"{1500 + i}.25", "0.0100")
                await asyncio.to_thread(limit, seller, "SELL", f"{2600 + i}.75", "0.0200")
            book = await asyncio.to_thread(rest, local_cloud, f"/api/v3/depth?symbol={SYMBOL}&limit=20")

            def settled(fs):
                return {f["stream"] for f in fs if f["data"]["lastUpdateId"] >= book["lastUpdateId"]} == {
                    "ethusdt@depth5@100ms", "ethusdt@depth10", "ethusdt@depth20@100ms"}

            return book, await frames_until(ws, settled)

    book, frames = asyncio.run(scenario())
    for stream, n in (("ethusdt@depth5@100ms", 5), ("ethusdt@depth10", 10), ("ethusdt@depth20@100ms", 20)):
        latest = [f["data"] for f in frames if f["stream"] == stream][-1]
        assert set(latest) == {"lastUpdateId", "bids", "asks"}
        assert latest["lastUpdateId"] == book["lastUpdateId"], "no order came between"
        assert (latest["bids"], latest["asks"]) == (book["bids"][:n], book["asks"][:n])


def test_kline_and_tickers_agree_with_rest_klines_and_the_24h_ticker(local_cloud, buyer, seller):
    streams = ["ethusdt@kline_1m", "ethusdt@miniTicker", "ethusdt@ticker", "!miniTicker@arr"]

    async def scenario():
        async with websockets.connect(ws_url(local_cloud, "/stream?streams=" + "/".join(streams))) as ws:
            for price in ("2000.10", "2000.30", "1999.90"):
                await asyncio.to_thread(cross, buyer, seller, price, "0.0500")
            day = await asyncio.to_thread(rest, local_cloud, f"/api/v3/ticker/24hr?symbol={SYMBOL}")

            def caught_up(fs):
                last = {f["stream"]: f["data"] for f in fs}
                return len(last) == 4 and last["ethusdt@kline_1m"]["k"]["c"] == "1999.90000000" and all(
                    last[s]["c"] == day["lastPrice"] and last[s]["v"] == day["volume"]
                    for s in ("ethusdt@miniTicker", "ethusdt@ticker")) and any(
                    m["s"] == SYMBOL and m["c"] == day["lastPrice"] for m in last["!miniTicker@arr"])

            frames = await frames_until(ws, caught_up, timeout_s=30)
            candle = await asyncio.to_thread(rest, local_cloud, f"/api/v3/klines?symbol={SYMBOL}&interval=1m&limit=1")
            return frames, day, candle[-1]

    frames, day, candle = asyncio.run(scenario())
    last = {f["stream"]: f["data"] for f in frames}
    k = last["ethusdt@kline_1m"]["k"]
    assert (k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"], k["q"], k["n"]) == (
        candle[0], candle[1], candle[2], candle[3], candle[4], candle[5], candle[6], candle[7], candle[8])
    assert (k["i"], k["s"], last["ethusdt@kline_1m"]["e"]) == ("1m", SYMBOL, "kline")
    ticker = last["ethusdt@ticker"]
    assert (ticker["e"], ticker["o"], ticker["h"], ticker["l"], ticker["q"], ticker["n"], ticker["P"]) == (
        "24hrTicker", day["openPrice"], day["highPrice"], day["lowPrice"], day["quoteVolume"], day["count"],
        day["priceChangePercent"])
    mini = last["ethusdt@miniTicker"]
    assert (mini["e"], mini["o"], mini["h"], mini["l"], mini["q"]) == (
        "24hrMiniTicker", day["openPrice"], day["highPrice"], day["lowPrice"], day["quoteVolume"])
    [in_array] = [m for m in last["!miniTicker@arr"] if m["s"] == SYMBOL]
    assert in_array == {**mini, "E": in_array["E"]}


def test_combined_set_live_wraps_the_next_messages_and_unsubscribe_empties_the_list(local_cloud, buyer, seller):
    async def scenario():
        async with websockets.connect(ws_url(local_cloud, "/ws/ethusdt@trade")) as ws:
            requests = [{"method": "SET_PROPERTY", "params": ["combined", True], "id": 1},
                        {"method": "GET_PROPERTY", "params": ["combined"], "id": 2}]
            answers = []
            for request in requests:
                await ws.send(json.dumps(request))
                answers += await frames_until(ws, lambda fs, rid=request["id"]: any(f.get("id") == rid for f in fs))
            await asyncio.to_thread(cross, buyer, seller, "2100.00", "0.0100")
            wrapped = await frames_until(ws, lambda fs: any(f.get("stream") == "ethusdt@trade" for f in fs))
            await ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["ethusdt@trade"], "id": 3}))
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 4}))
            listed = await frames_until(ws, lambda fs: any(f.get("id") == 4 for f in fs))
            return answers, wrapped, listed

    answers, wrapped, listed = asyncio.run(scenario())
    assert [a for a in answers if "id" in a] == [{"result": None, "id": 1}, {"result": True, "id": 2}]
    trade = next(f for f in wrapped if f.get("stream") == "ethusdt@trade")
    assert trade["data"]["e"] == "trade" and trade["data"]["p"] == "2100.00000000"
    assert {"result": None, "id": 3} in listed and {"result": [], "id": 4} in listed


def test_a_killed_publisher_resumes_and_the_trades_made_meanwhile_arrive_in_order(local_cloud, buyer, seller):
    async def scenario():
        async with websockets.connect(ws_url(local_cloud, "/ws/ethusdt@trade")) as ws:
            await asyncio.to_thread(cross, buyer, seller, "2200.00", "0.0100")
            first = await frames_until(ws, lambda fs: any(f.get("e") == "trade" for f in fs))
            await asyncio.to_thread(kill, local_cloud, "publisher")
            await asyncio.to_thread(cross, buyer, seller, "2200.01", "0.0100")
            await asyncio.to_thread(cross, buyer, seller, "2200.02", "0.0100")
            rest_of = await frames_until(ws, lambda fs: sum(f.get("e") == "trade" for f in fs) >= 2, timeout_s=30)
            return [f for f in first + rest_of if f.get("e") == "trade"]

    trades = asyncio.run(scenario())
    assert [t["p"] for t in trades] == ["2200.00000000", "2200.01000000", "2200.02000000"]
    ids = [t["t"] for t in trades]
    assert ids == list(range(ids[0], ids[0] + 3)), "no trade lost, none twice, in order"
