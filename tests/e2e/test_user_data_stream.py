"""The user data stream end to end: a listenKey from python-binance, reports through the edge's `/ws/<listenKey>`.

An order is placed, partly filled by another account and canceled; every
`executionReport` is checked against `GET /api/v3/order` and `myTrades`, and
the `outboundAccountPosition` against `GET /api/v3/account`. ETHBTC keeps
these orders apart from the other tests' books.
"""

from __future__ import annotations

import asyncio

import pytest
import websockets

from tests.e2e.conftest import castle
from tests.e2e.test_spot_trading import binance_client
from tests.e2e.ws import frames_until, ws_url

SYMBOL = "ETHBTC"


def reports(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f.get("e") == "executionReport"]


@pytest.fixture(scope="module")
def trader(local_cloud) -> dict:
    return castle(local_cloud, "account", "create", "--fund", "BTC=1")


@pytest.fixture(scope="module")
def counterparty(local_cloud) -> dict:
    return castle(local_cloud, "account", "create", "--fund", "ETH=10")


def test_an_order_partly_filled_then_canceled_reports_every_change_as_the_rest_api_sees_it(
        local_cloud, trader, counterparty):
    me, other = binance_client(local_cloud, trader), binance_client(local_cloud, counterparty)
    listen_key = me.stream_get_listen_key()

    async def scenario():
        async with websockets.connect(ws_url(local_cloud, f"/ws/{listen_key}")) as ws:
            order = await asyncio.to_thread(me.create_order, symbol=SYMBOL, side="BUY", type="LIMIT",
                                            timeInForce="GTC", quantity="1.000", price="0.05000",
                                            newClientOrderId="udsBuy1")
            await asyncio.to_thread(other.create_order, symbol=SYMBOL, side="SELL", type="LIMIT",
                                    timeInForce="GTC", quantity="0.400", price="0.05000")
            frames = await frames_until(ws, lambda fs: any(r["x"] == "TRADE" for r in reports(fs)))
            await asyncio.to_thread(me.cancel_order, symbol=SYMBOL, orderId=order["orderId"])
            await frames_until(ws, lambda fs: any(r["x"] == "CANCELED" for r in reports(fs))
                               and fs[-1].get("e") == "outboundAccountPosition", frames=frames)
            return order, frames

    order, frames = asyncio.run(scenario())
    mine = [r for r in reports(frames) if r["i"] == order["orderId"]]
    assert [(r["x"], r["X"]) for r in mine] == [("NEW", "NEW"), ("TRADE", "PARTIALLY_FILLED"),
                                                ("CANCELED", "CANCELED")]

    rest = me.get_order(symbol=SYMBOL, orderId=order["orderId"])
    final = mine[-1]
    assert (final["s"], final["i"], final["C"], final["S"], final["o"], final["f"], final["V"]) == (
        rest["symbol"], rest["orderId"], rest["clientOrderId"], rest["side"], rest["type"], rest["timeInForce"],
        rest["selfTradePreventionMode"])
    assert (final["q"], final["p"], final["P"], final["F"], final["z"], final["Z"], final["Q"]) == (
        rest["origQty"], rest["price"], rest["stopPrice"], rest["icebergQty"], rest["executedQty"],
        rest["cummulativeQuoteQty"], rest["origQuoteOrderQty"])
    assert (final["O"], final["W"], final["T"], final["w"]) == (rest["time"], rest["workingTime"], rest["updateTime"],
                                                                 rest["isWorking"])
    assert mine[0]["c"] == "udsBuy1" and mine[0]["w"] is True

    [trade] = me.get_my_trades(symbol=SYMBOL)
    fill = mine[1]
    assert (fill["t"], fill["L"], fill["l"], fill["Y"], fill["n"], fill["N"], fill["m"], fill["T"]) == (
        trade["id"], trade["price"], trade["qty"], trade["quoteQty"], trade["commission"], trade["commissionAsset"],
        trade["isMaker"], trade["time"])
    assert fill["z"] == "0.40000000" and fill["Z"] == "0.02000000"

    balances = {b["asset"]: (b["free"], b["locked"]) for b in me.get_account()["balances"]}
    position = {b["a"]: (b["f"], b["l"]) for b in frames[-1]["B"]}
    assert position == {asset: balances[asset] for asset in position} and "BTC" in position


def test_a_deposit_arrives_as_balance_update_then_position(local_cloud, trader):
    listen_key = binance_client(local_cloud, trader).stream_get_listen_key()

    async def scenario():
        async with websockets.connect(ws_url(local_cloud, f"/stream?streams={listen_key}")) as ws:
            await asyncio.to_thread(castle, local_cloud, "account", "fund", "--account", str(trader["accountId"]),
                                    "--fund", "ETH=0.25")
            return await frames_until(ws, lambda fs: any(f["data"]["e"] == "outboundAccountPosition" for f in fs))

    frames = asyncio.run(scenario())
    assert {f["stream"] for f in frames} == {listen_key}
    update = frames[0]["data"]
    assert (update["e"], update["a"], update["d"]) == ("balanceUpdate", "ETH", "0.25000000")
    assert update["T"] <= update["E"]
