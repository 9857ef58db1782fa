"""functions/spot_api: each event fixture through the Lambda handler, checked against Binance's shapes.

The fixtures in events/ are the same files `sam local invoke SpotApiFunction -e ...` takes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from functions.spot_api import app
from tests.lambda_context import FakeLambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"


def invoke(fixture: str, **query: str) -> tuple[int, dict]:
    event = json.loads((EVENTS / f"{fixture}.json").read_text())
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    response = app.lambda_handler(event, FakeLambdaContext())
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]
    return response["statusCode"], json.loads(response["body"])


def test_ping_answers_an_empty_object():
    assert invoke("spot_ping") == (200, {})


def test_time_answers_the_server_clock_in_milliseconds():
    before = time.time_ns() // 1_000_000
    status, body = invoke("spot_time")
    assert status == 200 and list(body) == ["serverTime"]
    assert before <= body["serverTime"] <= time.time_ns() // 1_000_000


def test_exchange_info_lists_every_symbol_with_its_filters():
    status, body = invoke("spot_exchange_info")
    assert status == 200
    assert {"timezone", "serverTime", "rateLimits", "exchangeFilters", "symbols"} <= set(body)
    assert [s["symbol"] for s in body["symbols"]] == list(app.SYMBOLS)
    btc = body["symbols"][0]
    assert btc["defaultSelfTradePreventionMode"] == "EXPIRE_MAKER"
    price_filter = next(f for f in btc["filters"] if f["filterType"] == "PRICE_FILTER")
    assert price_filter["tickSize"] == "0.01000000"


def test_exchange_info_for_one_symbol():
    status, body = invoke("spot_exchange_info_symbol")
    assert status == 200 and [s["symbol"] for s in body["symbols"]] == ["BTCUSDT"]


def test_exchange_info_for_a_json_list_of_symbols():
    status, body = invoke("spot_exchange_info_symbols")
    assert status == 200 and [s["symbol"] for s in body["symbols"]] == ["BTCUSDT", "ETHBTC"]


def test_exchange_info_with_an_unknown_symbol_is_binance_invalid_symbol():
    assert invoke("spot_exchange_info_bad_symbol") == (400, {"code": -1121, "msg": "Invalid symbol."})


def test_an_unknown_symbol_inside_the_list_is_invalid_symbol_too():
    assert invoke("spot_exchange_info", symbols='["BTCUSDT","NOPE"]') == (400, {"code": -1121, "msg": "Invalid symbol."})


@pytest.mark.parametrize("symbols", ["BTCUSDT", "[]", '{"a": 1}', "[1]"])
def test_a_symbols_value_that_is_not_a_json_list_of_names_is_illegal(symbols):
    status, body = invoke("spot_exchange_info", symbols=symbols)
    assert status == 400 and body["code"] == -1100 and "'symbols'" in body["msg"]


def test_symbol_and_symbols_together_are_refused():
    status, body = invoke("spot_exchange_info", symbol="BTCUSDT", symbols='["BTCUSDT"]')
    assert (status, body["code"]) == (400, -1106)


def test_an_unknown_route_is_a_binance_error_with_404_not_a_500():
    status, body = invoke("spot_unknown_route")
    assert status == 404 and set(body) == {"code", "msg"} and body["code"] < 0


def test_each_request_logs_one_structured_line(caplog):
    caplog.set_level("INFO")
    invoke("spot_ping")
    lines = [(r.getMessage(), r.status, r.path) for r in caplog.records if r.name == app.logger.name]
    assert lines == [("request", 200, "/api/v3/ping")]


def test_the_openapi_document_is_3_1_and_lists_every_route_but_its_own():
    status, doc = invoke("spot_openapi")
    assert status == 200 and doc["openapi"].startswith("3.1") and doc["info"]["title"] == "Castle"
    assert {"/api/v3/ping", "/api/v3/order", "/api/v3/account", "/api/v3/depth"} <= set(doc["paths"])
    assert "/openapi.json" not in doc["paths"]
