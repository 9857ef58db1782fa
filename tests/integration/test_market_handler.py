"""functions/spot_api market routes: each event fixture through the Lambda handler, on a real Redis.

The engine and the projector run in-process on the test's redis-server, so the
handler reads exactly what the matching container writes. The fixtures in
events/ are the files `sam local invoke SpotApiFunction -e ...` takes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from castle.adapters.redis_streams import RedisCommandStream
from castle.codec import command_to_dict
from castle.orders import PlaceOrder, Side
from matching_container.engine import bootstrap as engine_bootstrap
from matching_container.marketdata import Projector
from matching_container.settings import EngineSettings
from tests.lambda_context import FakeLambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"
SYMBOL = "BTCUSDT"
P = 3_000_000
MINUTE = 60_000
BUY, SELL = Side.BUY, Side.SELL

pytestmark = pytest.mark.integration


@pytest.fixture
def api(redis_url, redis_client, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    from functions.spot_api import app


    def invoke(fixture: str, **query: str) -> tuple[int, dict | list]:
        event = json.loads((EVENTS / f"{fixture}.json").read_text())
        if query:
            params = {**(event["queryStringParameters"] or {}), **query}
            params = {k: v for k, v in params.items() if v is not None}
            event["queryStringParameters"] = params or None
            event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()} or None
        response = app.lambda_handler(event, FakeLambdaContext())
        return response["statusCode"], json.loads(response["body"])

    yield invoke


@pytest.fixture
def market(redis_url, redis_client, api):
    """Four fills a minute ago and the book they left, projected; `now` is the minute after."""
    from functions.spot_api import market as market_module

    now = market_module.now_ms()
    t = now // MINUTE * MINUTE - MINUTE  # the previous minute's open
    engine = engine_bootstrap(EngineSettings(redis_url=redis_url, symbols=(SYMBOL,), block_ms=10), redis_client)
    engine.recover()
    commands = RedisCommandStream(redis_client)
    orders = [
        (SELL, P, 100, 2, t), (SELL, P, 50, 2, t), (SELL, P + 100, 200, 2, t), (BUY, P + 100, 180, 3, t + 1_000),
        (BUY, P + 50, 10, 1, t + 2_000), (SELL, P + 50, 10, 2, t + 3_000), (BUY, P - 100, 70, 1, t + 4_000),
    ]
    for order_id, (side, price, qty, account, ts) in enumerate(orders, start=1):
        commands.send(SYMBOL, command_to_dict(PlaceOrder(order_id, account, side, price=price, qty=qty, ts=ts)))
    while engine.step():
        pass
    projector = Projector(redis_client, [SYMBOL], block_ms=10)
    projector.recover()
    projector.catch_up()
    return {"t": t, "seq": engine.engines[SYMBOL].seq}


def test_depth_is_the_engine_book_with_its_last_update_id(api, market):
    status, body = api("spot_depth")
    assert status == 200
    assert body == {"lastUpdateId": market["seq"], "bids": [["29999.00000000", "0.00070000"]],
                    "asks": [["30001.00000000", "0.00170000"]]}


def test_recent_trades(api, market):
    status, body = api("spot_trades")
    assert status == 200 and [(t["id"], t["price"], t["qty"], t["isBuyerMaker"]) for t in body] == [
        (1, "30000.00000000", "0.00100000", False),
        (2, "30000.00000000", "0.00050000", False),
        (3, "30001.00000000", "0.00030000", False),
        (4, "30000.50000000", "0.00010000", True),
    ]
    assert body[2]["quoteQty"] == "9.00030000" and body[3]["time"] == market["t"] + 3_000


def test_agg_trades_from_an_id(api, market):
    status, body = api("spot_agg_trades")
    assert status == 200 and body == [
        {"a": 2, "p": "30001.00000000", "q": "0.00030000", "f": 3, "l": 3, "T": market["t"] + 1_000, "m": False,
         "M": True},
        {"a": 3, "p": "30000.50000000", "q": "0.00010000", "f": 4, "l": 4, "T": market["t"] + 3_000, "m": True,
         "M": True},
    ]


def test_klines_end_with_the_current_candle(api, market):
    t = market["t"]
    status, body = api("spot_klines")
    assert status == 200 and len(body) == 2  # nothing traded before t: no candle
    assert body[0] == [t, "30000.00000000", "30001.00000000", "30000.00000000", "30000.50000000", "0.00190000",
                       t + 59_999, "57.00035000", 4, "0.00180000", "54.00030000", "0"]
    # The current minute: no trade yet, flat at the last close.
    assert body[1] == [t + MINUTE, "30000.50000000", "30000.50000000", "30000.50000000", "30000.50000000",
                       "0.00000000", t + 2 * MINUTE - 1, "0.00000000", 0, "0.00000000", "0.00000000", "0"]


def test_klines_from_a_start_time(api, market):
    status, body = api("spot_klines", startTime=str(market["t"] + 1), limit="5")
    assert status == 200 and [row[0] for row in body] == [market["t"] + MINUTE]


def test_ui_klines_match_klines(api, market):
    assert api("spot_ui_klines") == api("spot_klines", interval="1h", limit=None)


def test_klines_in_a_time_zone_come_from_finer_candles(api, market):
    status, body = api("spot_klines", interval="1d", timeZone="5:45", limit="1")
    assert status == 200 and body[0][5] == "0.00190000" and body[0][8] == 4
    assert (body[0][0] + 20_700_000) % 86_400_000 == 0


def test_an_unknown_interval_is_invalid_interval(api, market):
    assert api("spot_klines_bad_interval") == (400, {"code": -1120, "msg": "Invalid interval."})


def test_avg_price_over_five_minutes(api, market):
    status, body = api("spot_avg_price")
    assert status == 200 and body == {"mins": 5, "price": "30000.18421053", "closeTime": market["t"] + 3_000}


def test_ticker_24hr_full(api, market):
    status, body = api("spot_ticker_24hr")
    assert status == 200
    assert {k: body[k] for k in ("priceChange", "priceChangePercent", "weightedAvgPrice", "lastPrice", "lastQty",
                                 "bidPrice", "bidQty", "askPrice", "askQty", "volume", "quoteVolume", "firstId",
                                 "lastId", "count")} == {
        "priceChange": "0.50000000", "priceChangePercent": "0.002", "weightedAvgPrice": "30000.18421053",
        "lastPrice": "30000.50000000", "lastQty": "0.00010000", "bidPrice": "29999.00000000",
        "bidQty": "0.00070000", "askPrice": "30001.00000000", "askQty": "0.00170000", "volume": "0.00190000",
        "quoteVolume": "57.00035000", "firstId": 1, "lastId": 4, "count": 4,
    }
    assert body["closeTime"] - body["openTime"] >= 86_400_000


def test_ticker_24hr_mini_for_a_list_of_symbols(api, market):
    status, body = api("spot_ticker_24hr_mini_symbols")
    assert status == 200 and [t["symbol"] for t in body] == ["BTCUSDT", "ETHUSDT"]
    assert "priceChange" not in body[0] and body[0]["count"] == 4
    assert (body[1]["count"], body[1]["firstId"], body[1]["lastPrice"]) == (0, -1, "0.00000000")


def test_ticker_price_for_every_symbol(api, market):
    status, body = api("spot_ticker_price")
    assert status == 200 and body[0] == {"symbol": "BTCUSDT", "price": "30000.50000000"}
    assert len(body) == 4


def test_book_ticker(api, market):
    assert api("spot_book_ticker") == (200, {"symbol": "BTCUSDT", "bidPrice": "29999.00000000",
                                             "bidQty": "0.00070000", "askPrice": "30001.00000000",
                                             "askQty": "0.00170000"})


@pytest.mark.parametrize(
    ("fixture", "query", "error"),
    [
        ("spot_depth", {"symbol": "NOPE"}, {"code": -1121, "msg": "Invalid symbol."}),
        ("spot_trades", {"symbol": None},
         {"code": -1102, "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."}),
        ("spot_klines", {"interval": None},
         {"code": -1102, "msg": "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."}),
        ("spot_depth", {"limit": "ten"},
         {"code": -1100, "msg": "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'."}),
        ("spot_trades", {"limit": "0"}, {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}),
        ("spot_ticker_24hr", {"type": "HUGE"}, {"code": -1139, "msg": "Invalid ticker type."}),
        ("spot_agg_trades", {"startTime": "0", "endTime": "7200000"},
         {"code": -1127, "msg": "More than 1 hours between startTime and endTime."}),
        ("spot_ticker_price", {"symbols": "BTCUSDT"},
         {"code": -1100, "msg": "Illegal characters found in parameter 'symbols'; legal range is "
                                "'^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'."}),
    ],
)
def test_bad_input_gets_binance_errors(api, market, fixture, query, error):
    assert api(fixture, **query) == (400, error)


def test_limits_above_the_maximum_are_capped(api, market):
    status, body = api("spot_trades", limit="5000")
    assert status == 200 and len(body) == 4
