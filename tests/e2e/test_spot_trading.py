"""Spot trading end to end, as a user would: python-binance and ccxt pointed at the edge.

Two accounts made with the `castle` CLI trade with each other through the
deployed functions, the matching engine and the settlement writer; balances,
orders and trades are then read back through the same clients.
"""

from __future__ import annotations

import time

import ccxt
import pytest
from binance.client import Client
from binance.exceptions import BinanceAPIException

from tests.e2e.conftest import castle, eventually



def binance_client(cloud, account: dict) -> Client:
    client = Client(account["apiKey"], account["secretKey"], ping=False)
    client.API_URL = f"{cloud.edge_url}/api"
    return client


def ccxt_client(cloud, account: dict, exchange_class=ccxt.binance) -> ccxt.binance:
    """ccxt's binance (or ccxt.pro's) with every REST host pointed at the edge."""
    exchange = exchange_class({
        "apiKey": account["apiKey"],
        "secret": account["secretKey"],
        "enableRateLimit": False,
        "options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                    "fetchMargins": False, "adjustForTimeDifference": False},
    })
    # Only the base URL changes: every Binance host becomes the edge, paths stay as ccxt builds them.
    for key, url in list(exchange.urls["api"].items()):
        if isinstance(url, str) and url.startswith("https://"):
            exchange.urls["api"][key] = cloud.edge_url + "/" + url.split("/", 3)[3]
    return exchange


@pytest.fixture(scope="module")
def alice(local_cloud) -> dict:
    return castle(local_cloud, "account", "create", "--fund", "USDT=100000")


@pytest.fixture(scope="module")
def bob(local_cloud) -> dict:
    return castle(local_cloud, "account", "create", "--fund", "BTC=5")


def free(client: Client, asset: str) -> str:
    return next((b["free"] for b in client.get_account()["balances"] if b["asset"] == asset), "0.00000000")


def test_python_binance_places_queries_and_cancels_a_limit_order(local_cloud, alice):
    client = binance_client(local_cloud, alice)
    order = client.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                quantity="0.01", price="20000")
    assert order["status"] == "NEW" and order["origQty"] == "0.01000000"
    assert client.get_order(symbol="BTCUSDT", orderId=order["orderId"])["status"] == "NEW"
    assert [o["orderId"] for o in client.get_open_orders(symbol="BTCUSDT")] == [order["orderId"]]
    assert client.get_account()["balances"]  # and the hold shows as locked
    locked = next(b["locked"] for b in client.get_account()["balances"] if b["asset"] == "USDT")
    assert locked == "200.00000000"
    canceled = client.cancel_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert canceled["status"] == "CANCELED"
    eventually(lambda: free(client, "USDT") == "100000.00000000")


def test_two_accounts_trade_and_settle_to_the_unit(local_cloud, alice, bob):
    buyer, seller = binance_client(local_cloud, alice), binance_client(local_cloud, bob)
    usdt_before = free(buyer, "USDT")
    sell = seller.create_order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                               quantity="0.02", price="30000")
    buy = buyer.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                             quantity="0.02", price="30000", newOrderRespType="FULL")
    assert buy["status"] == "FILLED"
    assert buy["fills"][0]["price"] == "30000.00000000" and buy["fills"][0]["commissionAsset"] == "BTC"
    # 0.02 BTC less the 0.1 % taker fee; the seller gets 600 USDT less its 0.1 % maker fee.
    eventually(lambda: free(buyer, "BTC") == "0.01998000")
    assert float(usdt_before) - float(free(buyer, "USDT")) == 600.0
    eventually(lambda: free(seller, "USDT") == "599.40000000")
    assert seller.get_order(symbol="BTCUSDT", orderId=sell["orderId"])["status"] == "FILLED"
    [trade] = [t for t in buyer.get_my_trades(symbol="BTCUSDT") if t["orderId"] == buy["orderId"]]
    assert (trade["isBuyer"], trade["isMaker"], trade["qty"], trade["commission"]) == (
        True, False, "0.02000000", "0.00002000")


def test_bad_inputs_get_binance_errors_and_change_no_balance(local_cloud, alice):
    client = binance_client(local_cloud, alice)
    before = free(client, "USDT")
    cases = [
        (dict(symbol="NOPEUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="1", price="1"), -1121),
        (dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.000015", price="30000"),
         -1013),
        (dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="10", price="30000"), -2010),
        (dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price="30000.001"),
         -1013),
    ]
    for params, code in cases:
        with pytest.raises(BinanceAPIException) as info:
            client.create_order(**params)
        assert info.value.code == code, params
    with pytest.raises(BinanceAPIException) as info:
        client.cancel_order(symbol="BTCUSDT", orderId=987654)
    assert (info.value.code, info.value.message) == (-2011, "Unknown order sent.")
    assert free(client, "USDT") == before


def test_ccxt_loads_markets_reads_the_book_and_trades(local_cloud, alice, bob):
    maker, taker = ccxt_client(local_cloud, bob), ccxt_client(local_cloud, alice)
    markets = taker.load_markets()
    assert "BTC/USDT" in markets
    btc_before = taker.fetch_balance()["BTC"]["free"] if "BTC" in taker.fetch_balance() else 0.0
    maker.create_limit_sell_order("BTC/USDT", 0.01, 31000)
    book = eventually(lambda: (b := taker.fetch_order_book("BTC/USDT")) and b["asks"] and b)
    assert book["asks"][0][0] == 31000.0
    order = taker.create_limit_buy_order("BTC/USDT", 0.01, 31000)
    assert order["status"] == "closed" and order["filled"] == 0.01
    # 0.01 BTC less the 0.1 % taker fee.
    balance = eventually(lambda: (b := taker.fetch_balance()) and round(b["BTC"]["free"] - btc_before, 8) == 0.00999
                         and b)
    assert balance["USDT"]["used"] == 0.0
    assert any(t["order"] == order["id"] for t in taker.fetch_my_trades("BTC/USDT"))


def test_ccxt_raises_its_exceptions_for_bad_inputs(local_cloud, alice):
    exchange = ccxt_client(local_cloud, alice)
    exchange.load_markets()
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_limit_buy_order("BTC/USDT", 100, 30000)
    with pytest.raises(ccxt.InvalidOrder):
        exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 30000, {"timeInForce": "GTC",
                                                                         "quantity": "0.000015"})
    with pytest.raises(ccxt.BadSymbol):
        exchange.publicGetDepth({"symbol": "NOPEUSDT"})
    time.sleep(0)
