"""Market data on the local cloud: orders into the engine's journal, Binance's views out through the edge.

Orders go straight into the command stream (the engine's journal), as the
gateway writes them; the engine, the market-data projector and the spot
function are the ones `make up` runs. BNBUSDT keeps these trades apart from
the other end-to-end tests.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from castle.adapters.redis_streams import RedisCommandStream, checkpoint_key, connect
from castle.codec import command_to_dict
from castle.orders import PlaceOrder, Side
from castle.symbols import default_symbols
from tests.e2e.conftest import eventually

SYMBOL = "BNBUSDT"
BNB = default_symbols()[SYMBOL]
P = 30_000  # 300.00 USDT
BUY, SELL = Side.BUY, Side.SELL


def get(local_cloud, path: str):
    with urllib.request.urlopen(f"{local_cloud.edge_url}{path}", timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def traded(local_cloud):
    """Three sells, one buy that sweeps two prices, one resting bid; the engine's replies and seq."""
    client = connect(local_cloud.redis_url)
    journal = RedisCommandStream(client)
    before = get(local_cloud, f"/api/v3/trades?symbol={SYMBOL}&limit=1000")
    now = time.time_ns() // 1_000_000
    base_id = 9_100_000_000 + now % 1_000_000 * 10
    orders = [(SELL, P, 100, 900_001), (SELL, P, 50, 900_001), (SELL, P + 10, 200, 900_001),
              (BUY, P + 10, 180, 900_002), (BUY, P - 10, 70, 900_003)]
    replies = []
    for i, (side, price, qty, account) in enumerate(orders):
        command = PlaceOrder(base_id + i, account, side, price=price, qty=qty, ts=now)
        reply = journal.call(SYMBOL, command_to_dict(command), timeout_s=10)
        assert reply is not None and "error" not in reply, reply
        replies.append(reply)
    fills = [e for r in replies for e in r["events"] if e["type"] == "TradeExecuted"]
    seq = int(client.hget(checkpoint_key(SYMBOL), "seq"))
    return {"fills": fills, "seq": seq, "now": now, "before": before}


def test_depth_through_the_edge_is_the_engine_book(local_cloud, traded):
    body = get(local_cloud, f"/api/v3/depth?symbol={SYMBOL}&limit=5")
    assert body["lastUpdateId"] == traded["seq"]
    assert ["300.10000000", "0.17000000"] in body["asks"] and ["299.90000000", "0.07000000"] in body["bids"]


def test_trades_are_the_engine_fills(local_cloud, traded):
    fills = traded["fills"]
    ids = [f["trade_id"] for f in fills]
    body = eventually(lambda: (lambda got: got if len(got) == 3 else None)(
        [t for t in get(local_cloud, f"/api/v3/trades?symbol={SYMBOL}") if t["id"] in ids]))
    assert [(t["price"], t["qty"], t["quoteQty"], t["isBuyerMaker"]) for t in body] == [
        ("300.00000000", "0.10000000", "30.00000000", False),
        ("300.00000000", "0.05000000", "15.00000000", False),
        ("300.10000000", "0.03000000", "9.00300000", False),
    ]
    assert [t["time"] for t in body] == [traded["now"]] * 3


def test_agg_trades_group_the_taker_fills_by_price(local_cloud, traded):
    first = traded["fills"][0]["trade_id"]
    body = eventually(lambda: (lambda got: got if got and got[-1]["l"] == first + 2 else None)(
        [a for a in get(local_cloud, f"/api/v3/aggTrades?symbol={SYMBOL}") if a["f"] >= first]))
    assert [(a["p"], a["q"], a["l"] - a["f"] + 1, a["m"]) for a in body] == [
        ("300.00000000", "0.15000000", 2, False), ("300.10000000", "0.03000000", 1, False)]
    again = get(local_cloud, f"/api/v3/aggTrades?symbol={SYMBOL}&fromId={body[0]['a']}&limit=1")
    assert again == body[:1]


def test_the_minute_kline_holds_the_fills(local_cloud, traded):
    minute = traded["now"] // 60_000 * 60_000
    path = f"/api/v3/klines?symbol={SYMBOL}&interval=1m&startTime={minute}&limit=1"
    row = eventually(lambda: (lambda got: got[0] if got and got[0][8] >= 3 else None)(get(local_cloud, path)))
    assert row[0] == minute and row[6] == minute + 59_999
    assert (row[1], row[2], row[3]) == ("300.00000000", "300.10000000", "300.00000000") or row[8] > 3
    if row[8] == 3:  # only our fills in this minute
        assert row[4:6] == ["300.10000000", "0.18000000"] and row[7] == "54.00300000"


def test_the_24h_ticker_and_avg_price_count_the_fills(local_cloud, traded):
    ids = [f["trade_id"] for f in traded["fills"]]
    ticker = eventually(lambda: (lambda t: t if t["lastId"] >= ids[-1] else None)(
        get(local_cloud, f"/api/v3/ticker/24hr?symbol={SYMBOL}")))
    assert ticker["lastPrice"] == "300.10000000" and ticker["lastQty"] == "0.03000000"
    assert (ticker["bidPrice"], ticker["askPrice"]) == ("299.90000000", "300.10000000")
    assert ticker["firstId"] <= ids[0] and ticker["count"] >= 3
    assert get(local_cloud, f"/api/v3/ticker/price?symbol={SYMBOL}") == {"symbol": SYMBOL, "price": "300.10000000"}
    avg = get(local_cloud, f"/api/v3/avgPrice?symbol={SYMBOL}")
    assert avg["mins"] == 5 and avg["closeTime"] == traded["now"]


def test_an_unknown_interval_through_the_edge(local_cloud):
    request = urllib.request.Request(f"{local_cloud.edge_url}/api/v3/klines?symbol={SYMBOL}&interval=7m")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=30)
    assert e.value.code == 400 and json.loads(e.value.read()) == {"code": -1120, "msg": "Invalid interval."}
